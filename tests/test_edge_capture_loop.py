"""The capture loop (edge.capture.CaptureWorker) over a scripted source: corrupt frames counted, reopen with
backoff, frames numbered, a prompt stop while the source keeps failing."""

from __future__ import annotations

import threading
import time

import numpy as np

from edge.capture import CaptureOptions, CaptureWorker
from edge.frames import Capture
from edge.metrics import Metrics
from edge.queues import END, QueueEmpty, StageQueue
from edge.sources.base import CorruptFrame, Source, SourceEnded, SourceError, SourceStalled
from edge.watchdog import Heartbeat


# ---- the capture loop --------------------------------------------------------------------------


class ScriptedSource(Source):
    """open()/read() follow a script: 'fail_open', 'frame', 'corrupt', 'stall', 'error', 'end'."""

    kind = "scripted"

    def __init__(self, script: list[str]) -> None:
        super().__init__((32, 32))
        self.script = list(script)
        self.opens = self.closes = 0

    def _next(self) -> str:
        return self.script.pop(0) if self.script else "end"

    def open(self) -> None:
        if self.script and self.script[0] == "fail_open":
            self.script.pop(0)
            raise SourceError("device busy")
        self.opens += 1

    def read(self) -> Capture:
        step = self._next()
        if step == "frame":
            return Capture(image=np.zeros((8, 8, 3), np.uint8), t_wall=time.time(), t_mono=time.monotonic(), full_size=(8, 8))
        if step == "corrupt":
            raise CorruptFrame("bad jpeg")
        if step == "stall":
            raise SourceStalled("silent")
        if step == "error":
            raise SourceError("unplugged")
        if step == "boom":
            raise RuntimeError("driver bug")
        raise SourceEnded

    def close(self) -> None:
        self.closes += 1


def _drain(q: StageQueue) -> list:
    items = []
    while True:
        try:
            items.append(q.get(5.0))
        except QueueEmpty:
            raise AssertionError("capture did not finish")
        if items[-1] is END:
            return items


def test_capture_loop_counts_corrupt_reopens_with_backoff_and_numbers_frames() -> None:
    src = ScriptedSource(["fail_open", "fail_open", "frame", "corrupt", "frame", "stall", "frame", "error", "boom", "frame", "end"])
    q = StageQueue("capture", 100, "block")
    metrics = Metrics()
    worker = CaptureWorker(src, q, threading.Event(), threading.Event(), Heartbeat("capture"), metrics,
                           CaptureOptions(reconnect_initial_s=0.05, reconnect_max_s=0.2, stall_timeout_s=10))
    t0 = time.monotonic()
    worker.start()
    items = _drain(q)
    worker.join(5)
    frames = items[:-1]
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    s = metrics.source.snapshot()
    assert s["corrupt"] == 1 and s["stalls"] == 1 and s["frames"] == 4
    assert s["reconnects"] == 3  # after stall, error and the unexpected exception
    assert s["state"] == "ended"
    assert "unexpected RuntimeError" in s["last_error"]
    # backoff: two failed opens (0.05 + 0.1) then three reopen waits starting at 0.05 again
    assert time.monotonic() - t0 >= 0.15
    assert src.closes >= 4


def test_capture_loop_stops_promptly_on_stop_event_while_source_keeps_failing() -> None:
    src = ScriptedSource(["fail_open"] * 1000)
    q = StageQueue("capture", 2, "latest")
    stop = threading.Event()
    metrics = Metrics()
    worker = CaptureWorker(src, q, stop, threading.Event(), Heartbeat("capture"), metrics,
                           CaptureOptions(reconnect_initial_s=5.0, reconnect_max_s=30.0, stall_timeout_s=1))
    worker.start()
    deadline = time.monotonic() + 5
    while metrics.source.get("state") != "reconnecting" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert metrics.source.get("last_error").startswith("cannot open scripted")
    stop.set()
    worker.join(2.0)
    assert not worker.is_alive()
    assert q.get(1.0) is END
