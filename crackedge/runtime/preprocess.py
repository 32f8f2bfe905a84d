"""Frame -> network input exactly as a bundle's `InputSpec` says: the one preprocessing of every runtime path
(export parity, `distill eval`, the edge daemon, the benchmarks)."""

from __future__ import annotations

from typing import Literal, Optional

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

    tensor "u8" (a backend that normalises inside its compiled model, `InferenceBackend.input_tensor`):
    RGB uint8 HxWx3 -> 1xHxWx3 uint8 RGB at the network size, the same resize and nothing else; the
    backend converts to float, reorders the channels to `color_order` and applies (x - mean) / std. A
    quarter of the bytes to write, copy into the request and hold (0.6 against 2.4 MB at 448x448).
    """

    _INTERP = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}

    def __init__(self, spec: InputSpec, tensor: Literal["f32", "u8"] = "f32") -> None:
        if tensor not in ("f32", "u8"):
            raise ValueError(f"tensor must be 'f32' or 'u8', got {tensor!r}")
        self.tensor = tensor
        self.size = (int(spec.width), int(spec.height))
        self.shape = (1, 3, self.size[1], self.size[0]) if tensor == "f32" else (1, self.size[1], self.size[0], 3)
        self.dtype = np.float32 if tensor == "f32" else np.uint8
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
        """The network input of `rgb`; written into `out` (`self.dtype`, `self.shape`, C-contiguous) when given."""
        if out is not None and (out.shape != self.shape or out.dtype != self.dtype or not out.flags.c_contiguous):
            raise ValueError(f"out must be a C-contiguous {np.dtype(self.dtype).name} array of shape {self.shape}, "
                             f"got {out.dtype} {out.shape}")
        if self.tensor == "u8":
            return self._u8(rgb, out)
        img = rgb
        if self.interp != cv2.INTER_LINEAR and (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=self.interp)
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

    def _u8(self, rgb: np.ndarray, out: Optional[np.ndarray]) -> np.ndarray:
        """1xHxWx3 uint8: `rgb` resized to the network size (the resize blobFromImage does: same
        interpolation, on the uint8 image)."""
        dst = self.new_input() if out is None else out
        if (rgb.shape[1], rgb.shape[0]) == self.size:
            np.copyto(dst[0], rgb)
        else:
            cv2.resize(rgb, self.size, dst=dst[0], interpolation=self.interp)
        return dst

    def new_input(self) -> np.ndarray:
        """An empty network input to pass as `out`."""
        return np.empty(self.shape, self.dtype)


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
