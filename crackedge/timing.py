"""Latency statistics for benchmarks (printed figures, never asserted in unit tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Timing:
    n: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float

    @property
    def fps(self) -> float:
        return 1000.0 / self.median_ms if self.median_ms > 0 else float("inf")

    def to_dict(self) -> dict[str, float]:
        return {"n": self.n, "median_ms": self.median_ms, "p90_ms": self.p90_ms, "mean_ms": self.mean_ms,
                "min_ms": self.min_ms, "fps": self.fps}


def summarize(samples_s: list[float] | np.ndarray) -> Timing:
    """Statistics of durations given in seconds."""
    ms = np.asarray(samples_s, dtype=np.float64) * 1000.0
    if ms.size == 0:
        raise ValueError("no timing samples")
    return Timing(int(ms.size), float(np.median(ms)), float(np.percentile(ms, 90)), float(ms.mean()), float(ms.min()))


def time_call(fn: Callable[[], object], repeats: int = 20, warmup: int = 3, max_seconds: float | None = None,
              min_repeats: int = 3) -> Timing:
    """Call `fn` `warmup` times untimed, then up to `repeats` times timed; stop early once
    `max_seconds` of timed calls have passed and at least `min_repeats` samples exist."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
        if max_seconds is not None and time.perf_counter() - start > max_seconds and len(samples) >= min_repeats:
            break
    return summarize(samples)
