"""sd_notify over a real AF_UNIX datagram socket; the heartbeat watchdog; a daemon with a hung stage."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from crackedge.runtime.backends.base import InferenceBackend
from edge.sdnotify import SdNotifier
from edge.watchdog import HeartbeatRegistry, Watchdog
from tests.edge_bundle_fixture import build_test_bundle, encode_jpeg, synthetic_frame
from tests.helpers.notify_socket import NotifySocket


@pytest.fixture
def notify_path(tmp_path: Path):
    ns = NotifySocket(str(tmp_path / "notify.sock"))
    yield ns
    ns.close()


def _wait(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_sd_notify_path_socket(notify_path) -> None:
    n = SdNotifier(env={"NOTIFY_SOCKET": notify_path.address, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.enabled and n.watchdog_interval_s() == 2.0
    assert n.ready("running") and n.watchdog() and n.status("capture 10 fps") and n.stopping()
    assert _wait(lambda: len(notify_path.messages) == 4)
    assert notify_path.texts() == ["READY=1\nSTATUS=running", "WATCHDOG=1", "STATUS=capture 10 fps", "STOPPING=1"]
    n.close()


def test_sd_notify_abstract_socket() -> None:
    name = f"@crackedge-test-{uuid.uuid4().hex}"
    ns = NotifySocket(name)
    try:
        n = SdNotifier(env={"NOTIFY_SOCKET": name})
        assert n.ready()
        assert _wait(lambda: ns.texts() == ["READY=1"])
    finally:
        ns.close()


def test_sd_notify_disabled_and_watchdog_for_another_pid() -> None:
    n = SdNotifier(env={})
    assert not n.enabled and n.ready() is False
    assert SdNotifier(env={"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_interval_s() is None


def test_watchdog_pings_while_healthy_and_stops_when_a_stage_hangs(notify_path) -> None:
    registry = HeartbeatRegistry()
    healthy = registry.register("capture")
    stuck = registry.register("postprocess")
    stop, fatal = threading.Event(), []
    notifier = SdNotifier(env={"NOTIFY_SOCKET": notify_path.address})
    hang = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            healthy.beat()
            if not hang.is_set():
                stuck.beat()
            else:
                stuck.busy(stuck.busy_since or time.monotonic())  # stuck inside one item
            time.sleep(0.02)

    threading.Thread(target=worker, daemon=True).start()
    wd = Watchdog(registry, stop, timeout_s=0.4, exit_after_s=0.6, check_interval_s=0.05, ping=notifier.watchdog,
                  ping_interval_s=0.1, on_fatal=fatal.append)
    wd.start()
    try:
        assert _wait(lambda: notify_path.texts().count("WATCHDOG=1") >= 3, 5.0)
        hang.set()
        hang_at = time.monotonic()
        assert _wait(lambda: "postprocess" in wd.hung_now, 5.0)
        assert _wait(lambda: fatal, 5.0)
        time.sleep(0.3)
        pings_after = [t for t, m in notify_path.messages if m == "WATCHDOG=1" and t > hang_at + 0.45]
        assert pings_after == [], "the watchdog kept pinging while a stage was hung"
        assert "postprocess" in fatal[0] and "capture" not in wd.hung_now
        assert wd.hang_events == 1
    finally:
        stop.set()
        wd.join(2)


class HangingBackend(InferenceBackend):
    """Answers the first `good` requests (all-background logits), then never again (a wedged NCS2)."""

    def __init__(self, good: int, out_shape: tuple[int, ...]) -> None:
        self.n_requests = 2
        self.info = {"device": "FAKE", "precision": "f32", "version": "test", "model_sha256": "00"}
        self.good = good
        self.out_shape = out_shape
        self.started = 0
        self.cb = None

    def infer(self, blob):
        return np.zeros(self.out_shape, np.float32)

    def set_callback(self, callback) -> None:
        self.cb = callback

    def start_async(self, blob, userdata) -> None:
        self.started += 1
        if self.started <= self.good:
            threading.Timer(0.01, self.cb, args=(userdata, np.zeros(self.out_shape, np.float32), None)).start()

    def wait_all(self) -> None:
        raise AssertionError("must not wait on a hung device at exit")


def test_daemon_with_a_hung_stage_stops_pinging_and_exits_non_zero(tmp_path: Path, notify_path, monkeypatch, caplog) -> None:
    import edge.daemon as daemon_mod
    from edge.config import EdgeConfig

    bundle = build_test_bundle(tmp_path / "bundle")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(40):
        (frames / f"{i:03d}.jpg").write_bytes(encode_jpeg(synthetic_frame(96, 96, seed=i, crack=False)))
    backend = HangingBackend(good=5, out_shape=(1, 2, 24, 24))
    monkeypatch.setattr(daemon_mod, "create_backend", lambda cfg, b: (backend, "ir_fp16"))
    monkeypatch.setenv("NOTIFY_SOCKET", notify_path.address)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    cfg = EdgeConfig.model_validate({
        "source": {"kind": "images", "path": str(frames), "rate_fps": 20},
        "model": {"bundle": str(bundle)},
        "save": {"out_dir": str(tmp_path / "out")},
        "preview": {"enabled": False},
        "pipeline": {"drain_timeout_s": 1.0},
        "watchdog": {"stage_timeout_s": 0.5, "exit_after_s": 0.5, "check_interval_s": 0.05},
    })
    t0 = time.monotonic()
    with caplog.at_level("ERROR"):
        code = daemon_mod.Daemon(cfg).run(install_signals=False)
    assert code == daemon_mod.EXIT_HUNG
    assert time.monotonic() - t0 < 15
    texts = notify_path.texts()
    assert texts[0].startswith("READY=1") and "WATCHDOG=1" in texts and any(t.startswith("STOPPING=1") for t in texts)
    assert "stage 'infer' is hung" in caplog.text
    # no ping went out after the hang was logged (receive times are monotonic, log records wall-clock). The
    # listener thread stamps a datagram when it gets the CPU: on a loaded 2-core machine a ping sent just before
    # the hang can be stamped ~0.15 s late, so allow 0.25 s; a watchdog that kept pinging would ping until the
    # exit 0.5 s (exit_after_s) later.
    hang_logged = next(r.created for r in caplog.records if "is hung" in r.getMessage())
    last_ping = max(t for t, m in notify_path.messages if m == "WATCHDOG=1")
    assert last_ping + (time.time() - time.monotonic()) <= hang_logged + 0.25
    run = next((tmp_path / "out" / "runs").iterdir())
    s = json.loads((run / "summary.json").read_text())
    assert s["exit"]["hung"] is True and "infer" in s["exit"]["reason"]


def test_a_stage_that_dies_counts_as_hung_not_finished() -> None:
    from edge.metrics import Metrics
    from edge.pipeline import Worker
    from edge.queues import StageQueue

    registry = HeartbeatRegistry()

    class Broken(Worker):
        def handle(self, item):
            return item

        def finish(self):
            raise RuntimeError("bug while flushing")

    q = StageQueue("in", 2, "block")
    w = Broken("broken", q, threading.Event(), registry.register("broken"), Metrics())
    w.start()
    q.put_end()
    w.join(5)
    assert registry.hung(timeout_s=10.0) == {"broken": "died"}
