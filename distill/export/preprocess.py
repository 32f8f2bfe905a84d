"""Frame -> network input exactly as a bundle's `InputSpec` says (what edge does on the vehicle)."""

from __future__ import annotations

import cv2
import numpy as np

from crackedge.bundle import InputSpec

_INTERPOLATION = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}


def default_input_spec(height: int, width: int) -> InputSpec:
    """The training preprocessing (crackedge.data.torch_dataset): linear resize, RGB, ImageNet mean/std."""
    from crackedge.data.torch_dataset import IMAGENET_MEAN, IMAGENET_STD

    return InputSpec(height=height, width=width, color_order="RGB", mean=tuple(IMAGENET_MEAN),
                     std=tuple(IMAGENET_STD), resize="linear")


def preprocess(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """RGB uint8 H x W x 3 -> float32 1 x 3 x spec.height x spec.width, (x - mean) / std."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image H x W x 3, got shape {image.shape}")
    img = image
    if img.shape[:2] != (spec.height, spec.width):
        img = cv2.resize(img, (spec.width, spec.height), interpolation=_INTERPOLATION[spec.resize])
    if spec.color_order == "BGR":
        img = img[..., ::-1]
    x = (img.astype(np.float32) - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
