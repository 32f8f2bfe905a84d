"""Timing of skeletonisation and crack measurement on synthetic masks (`calib bench`).

Prints median and 90th-percentile times per call; run it on the target device (a Raspberry Pi) to
see what a frame's measurement costs there.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

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


def frame_crack_mask(seed: int = 0, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """HxW uint8 {0,1} mask of a camera frame (size = (W, H)) as a good segmenter draws real cracks.

    2-5 wandering cracks, each 1-8 px wide and about 150-500 px long, some with a side branch; the
    edges are ragged (the drawn crack blurred and thresholded with noise, so the thinnest ones
    break up in places) and a few specks of false positives (under 20 px) are scattered around.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    drawn = np.zeros((h, w), dtype=np.uint8)
    for _ in range(int(rng.integers(2, 6))):
        width = int(rng.integers(1, 9))
        p = rng.uniform((0.1 * w, 0.1 * h), (0.9 * w, 0.9 * h))
        heading = rng.uniform(0, 2 * np.pi)
        pts = [p.copy()]
        for _ in range(int(rng.integers(25, 80))):
            heading += rng.normal(0, 0.25)
            p = p + 6.0 * np.array([np.cos(heading), np.sin(heading)])
            pts.append(p.copy())
        cv2.polylines(drawn, [np.round(np.array(pts)).astype(np.int32)], False, 1, width)
        if rng.random() < 0.4:  # a side branch from somewhere along the crack
            q = pts[int(rng.integers(len(pts) // 4, 3 * len(pts) // 4))].copy()
            heading += rng.choice((-1.0, 1.0)) * rng.uniform(0.6, 1.4)
            branch = [q.copy()]
            for _ in range(int(rng.integers(8, 25))):
                heading += rng.normal(0, 0.25)
                q = q + 6.0 * np.array([np.cos(heading), np.sin(heading)])
                branch.append(q.copy())
            cv2.polylines(drawn, [np.round(np.array(branch)).astype(np.int32)], False, 1, max(1, width - 2))
    soft = cv2.GaussianBlur(drawn.astype(np.float32), (0, 0), 0.6)
    mask = (soft + rng.normal(0.0, 0.12, soft.shape).astype(np.float32) > 0.5).astype(np.uint8)
    for _ in range(int(rng.integers(5, 30))):
        x, y = int(rng.integers(0, w - 5)), int(rng.integers(0, h - 5))
        mask[y:y + int(rng.integers(1, 5)), x:x + int(rng.integers(1, 5))] = 1
    return mask


def heavy_mask(seed: int = 0, fraction: float = 0.2, size: tuple[int, int] = (1280, 720),
               blob_px: Optional[float] = None) -> np.ndarray:
    """HxW uint8 {0,1} mask like the output of a segmenter with random weights (what `edge bench`
    measures with an untrained student): blobs `blob_px` across (default width / 160), denser in
    some parts of the frame than in others, covering `fraction` of it."""
    rng = np.random.default_rng(seed)
    w, h = size
    blob = w / 160.0 if blob_px is None else blob_px
    fine = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), blob)
    coarse = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 8.0 * blob)
    field = fine / fine.std() + 0.7 * coarse / coarse.std()
    return (field > np.quantile(field, 1.0 - fraction)).astype(np.uint8)


def demo_frame_calibration(size_wh: tuple[int, int]) -> Calibration:
    """demo_calibration for a frame of any size: f = 0.9 * width, principal point at the centre."""
    w, h = size_wh
    f = 0.9 * w
    k = [[f, 0.0, (w - 1) / 2.0], [0.0, f, (h - 1) / 2.0], [0.0, 0.0, 1.0]]
    lens = Intrinsics(camera_matrix=k, dist_coeffs=[-0.1, 0.02, 0, 0, 0], method="manual")
    cam = Calibration.create((w, h), intrinsics=lens)
    return ground_from_pose(cam, 1200.0, 60.0)


def demo_calibration(size: int) -> Calibration:
    """A plausible camera: f = 0.9 * width, mild barrel distortion, 1.2 m high, pitch 60 degrees."""
    return demo_frame_calibration((size, size))


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


#: crack shares of the frame of the `heavy` masks in `frame_masks` (the last ones are above the
#: default max_area_fraction, so measure_crack reports them as too_large)
HEAVY_FRACTIONS = (0.06, 0.12, 0.2, 0.3, 0.45, 0.6)


def frame_masks(kind: str, count: int, size_wh: tuple[int, int] = (1280, 720)) -> list[tuple[str, np.ndarray]]:
    """`count` named masks of a kind: "thin" (frame_crack_mask, seeds 0..) or "heavy" (heavy_mask,
    cycling through HEAVY_FRACTIONS)."""
    if kind == "thin":
        return [(f"thin #{i}", frame_crack_mask(i, size_wh)) for i in range(count)]
    if kind == "heavy":
        return [(f"heavy {100 * HEAVY_FRACTIONS[i % len(HEAVY_FRACTIONS)]:.0f} % #{i}",
                 heavy_mask(i, HEAVY_FRACTIONS[i % len(HEAVY_FRACTIONS)], size_wh)) for i in range(count)]
    raise ValueError(f"unknown mask kind {kind!r}; valid: thin, heavy")


def run_frame_benchmark(size_wh: tuple[int, int] = (1280, 720), count: int = 6, repeat: int = 5) -> str:
    """Time measure_crack (px and mm) on camera-frame masks: thin cracks and heavy (random-model) masks."""
    cal = demo_frame_calibration(size_wh)
    lines = [f"frame {size_wh[0]}x{size_wh[1]}, {repeat} runs per mask (median, p90), default max_area_fraction"]
    for kind in ("thin", "heavy"):
        for name, mask in frame_masks(kind, count, size_wh):
            px, px90 = _time(lambda m=mask: measure_crack(m).to_dict(), repeat)
            mm, _ = _time(lambda m=mask: measure_crack(m, cal).to_dict(), repeat)
            m = measure_crack(mask)
            what = "too_large: area only" if m.too_large else f"length {m.length_px:.0f} px, {m.branches} branches"
            lines.append(f"  {name:<16} {100 * mask.mean():5.1f} % crack, {m.components:4d} parts: px {px:7.2f} ms "
                         f"(p90 {px90:7.2f}), mm {mm:7.2f} ms; {what}")
    return "\n".join(lines)
