"""Official YOLOv5 checkpoints on request (engine.zoo, Models ▸ Download, `gam-viewer fetch`).

Everything is served by a local HTTP server on 127.0.0.1 (GAM_VIEWER_ZOO_URL / base_url), the
cache is a temporary folder (GAM_VIEWER_CACHE): no test touches the real network or ~/.cache.
"""

import hashlib
import http.server
import json
import os
import socket
import sys
import threading
from pathlib import Path

import pytest

from gam_viewer import hub as zoo

from shared_data import SHARED  # noqa: E402

SHARED_N = SHARED / "weights" / "yolov5n.pt"


def fake_checkpoint(size=300_000, seed=1) -> bytes:
    """Bytes that start like a torch zip archive (the zoo checks the first bytes)."""
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (b"PK\x03\x04" + body)[:size]


class Server:
    """A threaded HTTP server with a table of path -> bytes; counts the requests per path."""

    def __init__(self, files):
        self.files = dict(files)
        self.hits = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server name
                server.hits.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v7.0"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path))
    folder = tmp_path / "weights"
    monkeypatch.delenv("GAM_VIEWER_ZOO_URL", raising=False)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)   # the local server is reached directly
    return folder


@pytest.fixture()
def serve():
    servers = []

    def start(files):
        s = Server({f"/v7.0/{name}": body for name, body in files.items()})
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v7.0"


def leftovers(folder: Path):
    """Files in the cache other than finished checkpoints and checksums.json (temp or partial files)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.exists() else []


# ----------------------------------------------------------------------------- where
def test_cache_folder_follows_env_and_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("GAM_VIEWER_CACHE", str(tmp_path / "mine"))
    assert zoo.cache_dir() == tmp_path / "mine" / "weights"
    monkeypatch.delenv("GAM_VIEWER_CACHE")
    if os.name == "nt" or sys.platform == "darwin":
        pytest.skip("XDG_CACHE_HOME applies on Linux only")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert zoo.cache_dir() == tmp_path / "xdg" / "gam-viewer" / "weights"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert zoo.cache_dir() == Path.home() / ".cache" / "gam-viewer" / "weights"


def test_urls_and_names(monkeypatch):
    monkeypatch.delenv("GAM_VIEWER_ZOO_URL", raising=False)
    assert list(zoo.OFFICIAL) == ["yolov5n", "yolov5s", "yolov5m", "yolov5l", "yolov5x"]
    assert zoo.url_for("yolov5s") == "https://github.com/ultralytics/yolov5/releases/download/v7.0/yolov5s.pt"
    assert zoo.url_for("YOLOv5x.pt", "http://mirror/w/") == "http://mirror/w/yolov5x.pt"
    monkeypatch.setenv("GAM_VIEWER_ZOO_URL", "http://local:8/x")
    assert zoo.url_for("yolov5m") == "http://local:8/x/yolov5m.pt"
    with pytest.raises(zoo.ZooError, match="unknown official checkpoint 'yolov9'.*yolov5n"):
        zoo.checkpoint("yolov9")


def test_import_does_not_touch_the_network(monkeypatch):
    import importlib

    def no(*args, **kwargs):
        raise AssertionError("network used at import")

    for attr in ("getaddrinfo", "create_connection"):
        monkeypatch.setattr(socket, attr, no)
    monkeypatch.setattr(socket.socket, "connect", no)
    importlib.reload(zoo)
    assert zoo.cache_dir() and zoo.url_for("yolov5s")


# ----------------------------------------------------------------------------- download
def test_download_verifies_records_and_caches(cache, serve):
    body = fake_checkpoint()
    server = serve({"yolov5s.pt": body})
    calls = []
    path = zoo.fetch("yolov5s", progress=lambda d, t: calls.append((d, t)), base_url=server.url)
    assert path == cache / "yolov5s.pt" and path.read_bytes() == body
    digest = hashlib.sha256(body).hexdigest()
    assert json.loads((cache / "checksums.json").read_text()) == {"yolov5s.pt": digest}
    assert zoo.recorded_sha256("yolov5s") == digest
    assert calls[0] == (0, len(body)) and calls[-1] == (len(body), len(body)) and len(calls) > 2
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert leftovers(cache) == []
    assert server.hits == ["/v7.0/yolov5s.pt"]

    # cached: no second request, same path, checked against the record
    again = zoo.fetch("yolov5s.pt", base_url=server.url)
    assert again == path and server.hits == ["/v7.0/yolov5s.pt"]
    assert zoo.cached_path("yolov5s") == path and zoo.cached_path("yolov5m") is None


def test_env_url_is_used(cache, serve, monkeypatch):
    server = serve({"yolov5m.pt": fake_checkpoint(5000)})
    monkeypatch.setenv("GAM_VIEWER_ZOO_URL", server.url + "/")
    assert zoo.fetch("yolov5m").is_file()
    assert server.hits == ["/v7.0/yolov5m.pt"]


def test_published_hash_mismatch_is_refused_and_nothing_kept(cache, serve):
    body = fake_checkpoint(seed=7)
    server = serve({"yolov5n.pt": body})
    with pytest.raises(zoo.ZooError) as err:
        zoo.fetch("yolov5n", base_url=server.url)
    msg = str(err.value)
    assert "yolov5n.pt" in msg and hashlib.sha256(body).hexdigest() in msg
    assert zoo.OFFICIAL["yolov5n"].sha256 in msg and "not kept" in msg and "\n" not in msg
    assert not (cache / "yolov5n.pt").exists() and leftovers(cache) == []
    assert not (cache / "checksums.json").exists()


def test_tampered_cached_file_is_detected(cache, serve):
    server = serve({"yolov5s.pt": fake_checkpoint()})
    path = zoo.fetch("yolov5s", base_url=server.url)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match=r"yolov5s\.pt: sha256 .* does not match .*recorded.*delete it"):
        zoo.fetch("yolov5s", base_url=server.url)
    assert server.hits == ["/v7.0/yolov5s.pt"]   # a bad cached file is reported, not silently replaced


def test_hand_copied_file_is_recorded_on_first_use(cache):
    cache.mkdir(parents=True)
    body = fake_checkpoint(2000)
    (cache / "yolov5l.pt").write_bytes(body)
    assert zoo.fetch("yolov5l", base_url=closed_port_url()) == cache / "yolov5l.pt"   # no network needed
    assert zoo.recorded_sha256("yolov5l") == hashlib.sha256(body).hexdigest()


def test_broken_checksums_file_is_named(cache):
    cache.mkdir(parents=True)
    (cache / "checksums.json").write_text("{not json")
    with pytest.raises(zoo.ZooError, match="checksums.json: cannot read the recorded checksums"):
        zoo.fetch("yolov5s", base_url=closed_port_url())


def test_cancel_leaves_nothing(cache, serve):
    server = serve({"yolov5x.pt": fake_checkpoint(1_000_000)})
    seen = []
    with pytest.raises(zoo.FetchCancelled, match="cancelled"):
        zoo.fetch("yolov5x", progress=lambda d, t: seen.append(d), cancel=lambda: len(seen) >= 3,
                  base_url=server.url)
    assert 0 < seen[-1] < 1_000_000
    assert list(cache.iterdir()) == []


def test_closed_port_says_why_in_one_line(cache):
    url = closed_port_url()
    with pytest.raises(zoo.ZooError) as err:
        zoo.fetch("yolov5s", base_url=url, timeout=5)
    msg = str(err.value)
    assert msg.startswith("cannot download yolov5s.pt: 127.0.0.1:") and "refused" in msg
    assert str(cache) in msg and "File > Open" in msg and "\n" not in msg
    assert leftovers(cache) == [] and not (cache / "yolov5s.pt").exists()


def test_unresolvable_host_says_no_network(cache, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(zoo.ZooError, match=r"cannot download yolov5m\.pt: no network connection "
                                           r"\(github\.com unreachable: Name or service not known\)"):
        zoo.fetch("yolov5m", timeout=5)
    assert leftovers(cache) == []


def test_http_404_is_reported(cache, serve):
    server = serve({})
    with pytest.raises(zoo.ZooError, match=r"cannot download yolov5s\.pt: the server answered HTTP 404 .*"
                                           r"yolov5s\.pt"):
        zoo.fetch("yolov5s", base_url=server.url)
    assert leftovers(cache) == [] and not (cache / "yolov5s.pt").exists()


def test_not_a_checkpoint_is_refused(cache, serve):
    server = serve({"yolov5s.pt": b"<html>please log in</html>"})
    with pytest.raises(zoo.ZooError, match="did not send a checkpoint"):
        zoo.fetch("yolov5s", base_url=server.url)
    assert list(cache.iterdir()) == []


@pytest.mark.shared("weights/yolov5n.pt")
def test_real_yolov5n_from_local_server_opens_with_load_model(cache, serve):
    server = serve({"yolov5n.pt": SHARED_N.read_bytes()})
    path = zoo.fetch("yolov5n", base_url=server.url)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == zoo.OFFICIAL["yolov5n"].sha256
    assert zoo.recorded_sha256("yolov5n") == zoo.OFFICIAL["yolov5n"].sha256
    from gam_viewer import load_model

    det = load_model(path)
    assert det.nc == 80 and det.names[0] == "person" and not det.has_gam


# ----------------------------------------------------------------------------- CLI
def test_cli_fetch(cache, serve, capsys):
    from gam_viewer.app import main

    server = serve({"yolov5s.pt": fake_checkpoint(4000)})
    assert main(["fetch", "yolov5s", "--url", server.url]) == 0
    assert capsys.readouterr().out.strip() == str(cache / "yolov5s.pt")
    assert main(["fetch", "--list"]) == 0
    out = capsys.readouterr().out
    assert "yolov5s  cached" in out and "yolov5x  about 166 MB" in out
    assert main(["fetch", "yolov5q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gam-viewer: error: unknown official checkpoint") and err.count("\n") == 1
    assert main(["fetch", "yolov5m", "--url", closed_port_url(), "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert "cannot download yolov5m.pt" in err and err.count("\n") == 1 and "Traceback" not in err


# ----------------------------------------------------------------------------- the window
def _zoo_actions(win):
    return {a.data(): a for a in win.actions_.zoo_menu.actions() if a.data()}


def test_menu_lists_the_checkpoints(qtbot, make_window, cache):
    pytest.importorskip("pytestqt")
    cache.mkdir(parents=True)
    (cache / "yolov5m.pt").write_bytes(fake_checkpoint(100))
    win = make_window()
    acts = _zoo_actions(win)
    assert list(acts) == list(zoo.OFFICIAL)
    assert win.actions_.zoo_menu.menuAction() in win.menuBar().actions()[1].menu().actions()
    assert acts["yolov5m"].text().endswith("(cached)")
    assert "download" in acts["yolov5x"].text() and "166 MB" in acts["yolov5x"].text()


def test_failed_download_shows_why_and_window_keeps_working(qtbot, make_window, cache, monkeypatch):
    pytest.importorskip("pytestqt")
    from gam_viewer.ui import zoo_dialog

    monkeypatch.setenv("GAM_VIEWER_ZOO_URL", closed_port_url())
    asked = []
    monkeypatch.setattr(zoo_dialog, "ask_confirmation", lambda parent, title, text: asked.append(text) or True)
    win = make_window()
    with qtbot.waitSignal(win.zoo.finished, timeout=10000) as blocker:
        _zoo_actions(win)["yolov5s"].trigger()
    assert blocker.args == ["yolov5s", ""]
    assert "yolov5s.pt" in asked[0] and os.environ["GAM_VIEWER_ZOO_URL"] in asked[0]
    box = win.zoo.error_box
    assert box is not None and box.isVisible() and box.text().startswith("cannot download yolov5s.pt")
    assert any(m.startswith("cannot download yolov5s.pt") for m in win.messages)
    assert win.zoo.busy is None and win.zoo.progress_dialog is None
    assert all(a.isEnabled() for a in _zoo_actions(win).values())
    assert leftovers(cache) == []
    box.close()
    # still usable: a second try runs (and fails the same way), the window reports as before
    with qtbot.waitSignal(win.zoo.finished, timeout=10000):
        win.zoo.request("yolov5n")
    assert len(asked) == 2 and win.isVisible()


def test_declined_confirmation_downloads_nothing(qtbot, make_window, cache, serve, monkeypatch):
    pytest.importorskip("pytestqt")
    from gam_viewer.ui import zoo_dialog

    server = serve({"yolov5s.pt": fake_checkpoint()})
    monkeypatch.setenv("GAM_VIEWER_ZOO_URL", server.url)
    monkeypatch.setattr(zoo_dialog, "ask_confirmation", lambda *a: False)
    win = make_window()
    win.zoo.request("yolov5s")
    qtbot.wait(100)
    assert server.hits == [] and win.zoo.busy is None and not cache.exists()


@pytest.mark.shared("weights/yolov5n.pt")
def test_download_opens_in_the_baseline_pane(qtbot, make_window, cache, serve, monkeypatch):
    pytest.importorskip("pytestqt")
    from gam_viewer.ui import zoo_dialog

    server = serve({"yolov5n.pt": SHARED_N.read_bytes()})
    monkeypatch.setenv("GAM_VIEWER_ZOO_URL", server.url)
    monkeypatch.setattr(zoo_dialog, "ask_confirmation", lambda *a: True)
    win = make_window()
    with qtbot.waitSignal(win.models_changed, timeout=20000,
                          check_params_cb=lambda side, info: side == "baseline" and info is not None) as blocker:
        _zoo_actions(win)["yolov5n"].trigger()
        assert win.zoo.progress_dialog is not None   # shown while the worker downloads
    info = blocker.args[1]
    assert info.label == "yolov5n.pt" and len(info.names) == 80
    assert Path(info.spec.source) == cache / "yolov5n.pt"
    assert _zoo_actions(win)["yolov5n"].text().endswith("(cached)")
    # cached now: no question, no request, verified and opened again
    monkeypatch.setattr(zoo_dialog, "ask_confirmation", lambda *a: pytest.fail("asked for a cached file"))
    with qtbot.waitSignal(win.zoo.finished, timeout=10000) as blocker:
        win.zoo.request("yolov5n")
    assert blocker.args == ["yolov5n", str(cache / "yolov5n.pt")]
    assert server.hits == ["/v7.0/yolov5n.pt"]
