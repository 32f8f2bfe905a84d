"""The maintenance thread: slow housekeeping that must never run on a pipeline stage.

Every `interval_s` (and at once when the disk guard asks, e.g. after ENOSPC) it
- runs the disk guard's rotation (deleting old runs file by file can take seconds on an SD card:
  on the save thread that looked like a hung stage);
- refreshes the temperature sensors (`vcgencmd` is a subprocess: never inside a /metrics request);
- logs the count of save errors not logged one by one (edge.saver).
It stamps its own heartbeat ("maintenance", watched like every stage) between steps and between
files while deleting, and waits on the stop event.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

from edge.diskguard import DiskGuard
from edge.metrics import Metrics
from edge.watchdog import Heartbeat

log = logging.getLogger(__name__)

TEMPERATURE_EVERY_S = 5.0
BEAT_S = 0.5


class Maintenance(threading.Thread):
    def __init__(
        self,
        stop: threading.Event,
        heartbeat: Heartbeat,
        metrics: Metrics,
        guard: Optional[DiskGuard] = None,
        saver: Any = None,
        interval_s: float = 5.0,
    ) -> None:
        super().__init__(name="maintenance", daemon=True)
        self.stop_event = stop
        self.hb = heartbeat
        self.metrics = metrics
        self.guard = guard
        self.saver = saver
        self.interval_s = interval_s
        self.passes = 0

    def run_once(self) -> None:
        if self.guard is not None:
            self.guard.maintain(beat=self.hb.beat, stop=self.stop_event)
            self.hb.beat()
        if self.saver is not None:
            self.saver.flush_error_log()
        self.passes += 1

    def run(self) -> None:
        next_disk = 0.0
        next_temp = 0.0
        try:
            while not self.stop_event.is_set():
                self.hb.beat()
                now = time.monotonic()
                woken = self.guard is not None and self.guard.wake.is_set()
                if now >= next_disk or woken:
                    try:
                        self.run_once()
                    except Exception:  # housekeeping must not die; it is retried next interval
                        log.exception("maintenance pass failed")
                    next_disk = time.monotonic() + self.interval_s
                if now >= next_temp:
                    try:
                        self.metrics.refresh_temperatures()
                    except Exception:
                        log.exception("reading temperatures failed")
                    next_temp = time.monotonic() + TEMPERATURE_EVERY_S
                if self.guard is not None:
                    self.guard.wake.wait(BEAT_S)
                else:
                    self.stop_event.wait(BEAT_S)
        except BaseException:
            self.hb.fail()
            log.critical("maintenance thread died", exc_info=True)
            raise
        self.hb.finish()
