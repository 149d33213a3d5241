"""The paper figure grid: shared colour scales, output formats and sizes, the sidecar, CLI errors."""

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from gam_viewer.app import main
from gam_viewer.render import grid as G

ROOT = Path(__file__).resolve().parents[1]
GAM_DEMO = ROOT / "resources" / "demo" / "gam-yolov5n.safetensors"
BASE_DEMO = ROOT / "resources" / "demo" / "yolov5n.safetensors"
SAMPLES = ROOT / "resources" / "samples"


def _grey(h, w, level=128):
    return np.full((h, w, 3), level, np.uint8)


def _halves(h, w, left, right):
    m = np.empty((h, w), np.float32)
    m[:, : w // 2] = left
    m[:, w // 2:] = right
    return m


def _png(grid, dpi=100):
    data = G.figure_bytes(grid, "png", dpi)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img[:, :, ::-1]   # RGB


def _sample(img, grid, row, col, fx, fy):
    """RGB of the rendered pixel at fraction (fx, fy) inside cell (row, col)."""
    x0, y0, x1, y1 = grid.cells[(row, col)]
    h, w = img.shape[:2]
    return img[int((y0 + (y1 - y0) * fy) * h), int((x0 + (x1 - x0) * fx) * w)].astype(int)


def _expected(cmap, value, vrange):
    lut = G.cmap_lut(cmap)
    lo, hi = vrange
    return lut[int(np.clip((value - lo) / (hi - lo) * 255 + 0.5, 0, 255))].astype(int)


# ----------------------------------------------------------------------------- columns
def test_column_names_parse_into_kinds_gates_and_reductions():
    cols = G.parse_columns("input,input:baseline,Input:none,baseline-cam,model-cam,L19,L23:channel,"
                           "L9:spatial:max,L27:c5,L19:std")
    assert [c.kind for c in cols] == ["input"] * 3 + ["cam"] * 2 + ["gate"] * 5
    assert [c.role for c in cols[:5]] == ["model", "baseline", "none", "baseline", "model"]
    assert (cols[5].layer, cols[5].gate, cols[5].reduce) == (19, "spatial", "mean")
    assert (cols[6].layer, cols[6].gate, cols[6].reduce) == (23, "channel", "mean")
    assert (cols[7].gate, cols[7].reduce) == ("spatial", "max")
    assert cols[8].reduce == 5
    # scales: both CAMs share one, spatial gates one, channel gates another, std its own
    assert [c.scale_key for c in cols] == [None] * 3 + ["cam", "cam", "spatial", "channel", "spatial", "spatial",
                                                       "spatial:std"]


@pytest.mark.parametrize("bad, named", [("input,L19x", "L19x"), ("inptu", "inptu"), ("L19:mean:max", "max"),
                                        ("L19:chanel", "chanel"), ("input,,L19", "empty")])
def test_bad_column_names_are_named(bad, named):
    with pytest.raises(G.GridError) as err:
        G.parse_columns(bad)
    msg = str(err.value)
    assert named in msg and "\n" not in msg


# ----------------------------------------------------------------------------- one colour scale
def test_maps_with_different_ranges_share_one_scale_and_one_colour_bar():
    h, w = 60, 100
    cols = G.parse_columns("input,L19,L23")
    a = _halves(h, w, 0.2, 0.8)      # range [0.2, 0.8]
    b = _halves(h, w, 0.5, 0.8)      # range [0.5, 0.8]: alone it would stretch 0.5 to the bottom colour
    rows = [G.Row("one", _grey(h, w), [G.Cell(), G.Cell(a), G.Cell(b)])]
    grid = G.render_grid(cols, rows, width="single", alpha=1.0)
    assert list(grid.colorbars) == ["spatial"], "one colour bar for one quantity"
    sc = grid.scales["spatial"]
    assert sc.vrange == pytest.approx((0.2, 0.8)) and sc.cmap == "viridis" and not sc.signed
    img = _png(grid)
    right_a, right_b = _sample(img, grid, 0, 1, 0.75, 0.5), _sample(img, grid, 0, 2, 0.75, 0.5)
    assert np.abs(right_a - right_b).max() <= 2, "the same value has the same colour in both columns"
    np.testing.assert_allclose(_sample(img, grid, 0, 2, 0.25, 0.5), _expected("viridis", 0.5, (0.2, 0.8)), atol=3)
    np.testing.assert_allclose(_sample(img, grid, 0, 1, 0.25, 0.5), _expected("viridis", 0.2, (0.2, 0.8)), atol=3)
    assert np.abs(_sample(img, grid, 0, 2, 0.25, 0.5) - _sample(img, grid, 0, 1, 0.25, 0.5)).max() > 40
    # the scale is written on the figure
    assert "[0.2, 0.8]" in sc.describe() and "one scale for all rows and models" in sc.describe()


def test_scale_spans_rows_and_models_and_quantities_get_their_own_bars():
    h, w = 40, 60
    cols = G.parse_columns("baseline-cam,model-cam,L19,L19:channel")
    rows = [G.Row("r0", _grey(h, w), [G.Cell(_halves(h, w, 0.0, 0.5)), G.Cell(_halves(h, w, 0.1, 0.9)),
                                      G.Cell(_halves(h, w, 0.3, 0.4)), G.Cell(_halves(h, w, -2.0, 1.0))]),
            G.Row("r1", _grey(h, w), [G.Cell(_halves(h, w, 0.2, 1.0)), G.Cell(_halves(h, w, 0.0, 0.6)),
                                      G.Cell(_halves(h, w, 0.35, 0.7)), G.Cell(_halves(h, w, 0.5, 0.5))])]
    grid = G.render_grid(cols, rows, alpha=1.0)
    assert set(grid.colorbars) == {"cam", "spatial", "channel"}
    assert grid.scales["cam"].vrange == pytest.approx((0.0, 1.0))
    assert grid.scales["spatial"].vrange == pytest.approx((0.3, 0.7))
    ch = grid.scales["channel"]       # signed (community channel gate): diverging, centred at 0
    assert ch.signed and ch.cmap == G.DIVERGING_CMAP and ch.vrange == pytest.approx((-2.0, 2.0))
    img = _png(grid)
    # 0.6 (model, row 1) and 0.5 (baseline, row 0) differ; the same value 0.0 matches across rows and models
    np.testing.assert_allclose(_sample(img, grid, 0, 0, 0.25, 0.5), _sample(img, grid, 1, 1, 0.25, 0.5), atol=2)
    # the diverging map's centre is value 0; 0.5 in row 1 sits just above it
    np.testing.assert_allclose(_sample(img, grid, 1, 3, 0.25, 0.5), _expected(G.DIVERGING_CMAP, 0.5, (-2, 2)),
                               atol=3)


def test_per_image_scaling_is_only_used_when_asked_and_then_said():
    h, w = 40, 60
    cols = G.parse_columns("L19")
    rows = [G.Row("r0", _grey(h, w), [G.Cell(_halves(h, w, 0.2, 0.4))]),
            G.Row("r1", _grey(h, w), [G.Cell(_halves(h, w, 0.6, 0.8))])]
    shared = G.render_grid(cols, rows, alpha=1.0)
    img = _png(shared)
    assert np.abs(_sample(img, shared, 0, 0, 0.75, 0.5) - _sample(img, shared, 1, 0, 0.25, 0.5)).max() > 20
    per = G.render_grid(cols, rows, alpha=1.0, per_image=True)
    sc = per.scales["spatial"]
    assert sc.per_image and sc.row_ranges == [pytest.approx((0.2, 0.4)), pytest.approx((0.6, 0.8))]
    assert "PER-IMAGE" in sc.describe()
    img = _png(per)
    # each row stretched to its own range: 0.4 in row 0 and 0.8 in row 1 look the same
    np.testing.assert_allclose(_sample(img, per, 0, 0, 0.75, 0.5), _sample(img, per, 1, 0, 0.75, 0.5), atol=2)
    text = G.figure_bytes(per, "svg").decode("utf-8")
    assert "PER-IMAGE" in text and "per-image scaling" in text


# ----------------------------------------------------------------------------- formats and sizes
def _synthetic_grid(width="double", h=90, w=150):
    cols = G.parse_columns("input,model-cam,L19")
    yy, xx = np.mgrid[0:h, 0:w]
    img = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    cells = [G.Cell(boxes=np.array([[10, 10, 60, 50]], np.float32), labels=["circle 0.91"], classes=[0]),
             G.Cell((xx / w).astype(np.float32)), G.Cell((yy / h * 0.3 + 0.4).astype(np.float32))]
    return G.render_grid(cols, [G.Row("sample.jpg", img, cells)], width=width, notes=["model: test"])


@pytest.mark.parametrize("width, mm", [("single", 85.0), ("double", 175.0)])
@pytest.mark.parametrize("dpi", [300, 600])
def test_png_has_the_pixel_size_of_the_width_at_the_dpi(width, mm, dpi):
    grid = _synthetic_grid(width)
    data = G.figure_bytes(grid, "png", dpi)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert abs(img.shape[1] - mm / 25.4 * dpi) <= 1
    assert abs(img.shape[0] - grid.size_mm[1] / 25.4 * dpi) <= 1
    assert data == G.figure_bytes(grid, "png", dpi), "PNG bytes are deterministic"
    assert b"Software" not in data[:400] and b"tIME" not in data


def test_pdf_is_one_page_of_the_width_with_vector_text_and_native_images():
    pypdf = pytest.importorskip("pypdf", reason="the test extra's PDF reader (pip install pypdf)")
    grid = _synthetic_grid("single", h=90, w=150)
    data = G.figure_bytes(grid, "pdf")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert float(page.mediabox.width) / 72 * 25.4 == pytest.approx(85.0, abs=0.1)
    assert float(page.mediabox.height) / 72 * 25.4 == pytest.approx(grid.size_mm[1], abs=0.1)
    text = page.extract_text()
    assert "sample.jpg" in text and "circle 0.91" in text and "spatial gate" in text   # text, not paths
    # image sizes from the XObject dictionaries (not decoded: Ultralytics, imported by other tests,
    # patches PIL.Image.open in a way pypdf's decoder trips over)
    xobjects = page["/Resources"]["/XObject"].get_object()
    sizes = [(int(x["/Width"]), int(x["/Height"])) for x in (xobjects[k].get_object() for k in xobjects)
             if x.get("/Subtype") == "/Image"]
    assert sizes.count((150, 90)) == 3, f"heat images not embedded at their native 150x90: {sizes}"
    assert data == G.figure_bytes(grid, "pdf"), "PDF bytes are deterministic (no creation date)"


def test_svg_parses_as_xml_with_text_elements_and_the_width():
    grid = _synthetic_grid("double")
    data = G.figure_bytes(grid, "svg")
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    width_pt = float(root.get("width").rstrip("pt"))
    assert width_pt / 72 * 25.4 == pytest.approx(175.0, abs=0.1)
    ns = "{http://www.w3.org/2000/svg}"
    texts = ["".join(t.itertext()) for t in root.iter(ns + "text")]
    assert any("sample.jpg" in t for t in texts) and any("circle 0.91" in t for t in texts)
    assert len(list(root.iter(ns + "image"))) >= 3
    assert len(list(root.iter(ns + "path"))) > 0     # the box is a vector rectangle
    assert data == G.figure_bytes(grid, "svg"), "SVG bytes are deterministic (no date, fixed ids)"


def test_width_in_mm_and_bad_widths():
    grid = _synthetic_grid(120)
    assert grid.size_mm[0] == 120.0
    for bad in ("triple", 10, "-5"):
        with pytest.raises(G.GridError, match="width"):
            _synthetic_grid(bad)


def test_unknown_format_and_bad_dpi_are_refused():
    grid = _synthetic_grid("single")
    with pytest.raises(G.GridError, match="jpeg"):
        G.figure_bytes(grid, "jpeg")
    with pytest.raises(G.GridError, match="dpi"):
        G.figure_bytes(grid, "png", 10)


# ----------------------------------------------------------------------------- the CLI: errors before work
def _run(capsys, *args):
    rc = main(["figure", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(err):
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("gam-viewer: error:"), err
    assert "Traceback" not in err
    return lines[0]


def test_cli_bad_column_is_a_one_line_error(tmp_path, capsys):
    rc, _, err = _run(capsys, "--model", GAM_DEMO, "--source", SAMPLES / "synth_01.jpg", "--columns", "input,L19,camm",
                      "--out", tmp_path / "f.png")
    assert rc == 2 and "camm" in _one_line_error(err)
    assert not list(tmp_path.iterdir())


def test_cli_unreadable_and_missing_images_are_named(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a JPEG")
    rc, _, err = _run(capsys, "--model", GAM_DEMO, "--source", SAMPLES / "synth_01.jpg", bad, "--out",
                      tmp_path / "f.png")
    assert rc == 2 and "broken.jpg" in _one_line_error(err)
    rc, _, err = _run(capsys, "--model", GAM_DEMO, "--source", tmp_path / "nope.png", "--out", tmp_path / "f.png")
    assert rc == 2 and "nope.png" in _one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jpg"]


def test_cli_never_overwrites_and_checks_the_suffix(tmp_path, capsys):
    out = tmp_path / "f.pdf"
    out.write_bytes(b"mine")
    rc, _, err = _run(capsys, "--model", GAM_DEMO, "--source", SAMPLES / "synth_01.jpg", "--out", out)
    assert rc == 2 and "f.pdf" in _one_line_error(err) and "--force" in err
    assert out.read_bytes() == b"mine"
    (tmp_path / "g.json").write_text("{}")
    rc, _, err = _run(capsys, "--model", GAM_DEMO, "--source", SAMPLES / "synth_01.jpg", "--out", tmp_path / "g.png")
    assert rc == 2 and "g.json" in _one_line_error(err), "the sidecar is not overwritten either"
    rc, _, err = _run(capsys, "--model", GAM_DEMO, "--source", SAMPLES / "synth_01.jpg", "--out", tmp_path / "g.jpg")
    assert rc == 2 and ".pdf, .svg or .png" in _one_line_error(err)


def test_cli_layer_that_is_not_gam_lists_the_gam_layers(tmp_path, capsys):
    rc, _, err = _run(capsys, "--model", GAM_DEMO, "--source", SAMPLES / "synth_01.jpg", "--columns", "input,L5",
                      "--out", tmp_path / "f.png", "--imgsz", "64", "--quiet")
    line = _one_line_error(err)
    assert rc == 2 and "L5" in line and "9, 19, 23, 27" in line
    rc, _, err = _run(capsys, "--model", GAM_DEMO, "--source", SAMPLES / "synth_01.jpg", "--columns",
                      "input,baseline-cam", "--out", tmp_path / "f.png", "--quiet")
    assert rc == 2 and "--baseline" in _one_line_error(err)
    assert not list(tmp_path.iterdir())


def test_from_refuses_other_options_and_foreign_json(tmp_path, capsys):
    side = tmp_path / "x.json"
    side.write_text(json.dumps({"kind": "something else"}))
    rc, _, err = _run(capsys, "--from", side, "--out", tmp_path / "y.png")
    assert rc == 2 and "not a gam-viewer figure sidecar" in _one_line_error(err)
    rc, _, err = _run(capsys, "--from", side, "--dpi", "600")
    assert rc == 2 and "--dpi" in _one_line_error(err)


# ----------------------------------------------------------------------------- the CLI end to end
@pytest.mark.slow
def test_cli_writes_every_format_and_a_sidecar_that_regenerates_the_same_png(tmp_path, capsys):
    out = tmp_path / "fig.png"
    srcs = [SAMPLES / "synth_01.jpg", SAMPLES / "synth_02.jpg"]
    rc, stdout, err = _run(capsys, "--model", GAM_DEMO, "--baseline", BASE_DEMO, "--source", *srcs,
                           "--columns", "input,baseline-cam,model-cam,L19,L23:channel", "--imgsz", "160",
                           "--width", "single", "--out", out, "--also", "pdf", "svg", "--quiet")
    assert rc == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.json", "fig.pdf", "fig.png", "fig.svg"]
    png = cv2.imread(str(out))
    assert abs(png.shape[1] - 85 / 25.4 * 300) <= 1
    side = json.loads((tmp_path / "fig.json").read_text())
    assert side["model"]["sha256"] == G.sha256_file(GAM_DEMO)
    assert side["baseline"]["sha256"] == G.sha256_file(BASE_DEMO)
    assert [im["sha256"] for im in side["images"]] == [G.sha256_file(p) for p in srcs]
    assert side["images"][0]["size_wh"] == list(cv2.imread(str(srcs[0])).shape[1::-1])
    assert side["options"]["columns"] == ["input", "baseline-cam", "model-cam", "L19", "L23:channel"]
    assert side["image_size"]["imgsz"] == 160 and side["thresholds"] == {"conf": 0.25, "iou": 0.45}
    assert side["cam"]["method"] == "eigen" and side["cam"]["layers"]["model"]
    assert all(g["channel_sigmoid"] for g in side["model"]["gam"])
    keys = {s["key"] for s in side["normalisation"]["scales"]}
    assert keys == {"cam", "spatial", "channel"} and not side["normalisation"]["per_image"]
    assert side["gam_viewer_version"] and side["command"].startswith("gam-viewer figure --model")
    assert side["figure"]["outputs"] == ["fig.png", "fig.pdf", "fig.svg"]

    again = tmp_path / "again" / "fig.png"
    again.parent.mkdir()
    rc, _, err = _run(capsys, "--from", tmp_path / "fig.json", "--out", again, "--quiet")
    assert rc == 0, err
    assert again.read_bytes() == out.read_bytes(), "the sidecar regenerates a byte-identical PNG"
    assert sorted(p.name for p in again.parent.iterdir()) == ["fig.json", "fig.png"]
    rc, _, err = _run(capsys, "--from", tmp_path / "fig.json", "--out", again, "--quiet")
    assert rc == 2 and "already exists" in _one_line_error(err)


@pytest.mark.slow
def test_from_refuses_a_changed_image(tmp_path, capsys):
    img = tmp_path / "pic.jpg"
    img.write_bytes((SAMPLES / "synth_03.jpg").read_bytes())
    rc, _, err = _run(capsys, "--model", GAM_DEMO, "--source", img, "--columns", "input,L19", "--imgsz", "96",
                      "--out", tmp_path / "f.png", "--quiet")
    assert rc == 0, err
    img.write_bytes((SAMPLES / "synth_04.jpg").read_bytes())
    rc, _, err = _run(capsys, "--from", tmp_path / "f.json", "--out", tmp_path / "g.png")
    assert rc == 2 and "pic.jpg changed" in _one_line_error(err)


def test_from_eval_picks_the_most_disagreeing_images(tmp_path):
    from gam_viewer.cli.figure import FigureError, eval_sources

    (tmp_path / "per_image.csv").write_text("image,disagreement,tp\n"
                                            "a.jpg,0.1,3\nb.jpg,0.9,1\nc.jpg,nan,0\nd.jpg,0.5,2\n")
    got = eval_sources(str(tmp_path), 2)
    assert [Path(p).name for p in got] == ["b.jpg", "d.jpg"]
    assert Path(got[0]).parent == tmp_path          # no report.json: relative to the report folder
    # a real eval report names images relative to its dataset's folder (report.json: dataset.source)
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "images" / "b.jpg").write_bytes(b"x")
    (data / "data.yaml").write_text("val: images\n")
    (tmp_path / "report.json").write_text(json.dumps({"dataset": {"source": str(data / "data.yaml")}}))
    (tmp_path / "per_image.csv").write_text("image,disagreement\nimages/b.jpg,2\nimages/a.jpg,1\n")
    got = eval_sources(str(tmp_path), 2)
    assert got == [str(data / "images" / "b.jpg"), str(data / "images" / "a.jpg")]
    (tmp_path / "per_image.csv").write_text("image,score\na.jpg,1\n")
    with pytest.raises(FigureError, match="disagreement"):
        eval_sources(str(tmp_path), 2)
    with pytest.raises(FigureError, match="per_image.csv"):
        eval_sources(str(tmp_path / "none"), 2)
