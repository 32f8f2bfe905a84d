"""Timing of skeletonisation and crack measurement on synthetic masks (`calib bench`).

Prints median and 90th-percentile times per call; run it on the target device (a Raspberry Pi) to
see what a frame's measurement costs there.
"""

from __future__ import annotations

import time
from typing import Callable

import cv2
import numpy as np

from calib.calibration import Calibration
from calib.ground_fit import ground_from_pose
from calib.measure import measure_crack
from calib.schema import Intrinsics
from calib.skeleton import skeletonize


def crack_mask(size: int, seed: int = 0, n_cracks: int = 4, max_width: int = 7) -> np.ndarray:
    """size x size uint8 {0,1} mask with a few wandering cracks of 2..max_width px width."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), dtype=np.uint8)
    for _ in range(n_cracks):
        p = rng.uniform(0, size, 2)
        heading = rng.uniform(0, 2 * np.pi)
        pts = [p.copy()]
        for _ in range(40):
            heading += rng.normal(0, 0.3)
            p = p + 8.0 * np.array([np.cos(heading), np.sin(heading)])
            pts.append(p.copy())
        cv2.polylines(mask, [np.round(np.array(pts)).astype(np.int32)], False, 1, int(rng.integers(2, max_width + 1)))
    return mask


def demo_calibration(size: int) -> Calibration:
    """A plausible camera: f = 0.9 * width, mild barrel distortion, 1.2 m high, pitch 60 degrees."""
    f = 0.9 * size
    k = [[f, 0.0, (size - 1) / 2.0], [0.0, f, (size - 1) / 2.0], [0.0, 0.0, 1.0]]
    lens = Intrinsics(camera_matrix=k, dist_coeffs=[-0.1, 0.02, 0, 0, 0], method="manual")
    cam = Calibration.create((size, size), intrinsics=lens)
    return ground_from_pose(cam, 1200.0, 60.0)


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm-up (caches, first-call allocations)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3, float(np.percentile(times, 90)) * 1e3


def run_benchmark(size: int = 448, repeat: int = 20) -> str:
    """Time skeletonize / measure_crack (px) / measure_crack (mm) on a size x size crack mask."""
    mask = crack_mask(size)
    cal = demo_calibration(size)
    rows = [
        ("skeletonize", lambda: skeletonize(mask)),
        ("measure_crack (px)", lambda: measure_crack(mask)),
        ("measure_crack (mm, with calibration)", lambda: measure_crack(mask, cal)),
    ]
    lines = [f"mask {size}x{size}, {int(mask.sum())} crack pixels, {repeat} runs each"]
    for name, fn in rows:
        med, p90 = _time(fn, repeat)
        lines.append(f"  {name:<40} median {med:7.2f} ms   p90 {p90:7.2f} ms")
    m = measure_crack(mask, cal)
    lines.append(f"  result: {m.components} components, length {m.length_px:.0f} px = {m.length_mm:.0f} mm, "
                 f"mean width {m.mean_width_px:.2f} px = {m.mean_width_mm:.2f} mm")
    return "\n".join(lines)
