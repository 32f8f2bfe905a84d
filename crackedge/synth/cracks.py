"""Crack geometry: branching, width-varying random-walk polylines rendered with exact masks.

A crack is a list of polyline segments with a width per vertex. It is rendered at 2x supersampling
into a coverage map in [0, 1]; the mask is coverage >= 0.5 and the image is darkened by the same
coverage, so the label follows the visible crack exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SUPERSAMPLE = 2


@dataclass
class CrackPath:
    points: np.ndarray  # Nx2 float (x, y) in pixels
    widths: np.ndarray  # N float, pixels


def _walk(rng: np.random.Generator, start: np.ndarray, angle: float, length: float, width: float, wiggle: float) -> CrackPath:
    step = 2.0
    n = max(2, int(length / step))
    pts = [start.astype(np.float64)]
    heading, drift = angle, 0.0
    for _ in range(n - 1):
        drift = 0.85 * drift + rng.normal(0, wiggle)  # correlated turning: meandering, not jitter
        heading += drift * 0.25 + 0.04 * (angle - heading)  # weak pull back to the main direction
        jag = rng.normal(0, 0.35)  # small uncorrelated sideways steps make the edge ragged
        d = np.array([np.cos(heading), np.sin(heading)])
        pts.append(pts[-1] + step * d + jag * np.array([-d[1], d[0]]))
    t = np.linspace(0, 1, n)
    profile = 1 + 0.45 * np.interp(t, np.linspace(0, 1, 8), rng.normal(0, 1, 8))
    taper = np.clip(np.minimum(t, 1 - t) * 6, 0.25, 1.0)  # thin ends
    widths = np.clip(width * profile * taper, 0.6, None)
    return CrackPath(np.asarray(pts), widths)


def random_crack(rng: np.random.Generator, shape: tuple[int, int], max_branches: int = 4) -> list[CrackPath]:
    """One crack (trunk + branches) somewhere in an image of shape (H, W)."""
    h, w = shape
    diag = float(np.hypot(h, w))
    start = np.array([rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h])
    angle = float(np.arctan2(h / 2 - start[1], w / 2 - start[0]) + rng.normal(0, 0.6))
    width = float(rng.choice([rng.uniform(1.2, 2.5), rng.uniform(2.5, 5.0), rng.uniform(5.0, 9.0)], p=[0.35, 0.45, 0.2]))
    trunk = _walk(rng, start, angle, rng.uniform(0.5, 1.3) * diag, width, wiggle=rng.uniform(0.05, 0.18))
    paths = [trunk]
    for _ in range(int(rng.integers(0, max_branches + 1))):
        parent = paths[int(rng.integers(0, len(paths)))]
        i = int(rng.integers(len(parent.points) // 5, max(len(parent.points) // 5 + 1, 4 * len(parent.points) // 5)))
        seg = parent.points[min(i + 1, len(parent.points) - 1)] - parent.points[max(i - 1, 0)]
        base_angle = float(np.arctan2(seg[1], seg[0]))
        b_angle = base_angle + rng.choice([-1, 1]) * rng.uniform(0.35, 1.2)
        paths.append(_walk(rng, parent.points[i], b_angle, rng.uniform(0.1, 0.45) * diag,
                           0.7 * float(parent.widths[i]), wiggle=rng.uniform(0.05, 0.2)))
    return paths


def render_coverage(paths: list[CrackPath], shape: tuple[int, int]) -> np.ndarray:
    """HxW float32 coverage in [0, 1] of the crack polylines (2x supersampled, area-downsampled)."""
    h, w = shape
    s = SUPERSAMPLE
    canvas = np.zeros((h * s, w * s), np.uint8)
    for path in paths:
        pts = np.round(path.points * s).astype(np.int32)
        for (p0, p1, wd) in zip(pts[:-1], pts[1:], path.widths[:-1]):
            thick = max(1, int(round(wd * s)))
            cv2.line(canvas, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), 255, thick, lineType=cv2.LINE_8)
    return cv2.resize(canvas.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)


def paint_cracks(image: np.ndarray, coverage: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darken image (HxWx3 float32) by the crack coverage (HxW), with a rough, shadowed interior."""
    depth = rng.uniform(0.45, 0.75)
    interior = np.clip(1.0 - depth * coverage * (1 + 0.25 * rng.standard_normal(coverage.shape)), 0.08, 1.0)
    rim = cv2.GaussianBlur(coverage, (0, 0), 1.2) - coverage  # slight lighter spalled edge
    out = image * interior[..., None] + 10.0 * np.clip(rim, 0, None)[..., None]
    return out.astype(np.float32)
