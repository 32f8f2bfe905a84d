"""Road-surface textures: asphalt (dark, coarse aggregate) and concrete (light, fine pores).

All functions take a numpy Generator and return float32 HxWx3 RGB images in [0, 255].
"""

from __future__ import annotations

import cv2
import numpy as np


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], octaves: int = 5, base: int = 4, persistence: float = 0.55) -> np.ndarray:
    """HxW float32 noise in about [-1, 1]: octaves of upsampled random grids (value noise)."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        gh, gw = max(2, base * 2**o * h // max(h, w)), max(2, base * 2**o * w // max(h, w))
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
    return out / total


def _speckles(rng: np.random.Generator, shape: tuple[int, int], density: float, radius: tuple[int, int]) -> np.ndarray:
    """HxW float32 map of small round grains with random signed intensities."""
    h, w = shape
    canvas = np.zeros((h, w), np.float32)
    n = int(density * h * w / 1000)
    xs, ys = rng.integers(0, w, n), rng.integers(0, h, n)
    rs = rng.integers(radius[0], radius[1] + 1, n)
    vals = rng.normal(0, 1, n)
    for x, y, r, v in zip(xs, ys, rs, vals):
        cv2.circle(canvas, (int(x), int(y)), int(r), float(v), -1, lineType=cv2.LINE_AA)
    return canvas


def asphalt(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Dark grey asphalt with coarse aggregate and slow brightness variation."""
    base = rng.uniform(75, 130)
    tint = np.array([rng.uniform(-4, 4), 0.0, rng.uniform(-3, 6)], np.float32)
    lum = base + 12 * fractal_noise(rng, shape, octaves=6, base=3)
    lum += 16 * _speckles(rng, shape, 30.0, (1, 3))  # coarse aggregate
    lum -= 18 * np.clip(_speckles(rng, shape, 8.0, (1, 2)), 0, None)  # pits between stones
    lum += 9 * cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 0.7)
    img = lum[..., None] + tint
    return np.clip(img, 0, 255).astype(np.float32)


def concrete(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Light concrete with fine pores and faint trowel streaks."""
    h, w = shape
    base = rng.uniform(150, 205)
    tint = np.array([rng.uniform(-2, 5), rng.uniform(-2, 3), rng.uniform(-6, 0)], np.float32)
    lum = base + 10 * fractal_noise(rng, shape, octaves=5, base=4)
    pores = _speckles(rng, shape, 1.5, (1, 1))
    lum -= 25 * np.clip(pores, 0, None)
    streak_dir = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lum += 3 * np.sin((xx * np.cos(streak_dir) + yy * np.sin(streak_dir)) / rng.uniform(6, 14))
    lum += 4 * rng.standard_normal(shape).astype(np.float32)
    img = lum[..., None] + tint
    return np.clip(img, 0, 255).astype(np.float32)


SURFACES = {"asphalt": asphalt, "concrete": concrete}
