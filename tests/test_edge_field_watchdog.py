"""The watchdog reads each heartbeat stamp once: a worker going idle between two reads of
`busy_since` (it becomes None) must not crash the check or give a wrong age."""

from __future__ import annotations

import threading
import time

from edge.watchdog import Heartbeat, HeartbeatRegistry, Watchdog


class GoesIdleBetweenReads(Heartbeat):
    """busy_since is a time on the first read and None on the next one, as when the worker calls
    idle() between the watchdog's two reads."""

    def __init__(self, name: str) -> None:
        self._reads = 0
        self._since: float | None = None
        super().__init__(name)

    @property  # type: ignore[override]
    def busy_since(self) -> float | None:
        self._reads += 1
        return self._since if self._reads % 2 == 1 else None

    @busy_since.setter
    def busy_since(self, value: float | None) -> None:
        self._since = value


def test_stuck_for_survives_busy_since_turning_none_between_reads() -> None:
    hb = GoesIdleBetweenReads("infer")
    hb.busy(time.monotonic() - 20.0)
    hb._reads = 0
    assert hb.stuck_for(time.monotonic()) >= 19.9  # one consistent reading: busy for 20 s


def test_watchdog_check_with_racing_workers_never_raises() -> None:
    registry = HeartbeatRegistry()
    hb = GoesIdleBetweenReads("infer")
    with registry._lock:
        registry._beats["infer"] = hb
    hb.busy(time.monotonic() - 20.0)
    fatal: list[str] = []
    wd = Watchdog(registry, threading.Event(), timeout_s=5.0, exit_after_s=60.0, on_fatal=fatal.append)
    for _ in range(6):
        hung = wd.check_once()
        assert set(hung) <= {"infer"}
    assert wd.hang_events >= 1 and fatal == []
