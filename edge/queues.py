"""Bounded stage queues with an explicit drop policy and a drop counter.

- `latest` (live cameras): when full, the OLDEST item is dropped to make room, so the consumer
  always gets the freshest frame. Every drop is counted.
- `block` (files, and every queue after the capture queue): the producer waits for room, so nothing
  is dropped; the wait is interruptible by an abort event.

The end-of-stream marker `END` is never dropped: it is how a stage tells the next one to flush and
stop (graceful drain on shutdown).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Literal

DropPolicy = Literal["latest", "block"]


class _End:
    def __repr__(self) -> str:
        return "END"


END = _End()


class QueueEmpty(Exception):
    """No item arrived within the timeout."""


class StageQueue:
    """A bounded FIFO between two pipeline stages."""

    def __init__(self, name: str, maxsize: int, policy: DropPolicy) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        if policy not in ("latest", "block"):
            raise ValueError(f"unknown drop policy {policy!r} (latest or block)")
        self.name = name
        self.maxsize = maxsize
        self.policy: DropPolicy = policy
        self.drops = 0
        self.puts = 0
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(
        self, item: Any, abort: threading.Event | None = None, poll_s: float = 0.1, on_wait: Callable[[], None] | None = None
    ) -> bool:
        """Add `item`. Returns False only when `block` waited and `abort` was set (item not added).

        on_wait is called every `poll_s` while blocked (workers stamp their heartbeat there).
        """
        with self._cond:
            if self.policy == "latest":
                while len(self._items) >= self.maxsize:
                    # drop the oldest non-END item; END must survive
                    for i, old in enumerate(self._items):
                        if old is not END:
                            del self._items[i]
                            self.drops += 1
                            break
                    else:
                        break
            else:
                while len(self._items) >= self.maxsize:
                    if abort is not None and abort.is_set():
                        return False
                    self._cond.wait(poll_s)
                    if on_wait is not None:
                        on_wait()
            self._items.append(item)
            self.puts += 1
            self._cond.notify_all()
            return True

    def put_end(self) -> None:
        """Append END regardless of capacity (it must reach the consumer)."""
        with self._cond:
            self._items.append(END)
            self._cond.notify_all()

    def get(self, timeout: float) -> Any:
        """Next item, or raise QueueEmpty after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._items:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QueueEmpty
                self._cond.wait(left)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {"depth": len(self._items), "maxsize": self.maxsize, "policy": self.policy, "drops": self.drops, "puts": self.puts}
