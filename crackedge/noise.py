"""The CrackSAM robustness protocols as reusable image transforms (RGB uint8 in, RGB uint8 out).

- case 1, "dim":    HSV value channel - 50 (clipped at 0), then a 9x9 Gaussian blur
- case 2, "blurry": 21x21 Gaussian blur, downsample to 1/2 (bicubic), upsample back (bicubic)

Gaussian sigmas follow OpenCV's default for the kernel size (sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8).
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

NOISE_CASES = ("clean", "dim", "blurry")


def dim(image: np.ndarray, value_drop: int = 50, blur_kernel: int = 9) -> np.ndarray:
    """Case 1: darker (HSV V - value_drop) and slightly blurred. image: HxWx3 uint8 RGB."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    v = hsv[..., 2].astype(np.int16) - int(value_drop)
    hsv[..., 2] = np.clip(v, 0, 255).astype(np.uint8)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return cv2.GaussianBlur(out, (blur_kernel, blur_kernel), 0)


def blurry(image: np.ndarray, blur_kernel: int = 21, factor: float = 0.5) -> np.ndarray:
    """Case 2: strong blur plus a resolution loss. image: HxWx3 uint8 RGB."""
    h, w = image.shape[:2]
    out = cv2.GaussianBlur(image, (blur_kernel, blur_kernel), 0)
    small = cv2.resize(out, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


_CASES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"clean": lambda im: im, "dim": dim, "blurry": blurry}


def apply_noise(image: np.ndarray, case: str) -> np.ndarray:
    """Apply a named robustness case ("clean", "dim", "blurry") to an HxWx3 uint8 RGB image."""
    try:
        fn = _CASES[case]
    except KeyError:
        raise ValueError(f"unknown noise case {case!r}; valid cases: {', '.join(NOISE_CASES)}") from None
    return fn(image)
