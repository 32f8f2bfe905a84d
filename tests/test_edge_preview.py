"""The live preview: /metrics.json with the documented keys, the MJPEG stream, the token, and the
status page rendered by a headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edge.metrics import METRIC_KEYS, Metrics
from edge.preview import FrameHub, PreviewServer
from edge.queues import StageQueue
from edge.sources.http_mjpeg import MultipartJpegReader, parse_boundary
from tests.edge_bundle_fixture import encode_jpeg, synthetic_frame


@pytest.fixture
def server():
    metrics = Metrics()
    metrics.source.set(kind="http_mjpeg", state="connected", frames=42, corrupt=1, reconnects=2)
    metrics.stage("capture").record(0.01)
    metrics.stage("capture").record(0.012)
    metrics.stage("infer").record(0.05)
    metrics.saved.set(frames=7)
    metrics.disk.set(free_mb=1234.5, floor_mb=500.0, saving_paused=False)
    metrics.queues = [StageQueue("capture->preprocess", 2, "latest")]
    hub = FrameHub(max_fps=50)
    hub.publish(encode_jpeg(synthetic_frame(160, 120, seed=1)))
    srv = PreviewServer(hub, metrics.snapshot, "127.0.0.1", 0, token=None)
    srv.start()
    stop = threading.Event()
    frames = [encode_jpeg(synthetic_frame(160, 120, seed=s)) for s in range(4)]

    def publish() -> None:  # a live daemon publishes a few frames per second
        i = 0
        while not stop.wait(0.1):
            i += 1
            hub.publish(frames[i % len(frames)])

    th = threading.Thread(target=publish, daemon=True)
    th.start()
    yield srv
    stop.set()
    th.join()
    srv.stop()


def _get(url: str, headers: dict | None = None, timeout: float = 5.0):
    req = urllib.request.Request(url, headers=headers or {})
    return urllib.request.urlopen(req, timeout=timeout)


def test_metrics_json_has_the_documented_keys(server) -> None:
    with _get(server.url + "metrics.json") as r:
        assert r.headers["Content-Type"] == "application/json"
        m = json.loads(r.read())
    for key in METRIC_KEYS:
        assert key in m, key
    assert m["source"]["reconnects"] == 2 and m["saved"]["frames"] == 7 and m["disk"]["free_mb"] == 1234.5
    assert set(m["stages"]["capture"]) >= {"count", "fps", "latency_ms_mean", "latency_ms_p95", "errors"}
    assert m["queues"]["capture->preprocess"] == {"depth": 0, "maxsize": 2, "policy": "latest", "drops": 0, "puts": 0}
    assert set(m["latency_ms"]) == {"end_to_end_mean", "end_to_end_p95"}
    assert isinstance(m["temperatures_c"], dict) and (m["rss_mb"] is None or m["rss_mb"] > 10)


def test_stream_delivers_jpeg_parts_and_status_page_is_html(server) -> None:
    with _get(server.url + "stream.mjpg") as r:
        ctype = r.headers["Content-Type"]
        assert ctype.startswith("multipart/x-mixed-replace")
        reader = MultipartJpegReader(lambda: r.read1(4096), parse_boundary(ctype))
        server.hub.publish(encode_jpeg(synthetic_frame(160, 120, seed=2)))
        part = reader.next_part()
        assert part.startswith(b"\xff\xd8") and part.rstrip().endswith(b"\xff\xd9")
    with _get(server.url) as r:
        page = r.read().decode()
    assert "stream.mjpg" in page and "metrics" in page and r.headers["Content-Type"].startswith("text/html")
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(server.url + "nope")
    assert err.value.code == 404


def test_token_is_required_when_configured() -> None:
    metrics = Metrics()
    srv = PreviewServer(FrameHub(), metrics.snapshot, "127.0.0.1", 0, token="s3cret-token")
    srv.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(srv.url + "metrics")
        assert err.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            _get(srv.url + "metrics?token=wrong-token")
        with _get(srv.url + "metrics?token=s3cret-token") as r:
            assert "uptime_s" in json.loads(r.read())
        with _get(srv.url + "metrics", headers={"X-Token": "s3cret-token"}) as r:
            assert r.status == 200
        with _get(srv.url + "metrics", headers={"Authorization": "Bearer s3cret-token"}) as r:
            assert r.status == 200
    finally:
        srv.stop()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def _run_chromium(args: list[str], timeout: float = 60.0) -> tuple[str, str]:
    """Run chromium in its own process group; on timeout kill the whole group (no stray renderers)."""
    proc = subprocess.Popen([_chromium(), *CHROMIUM_FLAGS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return out, err


@pytest.mark.browser
def test_status_page_renders_metrics_in_headless_chromium(server, tmp_path: Path) -> None:
    # --timeout stops the navigation after 10 s of real time whatever happens (the stream never ends)
    dom, err = _run_chromium([f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000",
                              "--timeout=10000", "--dump-dom", server.url])
    assert '<span id="status" class="ok">ok</span>' in dom, dom[-2000:] + err[-2000:]
    assert '<td id="saved">7</td>' in dom and '<td id="reconnects">2</td>' in dom
    assert 'id="stage-capture"' in dom and 'id="stage-infer"' in dom
    assert 'src="stream.mjpg"' in dom
    shot = tmp_path / "page.png"
    _run_chromium([f"--user-data-dir={tmp_path / 'profile2'}", "--virtual-time-budget=2000", "--timeout=10000",
                   "--window-size=800,900", f"--screenshot={shot}", server.url])
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
