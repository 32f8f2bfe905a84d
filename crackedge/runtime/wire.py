"""The request payload of a served bundle: one UINT8 tensor `image` of shape [1, n] holding either

- an encoded image (JPEG or PNG, any size; the server decodes and resizes it as the bundle says),
- raw RGB pixels at the model's input size (n = H * W * 3, HWC order), or
- the float32 network input itself (n = 3 * H * W * 4 bytes, NCHW, already normalised).

The server tells them apart by the JPEG/PNG signature, then by the length. One UINT8 input (not a
KServe BYTES tensor) because Triton's Python backend stub in the nvidia-pytriton wheel was built
against numpy 1.x and converts BYTES tensors through numpy (docs/serve.md, "numpy 2"). The answer is
one FP32 tensor `crack` [1, 1, h, w]: the crack probability at the bundle's output stride.

Torch-free and Triton-free: the vehicle's client (crackedge.runtime.backends.remote) has the
encoder side, the server model the decoder side.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

Wire = Literal["jpeg", "png", "uint8", "float32"]
WIRES = ("jpeg", "png", "uint8", "float32")
INPUT_NAME = "image"
OUTPUT_NAME = "crack"

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG"


def encode(rgb: np.ndarray, wire: Wire, jpeg_quality: int = 90) -> np.ndarray:
    """RGB uint8 H x W x 3 (at the model's input size for uint8) -> the 1-D uint8 payload."""
    if wire == "uint8":
        return np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if wire == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    elif wire == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    else:
        raise ValueError(f"encode() makes jpeg, png or uint8 payloads, not {wire!r} (float32: blob.view(np.uint8))")
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {wire}")
    return buf.reshape(-1)


def encode_blob(blob: np.ndarray) -> np.ndarray:
    """The float32 network input 1 x 3 x H x W as its raw bytes (uint8 view)."""
    return np.ascontiguousarray(blob, dtype=np.float32).reshape(-1).view(np.uint8)


def kind_of(payload: np.ndarray, height: int, width: int) -> Wire:
    """Which of the payloads `payload` is for a model with input height x width; ValueError otherwise."""
    head = payload[:4].tobytes()
    if head.startswith(_JPEG):
        return "jpeg"
    if head.startswith(_PNG):
        return "png"
    n = payload.size
    if n == height * width * 3:
        return "uint8"
    if n == 3 * height * width * 4:
        return "float32"
    raise ValueError(
        f"payload of {n} bytes is neither a JPEG/PNG image nor {height}x{width}x3 uint8 pixels "
        f"({height * width * 3} bytes) nor the float32 input ({3 * height * width * 4} bytes)"
    )


def decode_rgb(payload: np.ndarray, kind: Wire, height: int, width: int) -> np.ndarray:
    """An image payload (jpeg, png, uint8) -> RGB uint8 H x W x 3."""
    if kind == "uint8":
        return payload.reshape(height, width, 3)
    bgr = cv2.imdecode(payload, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode the {kind} payload ({payload.size} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def blob_to_rgb(blob: np.ndarray, spec) -> np.ndarray:
    """The network input 1 x 3 x H x W float32 (preprocessed as `spec`, an InputSpec, says) back to the
    RGB uint8 H x W x 3 image it was made from. Exact: the preprocessing resizes the uint8 frame first
    and only then normalises, so rounding x * std + mean recovers the resized pixels."""
    mean = np.asarray(spec.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(spec.std, np.float32).reshape(3, 1, 1)
    img = np.clip(np.rint(blob[0] * std + mean), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    if spec.color_order == "BGR":
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def payload_for(blob: np.ndarray, spec, wire: Wire, jpeg_quality: int = 90) -> np.ndarray:
    """What a client sends for one preprocessed frame."""
    if wire == "float32":
        return encode_blob(blob)
    return encode(blob_to_rgb(blob, spec), wire, jpeg_quality)
