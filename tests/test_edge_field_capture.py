"""Field failures of the capture stage, each against a small hostile server on 127.0.0.1 and the
systemd watchdog emulated (NOTIFY_SOCKET + WATCHDOG_USEC):

1. a trickling stream, or one 12 MB part sent slowly, must not make capture look hung: the per-frame
   deadline disconnects it and the daemon keeps pinging;
2. a camera that is down must not look like a hung daemon: the backoff waits keep the heartbeat,
   the keep-alives keep coming, and the outage length is recorded when the camera returns;
and a SIGTERM during a read is not reported as a server failure.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from edge.chaos import ChaosMjpegServer
from tests.edge_bundle_fixture import build_test_bundle, encode_jpeg, synthetic_frame
from tests.helpers.notify_socket import NotifySocket

WATCHDOG_USEC = 2_000_000  # WatchdogSec=2: the daemon pings every second


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_test_bundle(tmp_path_factory.mktemp("bundle") / "b")


@pytest.fixture
def notify(tmp_path: Path, monkeypatch):
    ns = NotifySocket(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", ns.address)
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    yield ns
    ns.close()


def _frames() -> list[bytes]:
    return [encode_jpeg(synthetic_frame(160, 120, seed=s, crack=s % 2 == 0)) for s in range(4)]


def _run_daemon_for(cfg_dict: dict, seconds: float, during=None):
    """Run the daemon in this process for `seconds`, then stop it; (exit code, daemon, wall seconds)."""
    from edge.config import EdgeConfig
    from edge.daemon import Daemon

    daemon = Daemon(EdgeConfig.model_validate(cfg_dict))
    result: dict = {}
    th = threading.Thread(target=lambda: result.setdefault("code", daemon.run(install_signals=False)), daemon=True)
    t0 = time.monotonic()
    th.start()
    if during is not None:
        during(daemon)
    deadline = t0 + seconds
    while time.monotonic() < deadline and th.is_alive():
        time.sleep(0.05)
    daemon.stop.set()
    th.join(15)
    assert not th.is_alive(), "the daemon did not stop"
    return result.get("code"), daemon, time.monotonic() - t0


def _ping_gaps(ns: NotifySocket) -> list[float]:
    pings = [t for t, m in ns.messages if m == "WATCHDOG=1"]
    return [b - a for a, b in zip(pings, pings[1:])]


def _config(bundle: Path, url: str, out: Path, **source) -> dict:
    src = {"kind": "http_mjpeg", "url": url, "connect_timeout_s": 1.0, "read_timeout_s": 1.0, "frame_timeout_s": 1.5,
           "reconnect_initial_s": 0.2, "reconnect_max_s": 0.5, "stall_timeout_s": 3.0}
    src.update(source)
    return {
        "source": src,
        "model": {"bundle": str(bundle)},
        "save": {"out_dir": str(out), "fsync": False},
        "disk": {"min_free_mb": 1},
        "preview": {"enabled": False},
        "pipeline": {"drain_timeout_s": 2.0},
        "watchdog": {"stage_timeout_s": 2.5, "exit_after_s": 2.5, "check_interval_s": 0.1},
        "status_interval_s": 1.0,
    }


@pytest.mark.parametrize("event", ["trickle", "large"])
def test_trickling_stream_or_one_slow_large_part_does_not_hang_capture(bundle, tmp_path, notify, caplog, event) -> None:
    # trickle: one byte every 0.25 s (each read succeeds, so read_timeout_s never fires);
    # large: a 12 MB part (under the 16 MB cap) at 320 KB/s. Both used to keep capture busy forever.
    with ChaosMjpegServer(_frames(), fps=10, script=["frame", event], then=event, trickle_period_s=0.25,
                          large_rate_bps=320 * 1024) as server:
        with caplog.at_level(logging.INFO):
            code, daemon, wall = _run_daemon_for(_config(bundle, server.url, tmp_path / "out"), 7.0)
    src = daemon.metrics.source.snapshot()
    assert code == 0, caplog.text
    assert "is hung" not in caplog.text
    assert daemon.watchdog.hang_events == 0
    assert src["frame_timeouts"] >= 2 and src["reconnects"] >= 2, src
    assert "no complete frame within frame_timeout_s=1.5 s" in src["last_error"]
    assert src["frames"] >= 2  # the first good frame of each connection got through
    gaps = _ping_gaps(notify)
    assert len(gaps) >= 4 and max(gaps) < WATCHDOG_USEC / 1e6, gaps


def test_camera_down_keeps_the_watchdog_fed_and_records_the_outage(bundle, tmp_path, notify, caplog) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there: connection refused, like a camera that is off
    url = f"http://127.0.0.1:{port}/?action=stream"
    servers: list[ChaosMjpegServer] = []

    def camera_comes_back(_daemon) -> None:
        time.sleep(4.5)  # two backoff waits of 2 s, each longer than the 1.5 s hang threshold
        servers.append(ChaosMjpegServer(_frames(), fps=10, port=port).start())

    cfg = _config(bundle, url, tmp_path / "out", reconnect_initial_s=2.0, reconnect_max_s=2.0,
                  connect_timeout_s=0.5, read_timeout_s=0.5, frame_timeout_s=1.0)
    cfg["watchdog"] = {"stage_timeout_s": 1.5, "exit_after_s": 1.5, "check_interval_s": 0.1}
    try:
        with caplog.at_level(logging.INFO):
            code, daemon, _ = _run_daemon_for(cfg, 8.0, during=camera_comes_back)
    finally:
        for s in servers:
            s.stop()
    assert code == 0, caplog.text
    assert "is hung" not in caplog.text and daemon.watchdog.hang_events == 0
    gaps = _ping_gaps(notify)
    assert len(gaps) >= 5 and max(gaps) < WATCHDOG_USEC / 1e6, gaps
    src = daemon.metrics.source.snapshot()
    assert src["reconnects"] == 0  # never connected before: the first open is not a reconnect
    assert src["frames"] >= 5 and src["state"] in ("connected", "stopped")
    assert "cannot open http_mjpeg" in caplog.text


def test_reconnect_after_a_drop_logs_and_reports_the_outage_length(bundle, tmp_path, caplog) -> None:
    from edge.capture import CaptureOptions, CaptureWorker
    from edge.metrics import Metrics
    from edge.queues import StageQueue
    from edge.sources.http_mjpeg import HttpMjpegSource
    from edge.watchdog import Heartbeat

    server = ChaosMjpegServer(_frames(), fps=20, script=["frame", "frame", "disconnect"]).start()
    port = server.port
    metrics = Metrics()
    stop = threading.Event()
    q = StageQueue("capture", 4, "latest")
    src = HttpMjpegSource(server.url, (96, 96), connect_timeout_s=0.5, read_timeout_s=0.5, frame_timeout_s=1.0)
    worker = CaptureWorker(src, q, stop, threading.Event(), Heartbeat("capture"), metrics,
                           CaptureOptions(reconnect_initial_s=0.3, reconnect_max_s=0.6, stall_timeout_s=2.0))
    with caplog.at_level(logging.WARNING):
        worker.start()
        deadline = time.monotonic() + 5
        while server.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.stop()  # after two frames the camera disconnects and is gone for ~2 s
        time.sleep(2.0)
        back = ChaosMjpegServer(_frames(), fps=20, port=port).start()
        try:
            deadline = time.monotonic() + 6
            while metrics.source.get("reconnects") < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.interrupt()
            worker.join(5)
            back.stop()
    s = metrics.source.snapshot()
    assert s["reconnects"] == 1, caplog.text
    assert 1.5 <= s["last_outage_s"] <= 5.0 and s["outage_s_total"] == s["last_outage_s"]
    assert "reconnected after a" in caplog.text and "s outage" in caplog.text


def test_sigterm_during_a_read_is_not_reported_as_a_server_failure(caplog) -> None:
    from edge.capture import CaptureOptions, CaptureWorker
    from edge.metrics import Metrics
    from edge.queues import StageQueue
    from edge.sources.http_mjpeg import HttpMjpegSource
    from edge.watchdog import Heartbeat

    with ChaosMjpegServer(_frames(), fps=2) as server:
        metrics = Metrics()
        stop = threading.Event()
        src = HttpMjpegSource(server.url, (96, 96), read_timeout_s=5.0, frame_timeout_s=8.0)
        worker = CaptureWorker(src, StageQueue("capture", 4, "latest"), stop, threading.Event(), Heartbeat("capture"),
                               metrics, CaptureOptions())
        with caplog.at_level(logging.INFO):
            worker.start()
            deadline = time.monotonic() + 5
            while metrics.source.get("frames") < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.1)  # now blocked in a read (the next frame is 0.5 s away)
            stop.set()
            worker.interrupt()  # what Pipeline.request_stop does on SIGTERM
            worker.join(5)
    assert not worker.is_alive()
    assert "server closed the stream" not in caplog.text and "retrying" not in caplog.text
    assert metrics.source.get("state") == "stopped" and metrics.source.get("reconnects") == 0


def test_an_unexpected_error_opening_the_source_is_retried_like_a_camera_that_is_down(bundle, tmp_path, caplog,
                                                                                        monkeypatch) -> None:
    """An exception that is not a SourceError while opening (http.client raises UnicodeError for a host
    name like cam..local) used to end capture, and the daemon then exited 0 as if the drive had ended."""
    from edge.sources.http_mjpeg import HttpMjpegSource

    real_open, calls = HttpMjpegSource.open, []

    def open_fails_twice(self) -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise UnicodeError("label empty or too long")
        real_open(self)

    monkeypatch.setattr(HttpMjpegSource, "open", open_fails_twice)
    with ChaosMjpegServer(_frames(), fps=10) as server:
        with caplog.at_level(logging.INFO):
            code, daemon, _ = _run_daemon_for(_config(bundle, server.url, tmp_path / "out"), 4.0)
    assert code == 0, caplog.text
    assert "unexpected error opening" in caplog.text and "UnicodeError" in caplog.text
    src = daemon.metrics.source.snapshot()
    assert len(calls) >= 3 and src["frames"] >= 3, src
    assert "capture died" not in caplog.text


def test_a_stage_that_dies_makes_the_daemon_exit_non_zero_for_systemd_to_restart(bundle, tmp_path, caplog,
                                                                                  monkeypatch) -> None:
    """The other stages drain after a dead capture and the pipeline 'finishes'; that is a failure (exit 3,
    Restart=on-failure restarts the service), not the end of the source (exit 0, no restart)."""
    from edge import capture as capture_mod
    from edge.daemon import EXIT_HUNG

    made = []

    class FrameThatBreaks(capture_mod.Frame):
        def __init__(self, *a, **k) -> None:
            made.append(1)
            if len(made) == 3:
                raise MemoryError("simulated")
            super().__init__(*a, **k)

    monkeypatch.setattr(capture_mod, "Frame", FrameThatBreaks)
    with ChaosMjpegServer(_frames(), fps=10) as server:
        with caplog.at_level(logging.INFO):
            code, daemon, wall = _run_daemon_for(_config(bundle, server.url, tmp_path / "out"), 10.0)
    assert code == EXIT_HUNG, caplog.text
    assert "capture died" in caplog.text and "pipeline stopped because stage capture died" in caplog.text
    assert "pipeline finished (source ended)" not in caplog.text
    assert wall < 9.0  # it did not wait for the watchdog or the test's stop


def test_shutdown_cuts_short_an_open_waiting_for_the_response_header() -> None:
    from edge.sources.base import SourceError
    from edge.sources.http_mjpeg import HttpMjpegSource

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection (the kernel does) and never answers
    try:
        port = listener.getsockname()[1]
        src = HttpMjpegSource(f"http://127.0.0.1:{port}/?action=stream", (96, 96), connect_timeout_s=1.0,
                              read_timeout_s=5.0)
        outcome: dict = {}

        def opener() -> None:
            t0 = time.monotonic()
            try:
                src.open()
            except SourceError as err:
                outcome["error"] = str(err)
            outcome["s"] = time.monotonic() - t0

        th = threading.Thread(target=opener)
        th.start()
        time.sleep(0.5)
        src.interrupt()  # what Pipeline.request_stop does on SIGTERM
        th.join(10)
        assert "error" in outcome and outcome["s"] < 2.0, outcome  # not the 6 s open budget
    finally:
        listener.close()
