"""Frame -> network input exactly as a bundle's `InputSpec` says: the one preprocessing of every runtime path
(export parity, `distill eval`, the edge daemon, the benchmarks)."""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from crackedge.data.normalization import IMAGENET_MEAN, IMAGENET_STD
from crackedge.runtime.metadata import InputSpec


class Preprocessor:
    """RGB uint8 HxWx3 frame -> 1x3xHxW float32 network input, `(x - mean) / std` in the bundle's colour order.

    One native pass: cv2.dnn.blobFromImageWithParams (OpenCV >= 4.8) resizes, subtracts the mean,
    multiplies by the per-channel 1/std and writes CHW, into `out` when given (a preallocated input:
    0.5 ms at 640x360 -> 448x448 on the x86 dev box, against 2.1 ms for a fresh blob plus a second
    pass for the per-channel std: most of that is the new 2.4 MB allocation). Older OpenCV:
    cv2.dnn.blobFromImage (one scalar scale factor) and the per-channel std as a multiply on the blob.
    The mean is given in output channel order, which is what both expect when swapRB is set.
    """

    _INTERP = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}

    def __init__(self, spec: InputSpec) -> None:
        self.size = (int(spec.width), int(spec.height))
        self.shape = (1, 3, self.size[1], self.size[0])
        self.mean = tuple(float(m) for m in spec.mean)
        std = np.asarray(spec.std, dtype=np.float32)
        self.swap_rb = spec.color_order == "BGR"  # frames are RGB in memory
        self.uniform_std = bool(np.allclose(std, std[0]))
        self.scale = float(1.0 / std[0]) if self.uniform_std else 1.0
        self.inv_std = (1.0 / std).reshape(1, 3, 1, 1).astype(np.float32)
        self.interp = self._INTERP[spec.resize]
        self.params = None
        if hasattr(cv2.dnn, "blobFromImageWithParams") and hasattr(cv2.dnn, "Image2BlobParams"):
            p = cv2.dnn.Image2BlobParams()
            p.scalefactor = tuple(float(1.0 / v) for v in std) + (0.0,)
            p.size = self.size
            p.mean = self.mean + (0.0,)
            p.swapRB = self.swap_rb
            p.ddepth = cv2.CV_32F
            self.params = p

    def __call__(self, rgb: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The network input of `rgb`; written into `out` (float32, `self.shape`, C-contiguous) when given."""
        img = rgb
        if self.interp != cv2.INTER_LINEAR and (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=self.interp)
        if out is not None and (out.shape != self.shape or out.dtype != np.float32 or not out.flags.c_contiguous):
            raise ValueError(f"out must be a C-contiguous float32 array of shape {self.shape}, got "
                             f"{out.dtype} {out.shape}")
        if self.params is not None:
            if out is not None:
                return cv2.dnn.blobFromImageWithParams(img, out, self.params)
            return cv2.dnn.blobFromImageWithParams(img, self.params)
        blob = cv2.dnn.blobFromImage(img, self.scale, self.size, self.mean, swapRB=self.swap_rb, crop=False)
        if not self.uniform_std:
            blob *= self.inv_std
        if out is not None:
            np.copyto(out, blob)
            return out
        return blob

    def new_input(self) -> np.ndarray:
        """An empty network input to pass as `out`."""
        return np.empty(self.shape, np.float32)


def preprocess(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """RGB uint8 H x W x 3 -> float32 1 x 3 x spec.height x spec.width, (x - mean) / std (one-off use;
    a loop over frames keeps one `Preprocessor`)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image H x W x 3, got shape {image.shape}")
    return Preprocessor(spec)(image)


def default_input_spec(height: int, width: int) -> InputSpec:
    """The training preprocessing (crackedge.data.torch_dataset): linear resize, RGB, ImageNet mean/std."""
    return InputSpec(height=height, width=width, color_order="RGB", mean=tuple(IMAGENET_MEAN),
                     std=tuple(IMAGENET_STD), resize="linear")
