"""Frame sources behind one small interface (`edge.sources.base.Source`).

Only the configured source's module is imported, so picamera2 is imported only for `kind: picamera2`.

`check_source` runs at start (`edge run`, `edge check-config`): a source that cannot exist on this
machine - picamera2 not importable, a V4L2 device node or a video/image path that is not there - is a
configuration error (exit 2, the fix named), not something to retry every 30 s. A stream URL that does
not answer is *not* checked: that camera may come back, and the capture stage reconnects with backoff.
"""

from __future__ import annotations

from pathlib import Path

from crackedge.errors import ConfigError
from edge.sources.base import CorruptFrame, FrameTimeout, Source, SourceEnded, SourceError, SourceStalled

__all__ = ["CorruptFrame", "FrameTimeout", "Source", "SourceEnded", "SourceError", "SourceStalled", "check_source",
           "make_source"]


def check_source(cfg: object, where: str = "source") -> str:
    """Raise ConfigError (or MissingDependencyError) when the configured source cannot exist here;
    return one line saying what was checked. `where` prefixes messages (the config file's name)."""
    kind = getattr(cfg, "kind")
    if kind == "picamera2":
        from edge.sources.picam import check_picamera2

        return check_picamera2(where)
    if kind == "v4l2":
        from edge.sources.v4l2 import check_v4l2_device

        return check_v4l2_device(cfg.device, where)
    if kind == "http_mjpeg":
        return f"{cfg.url} (not contacted: a stream that is down is reconnected with backoff)"
    if kind in ("video", "images"):
        path = Path(cfg.path)
        ok = path.is_file() if kind == "video" else path.is_dir()
        if not ok:
            what = "video file" if kind == "video" else "image folder"
            state = "is not a " + ("file" if kind == "video" else "folder") if path.exists() else "does not exist"
            raise ConfigError(f"{where}: source.path: {path} {state} (a {what} is expected)")
        return "present"
    raise ValueError(f"unknown source kind {kind!r}")


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
