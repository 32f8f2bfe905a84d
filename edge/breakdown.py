"""Where a frame's host time goes: per-step costs of the pipeline, summed over frames.

Every host step of the pipeline is timed twice: CPU time of the thread that runs it
(`time.thread_time`, what the step takes from the cores inference needs) and wall time (what it
adds to the frame's latency, including waits for the GIL and the CPU). `edge bench` prints them per
frame and as a share of the frame budget (the time between two frames at raw inference speed), so
the next cost to cut is visible.

Steps, in the order a frame meets them:

    decode      JPEG -> RGB at reduced scale (capture stage, edge.sources.jpegframes)
    preprocess  resize + normalise into the network input (preprocess stage)
    submit      handing the input to an infer request (infer-submit stage, the copy included)
    wait        waiting for a free infer request: the device is busy (not a host cost; the pipeline
                keeps up when this is large)
    mask        network output -> crack ratio (and the mask when one is needed; postprocess stage)
    measure     crack measurement (calib) of a frame that is saved or previewed
    overlay     mask blend, contours, caption
    encode      JPEG encoding of a saved frame
    write       writing a saved frame's files (save stage)
    preview     preview frame: scale + JPEG encode, at the preview's own rate

`ms_per_frame` divides a step's total by every frame the pipeline finished, so a step that runs for
few frames (overlay, encode, write, preview) shows what it costs on average; `runs` says how often
it ran.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

STEPS = ("decode", "preprocess", "submit", "wait", "mask", "measure", "overlay", "encode", "write", "preview")
#: steps that are not host work (excluded from the host total)
NOT_HOST = ("wait",)


class StepCosts:
    """Thread-safe sums of CPU and wall seconds per step, and the number of finished frames."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cpu = {s: 0.0 for s in STEPS}
        self._wall = {s: 0.0 for s in STEPS}
        self._runs = {s: 0 for s in STEPS}
        self.frames = 0

    def add(self, step: str, cpu_s: float, wall_s: float) -> None:
        with self._lock:
            self._cpu[step] += cpu_s
            self._wall[step] += wall_s
            self._runs[step] += 1

    def frame_done(self) -> None:
        with self._lock:
            self.frames += 1

    def reset(self) -> None:
        with self._lock:
            for s in STEPS:
                self._cpu[s] = self._wall[s] = 0.0
                self._runs[s] = 0
            self.frames = 0

    def snapshot(self, budget_ms: Optional[float] = None) -> dict[str, Any]:
        """{"frames", "budget_ms", "steps": {step: {runs, cpu_ms_per_frame, wall_ms_per_frame, cpu_ms_per_run,
        share_of_budget}}, "host_cpu_ms_per_frame", "host_share_of_budget"}. Shares need `budget_ms`."""
        with self._lock:
            n = self.frames
            steps = {}
            for s in STEPS:
                runs = self._runs[s]
                cpu = 1000.0 * self._cpu[s] / n if n else None
                steps[s] = {
                    "runs": runs,
                    "cpu_ms_per_frame": _r(cpu),
                    "wall_ms_per_frame": _r(1000.0 * self._wall[s] / n if n else None),
                    "cpu_ms_per_run": _r(1000.0 * self._cpu[s] / runs if runs else None),
                    "share_of_budget": _r(cpu / budget_ms if cpu is not None and budget_ms else None, 4),
                }
        host = sum(v["cpu_ms_per_frame"] or 0.0 for k, v in steps.items() if k not in NOT_HOST) if n else None
        return {
            "frames": n,
            "budget_ms": _r(budget_ms),
            "steps": steps,
            "host_cpu_ms_per_frame": _r(host),
            "host_share_of_budget": _r(host / budget_ms if host is not None and budget_ms else None, 4),
        }


def _r(v: Optional[float], nd: int = 3) -> Optional[float]:
    return None if v is None else round(v, nd)


class Clock:
    """One step's CPU and wall clock: `c = Clock(); ...; cpu_s, wall_s = c.split()`."""

    __slots__ = ("cpu", "wall")

    def __init__(self) -> None:
        self.cpu = time.thread_time()
        self.wall = time.perf_counter()

    def split(self) -> tuple[float, float]:
        """Seconds since the start (or the previous split), and restart."""
        cpu, wall = time.thread_time(), time.perf_counter()
        out = (cpu - self.cpu, wall - self.wall)
        self.cpu, self.wall = cpu, wall
        return out
