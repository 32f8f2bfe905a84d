"""The papers' augmentations, with parameters sampled separately from being applied.

`params_for(seed, index, variant)` draws every random choice from
`numpy.random.default_rng([seed, index, variant])`, and `apply_params` is a pure function of the
image, mask and params. The same (seed, index, variant) gives the same pixels on any machine and
with any number of loader workers, which is what lets teacher logits be cached per augmented view.

Order of application: resize to the model size (image linear / area, mask nearest) -> zoom
(crop a 1/zoom window, resize back) -> rotation by `angle` (image linear, mask nearest, reflected
borders for both so labels stay consistent) -> rot90 -> horizontal / vertical flips.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    rot90: bool = True  # k * 90 degrees, k uniform in {0..3} (only {0, 2} for non-square outputs)
    flips: bool = True  # horizontal and vertical, each with p = 0.5
    rotate_deg: float = 20.0  # uniform in [-rotate_deg, rotate_deg] ...
    rotate_p: float = 0.5  # ... with this probability
    zoom_max: float = 1.25  # zoom-in factor uniform in [1, zoom_max] ...
    zoom_p: float = 0.5  # ... with this probability


@dataclass(frozen=True)
class AugmentParams:
    k90: int = 0
    flip_h: bool = False
    flip_v: bool = False
    angle: float = 0.0
    zoom: float = 1.0
    center: tuple[float, float] = (0.5, 0.5)  # zoom window centre, relative (x, y)

    @property
    def is_identity(self) -> bool:
        return self == AugmentParams()


IDENTITY = AugmentParams()


def params_for(seed: int, index: int, variant: int, cfg: AugmentConfig = AugmentConfig(), square: bool = True) -> AugmentParams:
    """Deterministic augmentation parameters for one (seed, image index, variant)."""
    rng = np.random.default_rng([int(seed), int(index), int(variant)])
    # draw every value unconditionally so that changing one option does not shift the others
    k_any, k_half = int(rng.integers(0, 4)), int(rng.integers(0, 2)) * 2
    fh, fv = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    do_rot, ang = rng.random() < cfg.rotate_p, float(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    do_zoom, z = rng.random() < cfg.zoom_p, float(rng.uniform(1.0, max(1.0, cfg.zoom_max)))
    cx, cy = float(rng.random()), float(rng.random())
    return AugmentParams(
        k90=(k_any if square else k_half) if cfg.rot90 else 0,
        flip_h=fh and cfg.flips,
        flip_v=fv and cfg.flips,
        angle=ang if do_rot else 0.0,
        zoom=z if do_zoom else 1.0,
        center=(cx, cy),
    )


def resize_pair(image: np.ndarray, mask: np.ndarray | None, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize image (HxWx3; area when shrinking, linear otherwise) and mask (HxW; nearest) to size=(H, W)."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image, mask
    shrink = image.shape[0] > h and image.shape[1] > w
    img = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    m = None if mask is None else cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return img, m


def _zoom(image: np.ndarray, mask: np.ndarray, zoom: float, center: tuple[float, float]):
    h, w = mask.shape
    ch, cw = max(1, round(h / zoom)), max(1, round(w / zoom))
    y0 = int(round(center[1] * (h - ch)))
    x0 = int(round(center[0] * (w - cw)))
    img = cv2.resize(image[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    m = cv2.resize(mask[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_NEAREST)
    return img, m


def _rotate(image: np.ndarray, mask: np.ndarray, angle: float):
    h, w = mask.shape
    mat = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, 1.0)
    img = cv2.warpAffine(image, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    m = cv2.warpAffine(mask, mat, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101)
    return img, m


def apply_params(image: np.ndarray, mask: np.ndarray, params: AugmentParams, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Apply `params` to image (HxWx3 uint8) and mask (HxW uint8) and return both at size=(H, W)."""
    img, m = resize_pair(image, mask, size)
    if params.zoom > 1.0:
        img, m = _zoom(img, m, params.zoom, params.center)
    if params.angle != 0.0:
        img, m = _rotate(img, m, params.angle)
    if params.k90:
        img, m = np.rot90(img, params.k90), np.rot90(m, params.k90)
    if params.flip_h:
        img, m = img[:, ::-1], m[:, ::-1]
    if params.flip_v:
        img, m = img[::-1], m[::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(m)
