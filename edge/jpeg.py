"""JPEG checks and reduced-scale decoding (libjpeg DCT scaling).

A camera's 1280x720 JPEG feeding a 448x448 network does not need a full decode: libjpeg can decode
at 1/2, 1/4 or 1/8 scale for a fraction of the cost (cv2.IMREAD_REDUCED_COLOR_N, or simplejpeg
with min_width/min_height chosen to land exactly on that scale). Measured on the x86 dev box:
1280x720 q85 full decode 3.0 ms, 1/2 scale 1.9 ms. simplejpeg picks the smallest scale whose size is
>= the requested minimum, so we request exactly W/N x H/N.

Truncated or corrupt JPEGs raise CorruptJpeg: libjpeg happily returns a half-grey image for a
truncated file, so we check the SOI/EOI markers ourselves before decoding.
"""

from __future__ import annotations

import math
import struct
from typing import Optional

import cv2
import numpy as np

_SOI = b"\xff\xd8"
_EOI = b"\xff\xd9"
_REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


class CorruptJpeg(ValueError):
    """The bytes are not a complete JPEG image."""


def looks_complete(data: bytes) -> bool:
    """True when `data` starts with SOI and ends with EOI (trailing zero padding from drivers allowed)."""
    if len(data) < 4 or not data.startswith(_SOI):
        return False
    tail = data.rstrip(b"\x00\r\n")
    return tail.endswith(_EOI)


def trim_padding(data: bytes) -> bytes:
    """Drop bytes after the last EOI marker (V4L2 drivers may hand over a padded buffer)."""
    end = data.rfind(_EOI)
    return data[: end + 2] if end >= 0 else data


def jpeg_size(data: bytes) -> Optional[tuple[int, int]]:
    """(width, height) from the first SOFn marker, without decoding; None when not found."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        if i + 4 > n:
            return None
        (seg_len,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return (w, h)
        if marker == 0xDA:  # start of scan without a frame header
            return None
        i += 2 + seg_len
    return None


def choose_scale(full_wh: tuple[int, int], model_wh: tuple[int, int], min_fraction: float = 0.75) -> int:
    """Largest N in (8, 4, 2) with full/N >= min_fraction * model input on both sides, else 1.

    1280x720 for a 448x448 model: 1/2 (640x360; 360 >= 336), not 1/4 (320x180).
    """
    fw, fh = full_wh
    mw, mh = model_wh
    for n in (8, 4, 2):
        if fw / n >= min_fraction * mw and fh / n >= min_fraction * mh:
            return n
    return 1


class JpegDecoder:
    """Decode JPEG bytes to HxWx3 uint8 RGB at 1/scale, with simplejpeg when installed, else OpenCV."""

    def __init__(self, prefer: str = "auto") -> None:
        self._simplejpeg = None
        if prefer in ("auto", "simplejpeg"):
            try:
                import simplejpeg  # heavy-ish C extension, optional

                self._simplejpeg = simplejpeg
            except ImportError:
                if prefer == "simplejpeg":
                    raise
        self.backend = "simplejpeg" if self._simplejpeg is not None else "opencv"

    def decode(self, data: bytes, scale: int = 1) -> np.ndarray:
        """RGB uint8 image of `data` decoded at 1/scale (scale in 1, 2, 4, 8). Raises CorruptJpeg."""
        if not looks_complete(data):
            raise CorruptJpeg(f"not a complete JPEG ({len(data)} bytes; missing SOI/EOI marker)")
        if scale not in _REDUCED_FLAGS:
            raise ValueError(f"scale must be 1, 2, 4 or 8 (got {scale})")
        if self._simplejpeg is not None:
            try:
                kwargs = {}
                if scale > 1:
                    size = jpeg_size(data)
                    if size is not None:
                        kwargs = {"min_width": math.ceil(size[0] / scale), "min_height": math.ceil(size[1] / scale)}
                return self._simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, **kwargs)
            except Exception as err:  # simplejpeg raises ValueError (and RuntimeError in old releases)
                raise CorruptJpeg(f"undecodable JPEG: {err}") from None
        arr = np.frombuffer(data, dtype=np.uint8)
        bgr = cv2.imdecode(arr, _REDUCED_FLAGS[scale])
        if bgr is None:
            raise CorruptJpeg(f"undecodable JPEG ({len(data)} bytes)")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
