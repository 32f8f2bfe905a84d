"""Turn JPEG bytes from any source into a `Capture` (reduced-scale decode, original bytes kept)."""

from __future__ import annotations

import time
from typing import Union

from edge.frames import Capture
from edge.jpeg import CorruptJpeg, JpegDecoder, choose_scale, jpeg_size, trim_padding
from edge.sources.base import CorruptFrame


_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"RIFF": "RIFF/WebP",
    b"\x00\x00\x00": "ISO media (HEIF/AVIF?)",
}


def not_jpeg_reason(data: bytes) -> str | None:
    """Why `data` is not a JPEG at all (another image format, text, ...); None when it starts like one."""
    if data.startswith(b"\xff\xd8"):
        return None
    for magic, name in _MAGIC.items():
        if data.startswith(magic):
            return f"a {name} image, not a JPEG ({len(data)} bytes; the camera must send JPEG parts)"
    return f"not a JPEG: starts with {data[:8].hex(' ') or 'nothing'} ({len(data)} bytes)"


class JpegFrameMaker:
    """Decode JPEG bytes at the scale the model needs; the full-res bytes travel along for saving."""

    def __init__(self, model_wh: tuple[int, int], decode_scale: Union[str, int] = "auto", decoder: JpegDecoder | None = None) -> None:
        self.model_wh = model_wh
        self.decode_scale = decode_scale
        self.decoder = decoder or JpegDecoder()

    def scale_for(self, full_wh: tuple[int, int]) -> int:
        if self.decode_scale == "auto":
            return choose_scale(full_wh, self.model_wh)
        return int(self.decode_scale)

    def make(self, data: bytes, t_wall: float | None = None, t_mono: float | None = None) -> Capture:
        """Raises CorruptFrame for corrupt or truncated JPEG bytes."""
        t_wall = time.time() if t_wall is None else t_wall
        t_mono = time.monotonic() if t_mono is None else t_mono
        data = bytes(data)
        reason = not_jpeg_reason(data)
        if reason is not None:
            raise CorruptFrame(reason)
        data = trim_padding(data)
        size = jpeg_size(data)
        if size is None:
            raise CorruptFrame(f"JPEG without a frame header ({len(data)} bytes)")
        c0, w0 = time.thread_time(), time.perf_counter()
        try:
            image = self.decoder.decode(data, self.scale_for(size))
        except CorruptJpeg as err:
            raise CorruptFrame(str(err)) from None
        cost = (time.thread_time() - c0, time.perf_counter() - w0)
        return Capture(image=image, t_wall=t_wall, t_mono=t_mono, full_size=size, jpeg=data, costs={"decode": cost})
