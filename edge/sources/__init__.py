"""Frame sources behind one small interface (`edge.sources.base.Source`).

Only the configured source's module is imported, so picamera2 is imported only for `kind: picamera2`.
"""

from __future__ import annotations

from edge.sources.base import CorruptFrame, FrameTimeout, Source, SourceEnded, SourceError, SourceStalled

__all__ = ["CorruptFrame", "FrameTimeout", "Source", "SourceEnded", "SourceError", "SourceStalled", "make_source"]


def make_source(cfg: object, model_wh: tuple[int, int]) -> Source:
    """Build the source described by a `edge.config` source section (kind picks the class)."""
    kind = getattr(cfg, "kind")
    if kind == "picamera2":
        from edge.sources.picam import PicameraSource

        return PicameraSource(
            model_wh, cfg.camera_num, cfg.main_size, cfg.fps, cfg.buffer_count, cfg.capture_timeout_s
        )
    if kind == "v4l2":
        from edge.sources.v4l2 import V4l2Source

        return V4l2Source(cfg.device, model_wh, cfg.width, cfg.height, cfg.fps, cfg.decode_scale)
    if kind == "http_mjpeg":
        from edge.sources.http_mjpeg import HttpMjpegSource

        return HttpMjpegSource(
            cfg.url, model_wh, cfg.connect_timeout_s, cfg.read_timeout_s, cfg.max_part_bytes, cfg.decode_scale,
            frame_timeout_s=cfg.frame_timeout_s,
        )
    if kind == "video":
        from edge.sources.files import VideoFileSource

        return VideoFileSource(cfg.path, model_wh, cfg.loop, cfg.rate_fps)
    if kind == "images":
        from edge.sources.files import ImageFolderSource

        return ImageFolderSource(cfg.path, model_wh, cfg.pattern, cfg.loop, cfg.rate_fps, cfg.decode_scale)
    raise ValueError(f"unknown source kind {kind!r}")
