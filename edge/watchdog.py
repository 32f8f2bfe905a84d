"""Heartbeats for the pipeline's worker threads and the watchdog that checks them.

Each worker owns a `Heartbeat`: it calls `beat()` every loop turn (also while idle, waiting on its
input queue) and `busy()` / `idle()` around the work on one item. A stage is *hung* when its loop
has not turned for `timeout_s`, or when it has been busy on one item for longer than that (e.g. an
inference request that never completes on a wedged NCS2).

While nothing is hung the watchdog sends WATCHDOG=1 to systemd. When a stage hangs it logs which
one, stops pinging (systemd's WatchdogSec then restarts the daemon), and if the stage is still hung
after `exit_after_s` it asks the daemon to exit non-zero (for runs without systemd).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

log = logging.getLogger(__name__)


class Heartbeat:
    """Liveness stamps of one worker (thread-safe enough: single writer, float assignments)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last_beat = time.monotonic()
        self.busy_since: Optional[float] = None
        self.finished = False
        self.failed = False

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def busy(self, since: Optional[float] = None) -> None:
        self.last_beat = time.monotonic()
        self.busy_since = since if since is not None else self.last_beat

    def idle(self) -> None:
        self.busy_since = None
        self.last_beat = time.monotonic()

    def finish(self) -> None:
        """The worker ended normally; it is no longer watched."""
        self.finished = True
        self.busy_since = None

    def fail(self) -> None:
        """The worker died on an unexpected exception: it counts as hung from now on."""
        self.failed = True

    def stuck_for(self, now: float) -> float:
        """Seconds this worker has made no progress (0 when finished, infinite when it died)."""
        if self.failed:
            return float("inf")
        if self.finished:
            return 0.0
        # read each stamp once: the worker may set busy_since to None between two reads
        last_beat, busy_since = self.last_beat, self.busy_since
        silent = now - last_beat
        busy = now - busy_since if busy_since is not None else 0.0
        return max(silent, busy)


class HeartbeatRegistry:
    def __init__(self) -> None:
        self._beats: dict[str, Heartbeat] = {}
        self._lock = threading.Lock()

    def register(self, name: str) -> Heartbeat:
        with self._lock:
            hb = Heartbeat(name)
            self._beats[name] = hb
            return hb

    def all(self) -> list[Heartbeat]:
        with self._lock:
            return list(self._beats.values())

    def hung(self, timeout_s: float, now: Optional[float] = None) -> dict[str, float]:
        """name -> seconds stuck, for every worker stuck longer than `timeout_s`."""
        now = time.monotonic() if now is None else now
        stuck = {hb.name: hb.stuck_for(now) for hb in self.all()}  # one reading per worker
        return {name: _age(age) for name, age in stuck.items() if age > timeout_s}

    def ages(self) -> dict[str, float]:
        now = time.monotonic()
        return {hb.name: _age(hb.stuck_for(now)) for hb in self.all()}


def _age(seconds: float) -> float | str:
    """JSON-friendly age: 'died' for a worker that crashed."""
    return "died" if seconds == float("inf") else round(seconds, 2)


class Watchdog(threading.Thread):
    """Checks heartbeats every `check_interval_s`; pings systemd while healthy.

    ping:      called (at most every `ping_interval_s`) while no stage is hung (sd_notify WATCHDOG=1)
    on_fatal:  called once when a stage has stayed hung for `exit_after_s`
    """

    def __init__(
        self,
        registry: HeartbeatRegistry,
        stop: threading.Event,
        timeout_s: float,
        exit_after_s: float,
        check_interval_s: float = 1.0,
        ping: Optional[Callable[[], None]] = None,
        ping_interval_s: Optional[float] = None,
        on_fatal: Optional[Callable[[str], None]] = None,
    ) -> None:
        super().__init__(name="watchdog", daemon=True)
        self.registry = registry
        self.stop_event = stop
        self.timeout_s = timeout_s
        self.exit_after_s = exit_after_s
        self.check_interval_s = check_interval_s
        self.ping = ping
        self.ping_interval_s = ping_interval_s if ping_interval_s is not None else check_interval_s
        self.on_fatal = on_fatal
        self.hung_now: dict[str, float] = {}
        self.hang_events = 0
        self.pings = 0
        self._hung_since: Optional[float] = None
        self._fatal_sent = False
        self._last_ping = 0.0

    def check_once(self, now: Optional[float] = None) -> dict[str, float]:
        now = time.monotonic() if now is None else now
        hung = self.registry.hung(self.timeout_s, now)
        for name, age in hung.items():
            if name not in self.hung_now:
                self.hang_events += 1
                log.error("stage %r is hung: no progress for %s s; no longer pinging the systemd watchdog", name, age)
        for name in self.hung_now:
            if name not in hung:
                log.warning("stage %r recovered", name)
        self.hung_now = hung
        if hung:
            if self._hung_since is None:
                self._hung_since = now
            elif now - self._hung_since >= self.exit_after_s and not self._fatal_sent:
                self._fatal_sent = True
                msg = f"stage(s) {', '.join(sorted(hung))} hung for more than {self.exit_after_s:.0f} s"
                log.critical("%s; exiting non-zero so the service is restarted", msg)
                if self.on_fatal is not None:
                    self.on_fatal(msg)
        else:
            self._hung_since = None
            if self.ping is not None and now - self._last_ping >= self.ping_interval_s:
                self._last_ping = now
                self.pings += 1
                self.ping()
        return hung

    def run(self) -> None:
        while not self.stop_event.wait(self.check_interval_s):
            try:
                self.check_once()
            except Exception:  # the watchdog itself must not die silently
                log.exception("watchdog check failed")
