# gam-viewer: `make run` opens the viewer on the embedded demo, `make test` runs the tests.
# Both create .venv with pip when it is missing and install everything they need.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.gam-viewer-installed
# The torch pair we test with (a CUDA build that also runs on the CPU).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: run test test-fast bench screenshot train-deps system-deps clean-venv

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
# test) it says so and runs the suite once more (a rare Qt-thread crash, root cause open).
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
