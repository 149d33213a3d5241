# gam-viewer: `make run` opens the viewer on the embedded demo, `make test` runs the tests.
# Both create .venv with pip when it is missing and install everything they need.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.gam-viewer-installed
# The torch pair we test with (a CUDA build that also runs on the CPU).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: run test test-fast bench bench-wave screenshot train-deps system-deps clean-venv

$(STAMP): pyproject.toml requirements/ultralytics-test.txt requirements/ultralytics-deps.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install $(TORCH_SPEC)
	$(PIP) install -e ".[test]"
	$(PIP) install -r requirements/ultralytics-deps.txt
	$(PIP) install --no-deps -r requirements/ultralytics-test.txt
	@$(PY) scripts/check_env.py
	@touch $(STAMP)

run: $(STAMP)
	$(PY) main.py

# scripts/run_tests.py runs pytest; only if the process itself crashes (a signal, not a failed
# test) it says so and runs the suite once more (a guard; the Qt-thread crash it was added for is fixed).
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false $(PY) scripts/run_tests.py -q

test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false $(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/gam_block.py --iters 40
	$(PY) benchmarks/engine.py --frames 30
	$(PY) benchmarks/attention_views.py
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/viewer.py --no-attention --out benchmarks/results/viewer-cpu.json
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/viewer.py --out benchmarks/results/viewer-attention-cpu.json
	$(MAKE) bench-wave

# The 2026-11-28 rows of docs/BENCHMARKS.md ("This wave, on a quiet machine"), the same commands.
# (The YOLOv7 row needs a YOLOv7 checkout: python benchmarks/engine.py --yolov7 PATH --frames 20 --warmup 3;
# the start-up "before" column an old checkout: python benchmarks/startup.py --tree PATH.)
bench-wave: $(STAMP)
	$(PY) benchmarks/startup.py --repeat 5 --out benchmarks/results/startup-cpu.json
	YOLO_OFFLINE=1 $(PY) benchmarks/engine.py --backends --frames 30 --warmup 5 --out benchmarks/results/engine-backends-cpu.json
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/viewer.py --backend onnxruntime --no-attention --out benchmarks/results/viewer-onnxruntime-cpu.json
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/viewer.py --backend torch --no-attention --out benchmarks/results/viewer-torch-cpu.json
	$(PY) benchmarks/figure_grid.py --iters 3
	test -f /tmp/synth_eval/data.yaml || $(PY) -m gam_viewer data synth --out /tmp/synth_eval --n 256 --imgsz 320 --seed 2026 --val-fraction 0.5
	$(PY) benchmarks/eval.py --model resources/demo/gam-yolov5n.safetensors --baseline resources/demo/yolov5n.safetensors --data /tmp/synth_eval/data.yaml --images 128 --rounds 2 --skip-memory --out benchmarks/results/eval-overhead-quiet-128.json
	$(PY) benchmarks/eval.py --model ../shared/weights/yolov5n.pt --baseline ../shared/weights/yolov5n.pt --data ../shared/datasets/coco128/data.yaml --images 128 --rounds 1 --skip-memory --out benchmarks/results/eval-overhead-quiet-coco128.json

# The `train` extra for `gam-viewer train` (make test installs the same already):
# Ultralytics goes in with --no-deps, its opencv-python would break the window.
train-deps: $(STAMP)
	$(PIP) install -e ".[train]"
	$(PIP) install --no-deps -r requirements/ultralytics-test.txt
	@$(PY) scripts/check_env.py

# A screenshot of the real window on the demo, under Xvfb (needs `make system-deps`).
screenshot: $(STAMP)
	$(PY) scripts/screenshot.py

# Debian/Ubuntu packages for real windows, Xvfb screenshots and camera names (needs root).
system-deps:
	apt-get install -y --no-install-recommends libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
	  libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
	  libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libpulse0 xvfb

clean-venv:
	rm -rf $(VENV)
