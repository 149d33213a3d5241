"""Settings (QSettings on a temporary INI file): validation, recents, model specs, reset."""

import pytest

pytest.importorskip("PySide6")

from gam_viewer.ui.model_spec import DrawParams, InferenceParams, ModelSpec  # noqa: E402
from gam_viewer.ui.settings import ENV_VAR, Settings  # noqa: E402


def test_values_round_trip(settings_file):
    s = Settings(settings_file)
    s.set_inference(InferenceParams(conf=0.4, iou=0.3, imgsz=512))
    s.set_drawing(DrawParams(line_width=3, show_labels=False, show_scores=False))
    s.colormap = "magma"
    s.set_model("gam", ModelSpec("a.pt", channel_sigmoid=True, shuffle=None, device="cpu"))
    s.sync()
    t = Settings(settings_file)
    assert t.inference() == InferenceParams(conf=0.4, iou=0.3, imgsz=512)
    assert t.drawing() == DrawParams(line_width=3, show_labels=False, show_scores=False)
    assert t.colormap == "magma"
    assert t.models() == {"gam": ModelSpec("a.pt", True, None, "cpu", False), "baseline": None}


def test_a_hand_edited_file_gives_defaults_not_errors(settings_file):
    settings_file.write_text("[infer]\nconf=banana\niou=7\nimgsz=-3\n[draw]\nline_width=99\n"
                             "[view]\ncolormap=rainbow-unicorn\n[models]\ngam=\"{not json\"\n"
                             "baseline=\"[1, 2]\"\n[recent]\nfiles=\"{}\"\n")
    s = Settings(settings_file)
    p = s.inference()
    assert p.conf == InferenceParams().conf and p.iou == 1.0 and p.imgsz == InferenceParams().imgsz
    assert s.drawing().line_width == DrawParams().line_width
    assert s.colormap == "inferno"
    assert s.models() == {"gam": None, "baseline": None}
    assert s.recent_files == []


def test_recent_lists_are_unique_newest_first_and_bounded(settings_file):
    s = Settings(settings_file)
    for i in range(12):
        s.add_recent_file(f"/data/{i}.jpg")
    s.add_recent_file("/data/5.jpg")
    assert s.recent_files[0] == "/data/5.jpg" and len(s.recent_files) == 10
    assert len(set(s.recent_files)) == 10
    s.clear_recent()
    assert s.recent_files == []


def test_reset_forgets_everything(settings_file):
    s = Settings(settings_file)
    s.set_inference(InferenceParams(conf=0.9))
    s.add_recent_model("m.pt")
    s.reset()
    assert s.inference() == InferenceParams() and s.recent_models == []


def test_environment_variable_picks_the_file(settings_file, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(settings_file))
    s = Settings()
    s.colormap = "plasma"
    s.sync()
    assert s.path == str(settings_file) and "plasma" in settings_file.read_text()


def test_model_spec_json_is_tolerant():
    spec = ModelSpec("x.pt", False, True, "cuda:0", True)
    assert ModelSpec.from_json(spec.to_json()) == spec
    for bad in (None, "", "[]", "{}", '{"source": 3}', "not json"):
        assert ModelSpec.from_json(bad) is None
