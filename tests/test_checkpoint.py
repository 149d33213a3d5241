"""Safe checkpoint reading: official, fork, PyPI and Ultralytics files; refusals; errors; own format."""

import os
import subprocess
from contextlib import contextmanager
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from fork_checkpoints import Evil, fake_modules, make_fork_checkpoint
from gam_viewer import load_model
from gam_viewer.models import ModelLoadError, read_model
from gam_viewer.models.native import save_native
from gam_viewer.models.safe_pickle import allowed_globals, load_checkpoint_dict

from shared_data import SHARED

YOLOV5N = SHARED / "weights" / "yolov5n.pt"
needs_yolov5n = pytest.mark.shared("weights/yolov5n.pt")


def raw_out(model, x):
    with torch.no_grad():
        return model.eval()(x)


def assert_same_raw(a, b, tol=1e-4):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=tol, atol=tol)


# --------------------------------------------------------------------------- official checkpoint
@needs_yolov5n
def test_official_yolov5n_loads_with_exact_parameter_counts():
    loaded = read_model(YOLOV5N)
    assert loaded.format == "yolov5-repo"
    assert loaded.model.count_params() == 1872157
    assert loaded.names[0] == "person" and len(loaded.names) == 80
    assert not loaded.gam
    bns = [m for m in loaded.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.eps == 1e-3 and m.momentum == 0.03 for m in bns)  # from the pickle
    loaded.model.fuse()
    assert loaded.model.count_params() == 1867405  # the reference's fused count


# --------------------------------------------------------------------------- forks
@pytest.mark.parametrize("root,fmt", [("models", "yolov5-repo"), ("yolov5.models", "yolov5-pypi")])
@pytest.mark.parametrize("grouped", [False, True])
def test_fork_checkpoint_with_community_gam_loads_with_documented_defaults(tmp_path, root, fmt, grouped):
    path = tmp_path / "best.pt"
    ref = make_fork_checkpoint(path, root=root, grouped=grouped, gam_after=(8, 17))
    loaded = read_model(path)
    assert loaded.format == fmt
    assert [r.index for r in loaded.gam] == [9, 19]
    for r in loaded.gam:
        assert r.variant == "community" and r.channel_sigmoid is False
        assert r.groups == (4 if grouped else 1)
        assert r.shuffle is grouped
        assert ("grouped layer (2022 rewrite)" if grouped else "ungrouped layer (first port)") in r.decided_by
    x = torch.rand(1, 3, 128, 160)
    assert_same_raw(raw_out(loaded.model, x), raw_out(ref["model"].half().float(), x))


def test_fork_checkpoint_class_paths_are_what_forks_pickle(tmp_path):
    path = tmp_path / "best.pt"
    make_fork_checkpoint(path, root="models")
    with zipfile.ZipFile(path) as zf:
        pkl = zf.read([n for n in zf.namelist() if n.endswith("data.pkl")][0])
    assert b"models.common" in pkl and b"GAM_Attention" in pkl and b"models.yolo" in pkl
    assert b"gam_viewer" not in pkl


def test_user_switches_override_and_are_reported(tmp_path):
    path = tmp_path / "best.pt"
    make_fork_checkpoint(path, grouped=False, gam_after=(8,))
    x = torch.rand(1, 3, 128, 128)
    default = read_model(path)
    switched = read_model(path, channel_sigmoid=True, shuffle=True)
    r = switched.gam[0]
    assert r.channel_sigmoid is True and r.shuffle is True
    assert "channel sigmoid: user" in r.decided_by and "shuffle: user" in r.decided_by
    outs = []
    for loaded in (default, switched):
        loaded.model.model[9].register_forward_hook(lambda m, i, o: outs.append(o))
        raw_out(loaded.model, x)
    assert (outs[0] - outs[1]).abs().max().item() > 1e-2  # the GAM layer computes something else


def test_gam_attention_class_alias_and_old_model_class(tmp_path):
    path = tmp_path / "old.pt"
    ref = make_fork_checkpoint(path, gam_name="GAMAttention", gam_after=(23,), half=False)
    loaded = read_model(path)
    assert [r.index for r in loaded.gam] == [24]
    x = torch.rand(1, 3, 96, 128)
    assert_same_raw(raw_out(loaded.model, x), raw_out(ref["model"], x), tol=1e-5)


def test_ema_entry_is_preferred_and_names_dict_accepted(tmp_path):
    path = tmp_path / "ema.pt"
    make_fork_checkpoint(path, names=[f"n{i}" for i in range(80)], ultralytics=True, gam_after=(8,))
    loaded = read_model(path)
    assert loaded.format == "ultralytics" and loaded.names[:2] == ["n0", "n1"]
    assert loaded.model.head.kind == "dfl"


def test_batchnorm_eps_comes_from_the_checkpoint(tmp_path):
    path = tmp_path / "eps.pt"
    make_fork_checkpoint(path, gam_after=(8,))
    ck_default = read_model(path)
    eps = {n: m.eps for n, m in ck_default.model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert eps["model.9.spatial_attention.bn1"] == 1e-3 and eps["model.0.bn"] == 1e-3

    # a fork whose BNs kept PyTorch's default eps: the loader must follow the file, not a default
    path2 = tmp_path / "eps2.pt"
    from gam_viewer.models.builder import YoloModel

    orig_init = YoloModel.__init__

    def init_with_torch_eps(self, *a, **k):
        orig_init(self, *a, **k)
        for m in self.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eps = 1e-5

    YoloModel.__init__ = init_with_torch_eps
    try:
        make_fork_checkpoint(path2, gam_after=(8,))
    finally:
        YoloModel.__init__ = orig_init
    loaded = read_model(path2)
    assert all(m.eps == 1e-5 for m in loaded.model.modules() if isinstance(m, torch.nn.BatchNorm2d))


# --------------------------------------------------------------------------- refusal of code
def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "owned"
    path = tmp_path / "evil.pt"
    torch.save({"model": Evil(marker), "epoch": 1}, path)
    with pytest.raises(ModelLoadError, match=r"refused to unpickle global '(posix|os|nt)\.system'"):
        read_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_malicious_pickle_in_any_protocol_is_refused_by_name(tmp_path, protocol):
    """Protocol 4+ names globals through the stack (STACK_GLOBAL, often via the memo): still read and refused."""
    from gam_viewer.models.safe_pickle import requested_globals

    marker = tmp_path / "owned"
    path = tmp_path / f"evil{protocol}.pt"
    torch.save({"model": Evil(marker), "also": [Evil(marker), "x"]}, path, pickle_protocol=protocol)
    with zipfile.ZipFile(path) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    assert {(m, n) for m, n in requested_globals(data)} & {("posix", "system"), ("os", "system"), ("nt", "system")}
    with pytest.raises(ModelLoadError, match=r"refused to unpickle global '(posix|os|nt)\.system'"):
        read_model(path)
    assert not marker.exists()


def test_refusal_names_an_unknown_fork_class(tmp_path):
    path = tmp_path / "cbam.pt"

    class CBAM(torch.nn.Module):
        pass

    with fake_modules({"models.common.CBAM": CBAM}):
        torch.save({"model": CBAM()}, path)
    with pytest.raises(ModelLoadError, match="refused to unpickle global 'models.common.CBAM'"):
        read_model(path)


def test_builtins_exec_and_eval_are_refused(tmp_path):
    for fn in (exec, eval):
        class Payload:
            def __reduce__(self, fn=fn):
                return (fn, ("1+1",))

        path = tmp_path / f"{fn.__name__}.pt"
        torch.save({"model": Payload()}, path)
        with pytest.raises(ModelLoadError, match=f"builtins.{fn.__name__}"):
            read_model(path)


def test_allow_list_is_short_and_has_no_callables_of_concern():
    names = allowed_globals()
    for bad in ("os.system", "builtins.eval", "builtins.exec", "subprocess.Popen", "torch.load", "builtins.__import__"):
        assert bad not in names


def test_tensors_read_back_exactly_as_torch_saved_them(tmp_path):
    """The restricted unpickler rebuilds tensors like torch.load: dtypes, views sharing one
    storage, a non-contiguous view, a 0-d tensor, an empty one, nested containers."""
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    obj = {"f16": torch.randn(3, 5, generator=torch.Generator().manual_seed(0)).half(),
           "i64": torch.tensor([1, -2, 3]), "bool": torch.tensor([True, False]),
           "base": base, "view": base[1:3, ::2], "t": base.t(), "scalar": torch.tensor(7.5),
           "empty": torch.zeros(0, 3), "nested": [{"x": base[0]}, (base[:, 1],)]}
    path = tmp_path / "t.pt"
    torch.save(obj, path)
    got = load_checkpoint_dict(path)
    want = torch.load(path, weights_only=True)

    def same(a, b):
        if isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        elif isinstance(a, dict):
            assert a.keys() == b.keys()
            for k in a:
                same(a[k], b[k])
        else:
            assert type(a) is type(b) and len(a) == len(b)
            for u, v in zip(a, b):
                same(u, v)

    same(got, want)
    assert got["view"].data_ptr() != got["base"].data_ptr() and not got["t"].is_contiguous()


def _handmade_checkpoint(path, size, stride, offset=0, storage_bytes=16, drop_storage=False):
    """A torch-style zip whose one tensor is a view (size, stride, offset) of a float32 storage
    of ``storage_bytes`` bytes, written without torch.save so the numbers can lie."""
    import io
    import pickle
    from collections import OrderedDict

    class Marker:
        pass

    marker = Marker()

    class FakeTensor:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, (marker, offset, size, stride, False, OrderedDict()))

    class P(pickle.Pickler):
        def persistent_id(self, o):
            return ("storage", torch.FloatStorage, "0", "cpu", storage_bytes // 4) if o is marker else None

    buf = io.BytesIO()
    P(buf, protocol=2).dump({"model": FakeTensor()})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/byteorder", "little")
        if not drop_storage:
            zf.writestr("archive/data/0", bytes(storage_bytes))


@pytest.mark.parametrize("size,stride,offset,drop,needle", [
    ((100,), (1,), 0, False, "damaged checkpoint pickle"),     # a view past the storage's end
    ((2, 2), (1000, 1), 0, False, "damaged checkpoint pickle"),
    ((2,), (1,), 3, False, "damaged checkpoint pickle"),
    ((4,), (1,), 0, True, "is missing"),                        # the storage record is absent
])
def test_tensor_views_outside_their_storage_are_refused(tmp_path, size, stride, offset, drop, needle):
    """No out-of-bounds read: a view larger than its storage, or of a missing storage, is a
    one-line format error; a view that fits reads back."""
    bad = tmp_path / "bad.pt"
    _handmade_checkpoint(bad, size, stride, offset, drop_storage=drop)
    with pytest.raises(ModelLoadError, match=needle):
        read_model(bad)
    ok = tmp_path / "ok.pt"
    _handmade_checkpoint(ok, (2, 2), (2, 1))
    assert torch.equal(load_checkpoint_dict(ok)["model"], torch.zeros(2, 2))


# --------------------------------------------------------------------------- one-line errors
@pytest.mark.parametrize("content,needle", [
    (b"", "the file is empty"),
    (b"hello, I am not a model at all \x00\x01", "not a model file gam-viewer knows"),
    (b"\x80\x02}q\x00.", "a plain Python pickle, not a PyTorch checkpoint"),   # pickle.dumps({}), not torch.save
])
def test_not_a_checkpoint_gives_one_line(tmp_path, content, needle):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=needle) as info:
        read_model(path)
    assert "\n" not in str(info.value)


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "full.pt"
    make_fork_checkpoint(path, gam_after=())
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="cut.pt: .*(truncated|not a PyTorch checkpoint)") as info:
        read_model(cut)
    assert "\n" not in str(info.value)


def test_zip_without_pickle_and_bare_state_dict(tmp_path):
    z = tmp_path / "a.pt"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a/readme.txt", "hi")
    with pytest.raises(ModelLoadError, match="without data.pkl"):
        read_model(z)
    sd = tmp_path / "sd.pt"
    torch.save({"conv.weight": torch.zeros(2, 2)}, sd)
    with pytest.raises(ModelLoadError, match="bare state dict"):
        read_model(sd)


def test_missing_file_folder_and_unknown_name(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        read_model(tmp_path / "nope.pt")
    with pytest.raises(ModelLoadError, match="is a folder"):
        read_model(tmp_path)


@contextmanager
def tampered(ckpt):
    """Make read_model see ``ckpt`` (an edited, already-unpickled checkpoint) for any path."""
    import gam_viewer.models.checkpoint as cp

    orig = cp.load_checkpoint_dict
    cp.load_checkpoint_dict = lambda p: ckpt
    try:
        yield
    finally:
        cp.load_checkpoint_dict = orig


def test_unsupported_layer_in_checkpoint_names_it(tmp_path):
    path = tmp_path / "tr.pt"
    make_fork_checkpoint(path, gam_after=())
    # rewrite the pickled yaml to use a layer gam-viewer does not implement
    ck = load_checkpoint_dict(path)
    ck["model"].yaml["backbone"][8][2] = "C3TR"
    with tampered(ck), pytest.raises(ModelLoadError, match=r"tr.pt: unsupported layer type 'C3TR' at index 8"):
        read_model(path)


def test_segmentation_checkpoint_is_named(tmp_path):
    path = tmp_path / "seg.pt"

    class SegmentationModel(torch.nn.Module):
        pass

    with fake_modules({"ultralytics.nn.tasks.SegmentationModel": SegmentationModel}):
        m = SegmentationModel()
        m.yaml = {"nc": 1, "backbone": [], "head": []}
        torch.save({"model": m}, path)
    with pytest.raises(ModelLoadError, match="segmentation model"):
        read_model(path)


def test_mismatched_tensor_names_the_layer(tmp_path):
    path = tmp_path / "bad.pt"
    make_fork_checkpoint(path, gam_after=(8,))
    ck = load_checkpoint_dict(path)
    conv = ck["model"]._modules["model"]._modules["3"]._modules["conv"]
    conv._parameters["weight"] = torch.zeros(3, 3, 3, 3)
    with tampered(ck), pytest.raises(ModelLoadError, match=r"layer 3 \(Conv\): 'model.3.conv.weight'"):
        read_model(path)


# --------------------------------------------------------------------------- own format
def test_native_round_trip_keeps_outputs_and_gam_settings(tmp_path):
    path = tmp_path / "best.pt"
    make_fork_checkpoint(path, grouped=True, gam_after=(8, 17))
    loaded = read_model(path, channel_sigmoid=True)
    out = save_native(loaded, tmp_path / "best")
    assert out.name == "best.safetensors"
    again = read_model(out)
    assert again.format == "gam-viewer"
    assert [(r.groups, r.shuffle, r.channel_sigmoid) for r in again.gam] == [(4, True, True)] * 2
    x = torch.rand(1, 3, 96, 96)
    assert_same_raw(raw_out(again.model, x), raw_out(loaded.model, x), tol=2e-3)  # float16 storage
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        save_native(loaded, out)
    with open(out, "rb") as fh:
        assert b"pickle" not in fh.read(256) and not zipfile.is_zipfile(out)


def test_native_file_without_metadata_is_refused(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "plain.safetensors"
    save_file({"a": torch.zeros(2)}, str(p))
    with pytest.raises(ModelLoadError, match="without gam-viewer metadata"):
        read_model(p)


# --------------------------------------------------------------------------- CLI
def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run([sys.executable, "-m", "gam_viewer", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.slow
def test_cli_info_convert_and_user_errors(tmp_path):
    path = tmp_path / "best.pt"
    make_fork_checkpoint(path, grouped=True, gam_after=(8,))
    r = run_cli("info", str(path))
    assert r.returncode == 0 and "grouped x4" in r.stdout and "final-map shuffle on" in r.stdout
    r = run_cli("convert", str(path), str(tmp_path / "out"))
    assert r.returncode == 0 and (tmp_path / "out.safetensors").is_file()
    before = (tmp_path / "out.safetensors").read_bytes()
    r = run_cli("convert", str(path), str(tmp_path / "out"))
    assert r.returncode == 2 and "already exists (not overwritten" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "out.safetensors").read_bytes() == before
    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"junk junk junk")
    r = run_cli("info", str(bad))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "junk.pt" in r.stderr and "Traceback" not in r.stderr


# --------------------------------------------------------------------------- Ultralytics itself
def _ultralytics():
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    try:
        import ultralytics  # noqa: F401
        from ultralytics import YOLO
    except Exception as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"ultralytics is not installed (test-only dependency): {exc}")
    return YOLO


@pytest.mark.parametrize("cfg", ["yolov8n.yaml", "yolov5nu.yaml"])
def test_ultralytics_checkpoint_decodes_like_ultralytics(tmp_path, cfg):
    YOLO = _ultralytics()
    torch.manual_seed(0)
    um = YOLO(cfg)
    path = tmp_path / "u.pt"
    um.save(str(path))
    det = load_model(path, fuse=False)
    assert det.format == "ultralytics" and det.model.head.kind == "dfl"
    x = torch.rand(1, 3, 224, 288)
    with torch.no_grad():
        theirs = um.model.float().eval()(x)[0]
        ours = det.decode(det.forward(x))
    torch.testing.assert_close(ours.transpose(1, 2), theirs, rtol=1e-3, atol=5e-3)
