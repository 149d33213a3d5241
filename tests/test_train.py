"""The training extra: GAM in Ultralytics YAMLs, weight transfer, the DDP launch file, a round trip.

Ultralytics is optional (the ``train`` extra); without it these tests skip. Tests that build
models through Ultralytics need it imported with an offline environment; the fixtures set
one up without touching the user's home.
"""

import json
import os
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import pytest
import torch


def _needs_ultralytics():
    pytest.importorskip("ultralytics", reason="the train extra (ultralytics) is not installed")

from shared_data import SHARED  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
YOLOV5N = SHARED / "weights" / "yolov5n.pt"
SAMPLE = ROOT / "resources" / "samples" / "synth_01.jpg"


def _build(ul, name, nc=6, rename=None):
    """An Ultralytics DetectionModel from a shipped name (GAM rows optionally renamed)."""
    from ultralytics.nn.tasks import DetectionModel

    from gam_viewer.models import configs

    path, scale = configs.find_with_scale(name)
    d = ul.load_model_yaml(str(path), scale)
    if rename:
        for row in d["backbone"] + d["head"]:
            if row[2] == "GAM":
                row[2] = rename
    torch.manual_seed(0)
    return DetectionModel(d, nc=nc, verbose=False)


def _gam_inputs(model, imgsz=64):
    """Channel count actually flowing into each GAM block (forward hooks), by layer index."""
    from gam_viewer.nn import GAM

    seen = {}
    hooks = []
    for i, layer in enumerate(model.model):
        if isinstance(layer, GAM):
            hooks.append(layer.register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(i, a[0].shape[1])))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, imgsz, imgsz))
    for h in hooks:
        h.remove()
    return seen


# ----------------------------------------------------------------------------- registration
@pytest.mark.parametrize("row_name, variant", [("GAM", "paper"), ("GAM_Attention", "community"),
                                               ("GAMAttention", "community")])
def test_gam_registered_by_every_name(ul, row_name, variant):
    from gam_viewer.nn import GAM
    from gam_viewer.train.register import is_registered

    assert is_registered()
    model = _build(ul, "yolov8n-gam-head", rename=row_name)
    blocks = [(i, m) for i, m in enumerate(model.model) if isinstance(m, GAM)]
    assert [i for i, _ in blocks] == [16, 20, 24]
    assert all(type(m) is GAM and m.variant == variant for _, m in blocks)
    # the pickled class is gam-viewer's own, which its safe reader accepts
    assert all(f"{type(m).__module__}.{type(m).__name__}" == "gam_viewer.nn.gam.GAM" for _, m in blocks)
    # the model's YAML keeps the rows as written
    rows = model.yaml["backbone"] + model.yaml["head"]
    assert [rows[i][2] for i, _ in blocks] == [row_name] * 3
    assert all(rows[i][3] == [] for i, _ in blocks)


@pytest.mark.slow
def test_gam_channels_come_from_the_graph_at_two_scales(ul):
    from gam_viewer.nn import GAM

    widths = {}
    for name in ("yolov5nu-gam-head", "yolov5su-gam-head"):
        model = _build(ul, name)
        c1 = {i: m.c1 for i, m in enumerate(model.model) if isinstance(m, GAM)}
        assert c1 and c1 == _gam_inputs(model)  # each block is built for what actually flows into it
        widths[name] = c1
    n, s = widths["yolov5nu-gam-head"], widths["yolov5su-gam-head"]
    assert n.keys() == s.keys()
    assert all(s[i] == 2 * n[i] for i in n)  # width multiple 0.50 vs 0.25


def test_group_and_rate_args_are_read_like_the_viewer(ul):
    from gam_viewer.nn import GAM

    from gam_viewer.models import configs

    path, scale = configs.find_with_scale("yolov8n-gam-backbone")
    d = ul.load_model_yaml(str(path), scale)
    rows = d["backbone"] + d["head"]
    gi = next(i for i, r in enumerate(rows) if r[2] == "GAM")
    rows[gi][2:] = ["GAM_Attention", [1024, 1024, True, 4]]  # a fork's literal channels are ignored, grouping is read
    from ultralytics.nn.tasks import DetectionModel

    grouped = DetectionModel(d, nc=6, verbose=False)
    block = grouped.model[gi]
    assert isinstance(block, GAM) and block.groups == 4 and block.rate == 4
    assert block.c1 == _gam_inputs(grouped)[gi] != 1024
    assert block.shuffle  # the 2022 rewrite shuffles when grouped, as the viewer assumes


def test_register_is_idempotent_and_reversible(ul):
    from ultralytics.nn import tasks

    from gam_viewer.train import register as reg

    reg.register()
    reg.register()
    wrapper = tasks.parse_model
    assert wrapper.__wrapped__ is not None and not getattr(wrapper.__wrapped__, "_gam_viewer_wrapper", False)
    reg.unregister()
    try:
        assert not reg.is_registered()
        with pytest.raises((KeyError, NameError, AttributeError), match="GAM"):
            _build(ul, "yolov8n-gam-head")  # plain Ultralytics cannot build GAM rows
    finally:
        reg.register()
    assert reg.is_registered()


# ----------------------------------------------------------------------------- weight transfer
def _save_ultralytics_checkpoint(model, path, names):
    m = deepcopy(model).half()
    m.names = names
    torch.save({"model": m, "train_args": {"imgsz": 320}}, path)  # written here, read back safely


def test_transfer_from_an_ultralytics_baseline(ul, tmp_path):
    from gam_viewer.models import read_model
    from gam_viewer.models.insert import BACKBONE_END, HEAD_OUTPUTS, insert_after
    from gam_viewer.train.transfer import transfer_weights

    base = _build(ul, "yolov5nu", nc=6)
    torch.nn.init.normal_(base.model[10].conv.weight)  # something to recognise
    ckpt = tmp_path / "base.pt"
    _save_ultralytics_checkpoint(base, ckpt, {i: f"c{i}" for i in range(6)})
    target = _build(ul, "yolov5nu-gam-full", nc=6)
    report = transfer_weights(target, target.yaml, str(ckpt))

    base_sd, tgt_sd = base.state_dict(), target.state_dict()
    gam_keys = [k for k in tgt_sd if int(k.split(".")[1]) in (9, 19, 23, 27)]
    assert report.n_transferred == len(base_sd)  # every baseline tensor found its place
    assert sorted(report.not_transferred) == sorted(gam_keys)
    assert all("GAM" in why for why in report.not_transferred.values())
    assert report.unused == {}
    # the map is the one insert_after gives for these positions
    _, index_map = insert_after(read_model(str(ckpt)).model.yaml, [BACKBONE_END["yolov5u"], *HEAD_OUTPUTS["yolov5u"]])
    assert report.index_map == index_map
    # values moved with their layers (float16 in the file)
    for old, new in ((10, 11), (17, 18), (23, 26), (24, 28)):
        for k, v in base_sd.items():
            if k.startswith(f"model.{old}.") and v.is_floating_point():
                nk = f"model.{new}." + k.split(".", 2)[2]
                torch.testing.assert_close(tgt_sd[nk], v.half().float(), rtol=0, atol=0)
    assert "transferred" in report.describe() and "layer 9" in report.describe()


def test_transfer_reports_a_class_count_change(ul, tmp_path):
    from gam_viewer.train.transfer import transfer_weights

    base = _build(ul, "yolov5nu", nc=80)
    ckpt = tmp_path / "base80.pt"
    _save_ultralytics_checkpoint(base, ckpt, {i: str(i) for i in range(80)})
    target = _build(ul, "yolov5nu-gam-head", nc=3)
    report = transfer_weights(target, target.yaml, str(ckpt))
    head = len(target.model) - 1
    reasons = {why for k, why in report.not_transferred.items() if k.startswith(f"model.{head}.")}
    assert reasons == {"sized for the baseline's 80 classes; this model has 3"}
    assert all(k.startswith(f"model.{head}.cv3.") for k in report.shapes)  # only the class branch
    backbone_neck = [k for k in base.state_dict() if int(k.split(".")[1]) < len(base.model) - 1]
    assert report.n_transferred >= len(backbone_neck)


@pytest.mark.shared("weights/yolov5n.pt")
def test_transfer_from_the_official_yolov5n(ul):
    from gam_viewer.models import read_model
    from gam_viewer.train.transfer import transfer_weights

    src = read_model(str(YOLOV5N))
    src_sd = src.model.state_dict()
    head = len(src.model.yaml["backbone"]) + len(src.model.yaml["head"]) - 1
    body = [k for k in src_sd if int(k.split(".")[1]) != head]
    target = _build(ul, "yolov5nu-gam-full", nc=80)
    report = transfer_weights(target, target.yaml, src)
    assert report.n_transferred == len(body)  # backbone and neck: every tensor
    tgt_head = len(target.model) - 1
    head_keys = [k for k in target.state_dict() if k.startswith(f"model.{tgt_head}.")]
    assert all("anchor-based" in report.not_transferred[k] for k in head_keys)
    assert sorted(report.unused) == sorted(k for k in src_sd if k.startswith(f"model.{head}."))
    torch.testing.assert_close(target.state_dict()["model.11.conv.weight"], src_sd["model.10.conv.weight"])


def test_transfer_refuses_nothing_silently_across_families(ul, tmp_path):
    from gam_viewer.train.transfer import transfer_weights

    base = _build(ul, "yolov5nu", nc=6)
    ckpt = tmp_path / "v5.pt"
    _save_ultralytics_checkpoint(base, ckpt, {i: str(i) for i in range(6)})
    target = _build(ul, "yolov8n-gam-head", nc=6)  # C2f where the baseline has C3
    report = transfer_weights(target, target.yaml, str(ckpt))
    assert any("architectures differ" in n for n in report.notes)
    assert report.n_transferred + len(report.not_transferred) == report.target_tensors
    assert report.unused  # what was left over is listed


# ----------------------------------------------------------------------------- CLI (in process)
@pytest.fixture()
def synth_tiny(tmp_path):
    from gam_viewer.data.synth import generate_dataset

    return generate_dataset(tmp_path / "synth", n=8, imgsz=96, seed=3, val_fraction=0.25)


@pytest.mark.parametrize("argv, message", [
    (["model=yolov5nu-gam-full"], "data=... is required"),
    (["model=yolov5nu-gam-ful", "data=d.yaml"], "did you mean"),
    (["model=yolov5n", "data=DATA"], "YOLOv5-repo model"),
    (["model=x.pt", "data=DATA"], "no such file"),
    (["model=yolov5nu", "data=DATA", "epoch=3"], "did you mean 'epochs'"),
    (["model=yolov5nu", "data=DATA", "resume=True"], "resume"),
    (["model=yolov5nu", "data=DATA", "pretrained=base.pt"], "weights="),
    (["model=yolov5nu", "data=DATA", "weights=missing.pt"], "no such file"),
    (["model=yolov5nu", "data=DATA", "epochs"], "key=value"),
    (["model=yolov5nu", "data=DATA", "out_dtype=int8"], "out_dtype"),
])
def test_cli_user_errors_name_the_problem(ul, synth_tiny, tmp_path, monkeypatch, capsys, argv, message):
    from gam_viewer.app import main

    monkeypatch.chdir(tmp_path)
    argv = [a.replace("DATA", str(synth_tiny)) for a in argv]
    code = main(["train", *argv, f"project={tmp_path / 'runs'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("gam-viewer: error:") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert message in err
    assert not (tmp_path / "runs" / "yolov5nu").exists()  # refused before any run started


def test_cli_user_error_messages(ul, synth_tiny, tmp_path, capsys):
    from gam_viewer.app import main

    existing = tmp_path / "taken.safetensors"
    existing.write_bytes(b"user data")
    code = main(["train", "model=yolov5nu", f"data={synth_tiny}", f"out={existing}", f"project={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "refusing to overwrite" in err and len(err.splitlines()) == 1
    assert existing.read_bytes() == b"user data"
    code = main(["train", "model=yolov5nu", f"data={synth_tiny}", "epoch=3", f"project={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "'epochs'" in err and "Traceback" not in err


def test_cli_never_runs_a_data_yaml_download_step(ul, tmp_path, capsys):
    from gam_viewer.app import main

    marker = tmp_path / "download-ran"
    data = tmp_path / "remote.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames: {{0: a}}\n"
                    f"download: |\n  open({str(marker)!r}, 'w').write('x')\n")
    code = main(["train", "model=yolov5nu", f"data={data}", f"project={tmp_path / 'runs'}", "deterministic=False"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not marker.exists()
    assert "images not found" in err and "download" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs" / "yolov5nu").exists()  # refused before a run folder was made


def test_cli_bad_value_type_is_one_line(ul, synth_tiny, tmp_path, capsys):
    from gam_viewer.app import main

    code = main(["train", "model=yolov5nu", f"data={synth_tiny}", "epochs=many", f"project={tmp_path / 'runs'}",
                 "deterministic=False"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "epochs" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs" / "yolov5nu").exists()


def test_cli_help(capsys):
    _needs_ultralytics()
    from gam_viewer.train.cli import run

    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "weights=" in out and "model=" in out


def test_parse_args_reads_values_like_ultralytics():
    _needs_ultralytics()
    from gam_viewer.train.cli import parse_args

    a = parse_args(["epochs=3", "lr0=0.5", "amp=False", "device=0,1", "name=7", "cache=none", "model=a.yaml"])
    assert a == {"epochs": 3, "lr0": 0.5, "amp": False, "device": "0,1", "name": "7", "cache": None,
                 "model": "a.yaml"}


@pytest.mark.slow
def test_missing_train_extra_is_one_line(tmp_path):
    # a Python in which ultralytics cannot be imported, as without the train extra
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoUltralytics:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'ultralytics':\n"
        "            raise ModuleNotFoundError(\"No module named 'ultralytics'\")\n"
        "sys.meta_path.insert(0, _NoUltralytics())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    res = subprocess.run([sys.executable, "-m", "gam_viewer", "train", "model=yolov5nu", "data=d.yaml"],
                         capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert res.returncode == 2
    assert "train extra" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


# ----------------------------------------------------------------------------- DDP launch file
@pytest.mark.slow
def test_ddp_launch_file_builds_gam_in_a_fresh_process(ul, synth_tiny, tmp_path, monkeypatch):
    """Ultralytics' multi-GPU launcher writes a script that rebuilds the trainer in each worker.
    Run that script's set-up (everything before ``trainer.train()``) in a fresh interpreter
    and check the worker's trainer can build a GAM model from the YAML (the path a worker
    takes when it is given a YAML) and that a pre-built GAM model travels intact."""
    from ultralytics.utils import dist

    from gam_viewer.models import configs

    monkeypatch.setattr(dist, "USER_CONFIG_DIR", tmp_path / "cfg")
    (tmp_path / "cfg").mkdir()
    path, _ = configs.find_with_scale("yolov5nu-gam-full")
    named = tmp_path / "yolov5nu-gam-full.yaml"  # the scale in the name, as Ultralytics reads it
    named.write_text(path.read_text())
    trainer = ul.GamDetectionTrainer(overrides={
        "model": str(named), "data": str(synth_tiny), "epochs": 1, "imgsz": 64, "batch": 2,
        "device": "cpu", "project": str(tmp_path / "runs"), "name": "ddp", "plots": False,
        "deterministic": False})  # (deterministic=True would switch torch's global mode on in this process)
    from gam_viewer.nn import GAM

    expected = {i: m.c1 for i, m in enumerate(_build(ul, "yolov5nu-gam-full").model) if isinstance(m, GAM)}
    trainer.build_model(verbose=False)  # what gam-viewer train hands to the workers
    file = dist.generate_ddp_file(trainer)
    try:
        text = Path(file).read_text()
        assert text.count("trainer.train()") == 1 and 'state["trainer"]' in text
        script = tmp_path / "probe.py"
        assert text.count("state = torch_load(") == 1
        probe = text.replace("state = torch_load(", "gam_first = any(m.startswith('gam_viewer') for m in sys.modules)\n"
                             "    state = torch_load(")
        script.write_text(probe.replace("trainer.train()", _WORKER_PROBE))
        env = {**os.environ, "YOLO_CONFIG_DIR": str(tmp_path / "cfg"), "YOLO_OFFLINE": "1",
               "YOLO_AUTOINSTALL": "false"}
        res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                             timeout=300, cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith("GVCHECK "))
        got = json.loads(line[len("GVCHECK "):])
    finally:
        dist.ddp_cleanup(trainer, file)
    assert got["trainer"] == "gam_viewer.train.trainer.GamDetectionTrainer"
    assert got["gam_modules_imported_first"] is False  # nothing of gam-viewer before the launch file ran
    assert got["registered"]
    for case in ("prebuilt", "yaml"):
        assert got[case]["gam_layers"] == list(expected), case
        assert got[case]["gam_class"] == "gam_viewer.nn.gam.GAM", case
        assert got[case]["gam_c1"] == list(expected.values()), case
    assert got["prebuilt"]["model_was"] == "DetectionModel" and got["yaml"]["model_was"] == "str"


# what the probe runs in place of trainer.train(): the worker's own model set-up, no training
_WORKER_PROBE = """import json
    from gam_viewer.train.register import is_registered

    def gams(t):
        was = type(t.model).__name__
        t.setup_model()  # the worker's own model set-up (returns at once for a pre-built model)
        found = [(i, m) for i, m in enumerate(t.model.model) if type(m).__name__ == "GAM"]
        return {"model_was": was, "gam_layers": [i for i, _ in found], "gam_c1": [m.c1 for _, m in found],
                "gam_class": type(found[0][1]).__module__ + "." + type(found[0][1]).__name__ if found else None}

    result = {"trainer": type(trainer).__module__ + "." + type(trainer).__name__,
              "gam_modules_imported_first": gam_first, "registered": is_registered(),
              "prebuilt": gams(trainer)}
    trainer.model = trainer.args.model  # a worker given the YAML rebuilds from it
    result["yaml"] = gams(trainer)
    print("GVCHECK " + json.dumps(result))"""


def test_ddp_probe_replaces_only_the_training_call():
    # guards the slow test above against a launcher whose script layout changed
    from ultralytics.utils import dist
    import inspect

    src = inspect.getsource(dist.generate_ddp_file)
    assert src.count("trainer.train()") == 1 and "__main__" in src


# ----------------------------------------------------------------------------- round trip
@pytest.mark.slow
def test_one_epoch_round_trip_ends_in_a_file_the_viewer_opens(ul, synth_tiny, tmp_path):
    """gam-viewer train (a real Ultralytics run, 1 epoch, 8 images) from a baseline checkpoint,
    to a .safetensors that the engine opens and predicts with."""
    base = _build(ul, "yolov5nu", nc=6)
    ckpt = tmp_path / "base.pt"
    _save_ultralytics_checkpoint(base, ckpt, {i: f"c{i}" for i in range(6)})
    out = tmp_path / "gam.safetensors"
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "OMP_NUM_THREADS": "2"}
    env.pop("YOLO_CONFIG_DIR", None)  # the run keeps Ultralytics' files in its project folder
    cmd = [sys.executable, "-m", "gam_viewer", "train", "model=yolov5nu-gam-full", f"data={synth_tiny}",
           "epochs=1", "imgsz=64", "batch=4", "device=cpu", "plots=False", f"weights={ckpt}",
           f"project={tmp_path / 'runs'}", "name=rt", f"out={out}"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-2000:]
    log = res.stdout + res.stderr
    n_base, n_target = len(base.state_dict()), len(_build(ul, "yolov5nu-gam-full").state_dict())
    assert f"transferred {n_base} of {n_target} tensors" in log
    assert (tmp_path / "runs" / ".ultralytics" / "Ultralytics" / "Arial.ttf").is_file()
    report = json.loads((tmp_path / "runs" / "rt" / "transfer.json").read_text())
    assert report["transferred"] == n_base and report["target_tensors"] == n_target
    assert (tmp_path / "runs" / "rt" / "weights" / "best.pt").is_file()

    from gam_viewer import load_model

    det = load_model(str(out))
    assert det.has_gam and len(det.gam) == 4
    assert det.names == ["circle", "square", "triangle", "star", "ring", "cross"]
    res = det.predict(str(SAMPLE), conf=0.0001, imgsz=64)
    assert len(res.attention) == 4
    assert res.boxes.shape[1] == 4
    # the file holds float16 weights and the run's metadata
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as fh:
        meta = fh.metadata()
        assert fh.get_tensor("model.9.channel_attention.fc1.weight").dtype == torch.float16
    extra = json.loads(meta["extra"])
    assert extra["trained_with"] == "gam-viewer train" and extra["transfer"]["transferred"] == n_base


# --------------------------------------------------------------------------- predict parity
DEMO = ROOT / "resources" / "demo"


@pytest.mark.slow
@pytest.mark.parametrize("file, name", [("yolov5n.safetensors", "yolov5nu"),
                                        ("gam-yolov5n.safetensors", "yolov5nu-gam-full")])
def test_trained_demo_models_predict_exactly_like_ultralytics(ul, tmp_path, file, name):
    """The bundled trained weights in Ultralytics' own model (GAM registered) and ``predict``,
    against gam-viewer's rebuild and ``Detector.predict``: same boxes, scores and classes on
    every sample picture. Covers letterbox, DFL decode and NMS of the anchor-free path."""
    import cv2
    import numpy as np
    from safetensors.torch import load_file
    from ultralytics import YOLO

    from gam_viewer import load_model

    path = DEMO / file
    if not path.is_file():
        pytest.skip(f"{path} is absent (the bundled demo pair)")
    det = load_model(path)
    theirs = _build(ul, name, nc=len(det.names))
    theirs.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()}, strict=True)
    theirs.names = dict(enumerate(det.names))
    theirs.args = {"imgsz": det.default_imgsz}
    ckpt = tmp_path / "ultralytics.pt"
    torch.save({"model": theirs}, ckpt)  # our own file, opened by Ultralytics in this test only
    yolo = YOLO(str(ckpt))
    pictures = sorted((ROOT / "resources" / "samples").glob("*.jpg"))
    assert pictures
    total = 0
    for picture in pictures:
        img = cv2.imread(str(picture))
        for conf in (0.05, 0.25):
            r = yolo.predict(img, conf=conf, iou=0.45, imgsz=det.default_imgsz, verbose=False)[0]
            ours = det.predict(img, conf=conf, iou=0.45, imgsz=det.default_imgsz)
            assert len(ours.boxes) == len(r.boxes), (picture.name, conf)
            np.testing.assert_allclose(ours.boxes, r.boxes.xyxy.numpy(), atol=2e-3, err_msg=picture.name)
            np.testing.assert_allclose(ours.scores, r.boxes.conf.numpy(), atol=1e-5, err_msg=picture.name)
            np.testing.assert_array_equal(ours.classes, r.boxes.cls.numpy().astype(ours.classes.dtype))
            total += len(ours.boxes)
    assert total > 2 * len(pictures)  # the trained models do find things
