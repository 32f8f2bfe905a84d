"""Asynchronous inference with results handed out in submit order (capture order)."""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

import numpy as np

from crackedge.runtime.backends.base import InferenceBackend


class AsyncRunner:
    """Keeps up to `backend.n_requests` inferences in flight and hands results out in submit order.

    `submit()` (one producer thread) waits for a free request slot and starts inference;
    `next_result()` (one consumer thread) returns results strictly in the order they were submitted,
    whatever order the device finishes them in. At most `window` (2 x n_requests) results may be
    submitted but not yet taken, so a slow consumer holds the producer back instead of letting
    finished outputs pile up in memory.
    """

    def __init__(self, backend: InferenceBackend) -> None:
        self.backend = backend
        self.n = max(1, int(backend.n_requests))
        self.window = 2 * self.n
        self._slots = threading.Semaphore(self.n)
        self._cond = threading.Condition()
        self._done: dict[int, tuple[Any, Optional[np.ndarray], Optional[BaseException]]] = {}
        self._started_at: dict[int, float] = {}
        self._next_submit = 0
        self._next_out = 0
        self._end_at: Optional[int] = None
        backend.set_callback(self._on_done)

    @property
    def in_flight(self) -> int:
        with self._cond:
            return len(self._started_at)

    def oldest_started(self) -> Optional[float]:
        """time.monotonic() when the oldest unfinished request started (None when idle)."""
        with self._cond:
            return min(self._started_at.values()) if self._started_at else None

    def submit(self, blob: np.ndarray, userdata: Any, abort: threading.Event, poll_s: float = 0.1, on_wait=None,
               timing: Optional[dict[str, tuple[float, float]]] = None,
               started: Optional[dict[str, float]] = None) -> bool:
        """Start inference on `blob`; False if `abort` was set while waiting for a free request.

        timing: when given, receives "wait" (waiting for a free request) and "submit" (starting it),
        each as (thread CPU seconds, wall seconds). started: when given, receives "submit_mono", the
        time.monotonic() at which the request was started (after any wait): the device latency's start.
        """
        if timing is not None:
            c0, w0 = time.thread_time(), time.perf_counter()
        with self._cond:
            while self._next_submit - self._next_out >= self.window:
                if abort.is_set():
                    return False
                self._cond.wait(poll_s)
                if on_wait is not None:
                    on_wait()
        while not self._slots.acquire(timeout=poll_s):
            if on_wait is not None:
                on_wait()
            if abort.is_set():
                return False
        with self._cond:
            idx = self._next_submit
            self._next_submit += 1
            self._started_at[idx] = time.monotonic()
            if started is not None:
                started["submit_mono"] = self._started_at[idx]
        if timing is not None:
            c1, w1 = time.thread_time(), time.perf_counter()
            timing["wait"] = (c1 - c0, w1 - w0)
        try:
            self.backend.start_async(blob, (idx, userdata))
        except BaseException as err:
            self._on_done((idx, userdata), None, err)
        if timing is not None:
            timing["submit"] = (time.thread_time() - c1, time.perf_counter() - w1)
        return True

    def _on_done(self, token: Any, output: Optional[np.ndarray], error: Optional[BaseException]) -> None:
        idx, userdata = token
        with self._cond:
            self._started_at.pop(idx, None)
            self._done[idx] = (userdata, output, error)
            self._cond.notify_all()
        self._slots.release()

    def finish(self) -> None:
        """No more submissions: next_result() reports the end after the last submitted result."""
        with self._cond:
            self._end_at = self._next_submit
            self._cond.notify_all()

    def next_result(self, timeout: float) -> Optional[tuple[str, Any, Optional[np.ndarray], Optional[BaseException]]]:
        """('result', userdata, output, error) in submit order, ('end', ...) after finish(), or None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._next_out in self._done:
                    userdata, out, err = self._done.pop(self._next_out)
                    self._next_out += 1
                    self._cond.notify_all()  # the producer may be waiting for the window
                    return ("result", userdata, out, err)
                if self._end_at is not None and self._next_out >= self._end_at:
                    return ("end", None, None, None)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
