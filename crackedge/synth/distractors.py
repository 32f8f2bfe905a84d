"""Things on a road that are not cracks: shadows, stains, lane markings, joints, global lighting.

Each function takes an HxWx3 float32 RGB image and a Generator and returns a new image. None of
them touches the crack mask: a model must learn to ignore them.
"""

from __future__ import annotations

import cv2
import numpy as np

from crackedge.synth.texture import fractal_noise


def shadow(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A large soft-edged shadow (pole, tree, vehicle) multiplying brightness by 0.45-0.8."""
    h, w = image.shape[:2]
    n = int(rng.integers(3, 7))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    r = rng.uniform(0.25, 0.7) * max(h, w)
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    pts = np.stack([cx + r * rng.uniform(0.4, 1.0, n) * np.cos(ang), cy + r * rng.uniform(0.4, 1.0, n) * np.sin(ang)], 1)
    m = np.zeros((h, w), np.float32)
    cv2.fillPoly(m, [pts.astype(np.int32)], 1.0)
    m = cv2.GaussianBlur(m, (0, 0), rng.uniform(3, 15))
    return image * (1 - (1 - rng.uniform(0.45, 0.8)) * m)[..., None]


def stain(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An oil or water stain: an irregular dark blob with soft edges."""
    h, w = image.shape[:2]
    m = np.zeros((h, w), np.float32)
    c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
    axes = (int(rng.uniform(0.04, 0.18) * w), int(rng.uniform(0.03, 0.12) * h))
    cv2.ellipse(m, c, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    m *= np.clip(0.7 + 0.6 * fractal_noise(rng, (h, w), octaves=4, base=6), 0, 1)
    m = cv2.GaussianBlur(m, (0, 0), rng.uniform(2, 6))
    return image * (1 - rng.uniform(0.2, 0.45) * m)[..., None]


def lane_marking(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A worn white or yellow paint stripe crossing the image."""
    h, w = image.shape[:2]
    m = np.zeros((h, w), np.float32)
    width = int(rng.uniform(0.06, 0.16) * min(h, w))
    if rng.random() < 0.5:
        x = int(rng.uniform(0.1, 0.9) * w)
        dx = int(rng.uniform(-0.15, 0.15) * w)
        cv2.line(m, (x, -5), (x + dx, h + 5), 1.0, width)
    else:
        y = int(rng.uniform(0.1, 0.9) * h)
        dy = int(rng.uniform(-0.15, 0.15) * h)
        cv2.line(m, (-5, y), (w + 5, y + dy), 1.0, width)
    wear = np.clip(0.75 + 0.5 * fractal_noise(rng, (h, w), octaves=5, base=8), 0, 1)
    m = cv2.GaussianBlur(m, (0, 0), 1.0) * wear
    color = np.array([235, 235, 230] if rng.random() < 0.7 else [230, 190, 60], np.float32)
    return image * (1 - 0.85 * m[..., None]) + color * 0.85 * m[..., None]


def joint(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A saw-cut or sealed joint: perfectly straight, uniform width, across the whole image."""
    h, w = image.shape[:2]
    m = np.zeros((h, w), np.float32)
    width = int(rng.integers(2, 6)) if rng.random() < 0.6 else int(rng.integers(7, 14))  # cut vs sealant band
    if rng.random() < 0.5:
        x = int(rng.uniform(0.05, 0.95) * w)
        cv2.line(m, (x, -5), (x, h + 5), 1.0, width)
    else:
        y = int(rng.uniform(0.05, 0.95) * h)
        cv2.line(m, (-5, y), (w + 5, y), 1.0, width)
    m = cv2.GaussianBlur(m, (0, 0), 0.6)
    sealant = rng.uniform(25, 60)
    return image * (1 - 0.9 * m[..., None]) + sealant * 0.9 * m[..., None]


def lighting(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth illumination gradient plus camera noise and a touch of blur."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    grad = ((xx / w - 0.5) * np.cos(a) + (yy / h - 0.5) * np.sin(a)) * rng.uniform(0.0, 0.35)
    out = image * (1 + grad)[..., None]
    out = out + rng.normal(0, rng.uniform(1.0, 4.0), out.shape).astype(np.float32)
    sigma = rng.uniform(0.0, 0.9)
    return cv2.GaussianBlur(out, (0, 0), sigma) if sigma > 0.3 else out


DISTRACTORS = {"shadow": shadow, "stain": stain, "lane_marking": lane_marking, "joint": joint}
