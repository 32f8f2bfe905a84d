"""Finite sources for tests, benchmarks and replaying a drive: a folder of images, a video file.

Both drop nothing (the pipeline blocks instead) and may be paced to `rate_fps` to mimic a camera.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Union

import cv2

from edge.frames import Capture
from edge.sources.base import CorruptFrame, Source, SourceEnded, SourceError
from edge.sources.jpegframes import JpegFrameMaker

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class _Pacer:
    """Sleep so that frames come out at most `fps` per second (None: no pacing)."""

    def __init__(self, fps: Optional[float]) -> None:
        self.period = 1.0 / fps if fps else 0.0
        self.next_t = 0.0

    def wait(self) -> None:
        if not self.period:
            return
        now = time.monotonic()
        if self.next_t > now:
            time.sleep(self.next_t - now)
        self.next_t = max(now, self.next_t) + self.period


class ImageFolderSource(Source):
    kind = "images"

    def __init__(
        self,
        folder: Path,
        model_wh: tuple[int, int],
        pattern: str = "*",
        loop: bool = False,
        rate_fps: Optional[float] = None,
        decode_scale: Union[str, int] = "auto",
    ) -> None:
        super().__init__(model_wh)
        self.folder = Path(folder)
        self.pattern = pattern
        self.loop = loop
        self.pacer = _Pacer(rate_fps)
        self.maker = JpegFrameMaker(model_wh, decode_scale)
        self.files: list[Path] = []
        self._i = 0

    def describe(self) -> str:
        return f"images:{self.folder}"

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"image folder not found: {self.folder}")
        self.files = sorted(p for p in self.folder.glob(self.pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"no .jpg/.jpeg/.png/.bmp images matching {self.pattern!r} in {self.folder}")

    def read(self) -> Capture:
        if self._i >= len(self.files):
            if not self.loop:
                raise SourceEnded
            self._i = 0
        path = self.files[self._i]
        self._i += 1
        self.pacer.wait()
        t_wall, t_mono = time.time(), time.monotonic()
        try:
            data = path.read_bytes()
        except OSError as err:
            raise CorruptFrame(f"{path}: {err}") from None
        if path.suffix.lower() in (".jpg", ".jpeg"):
            try:
                return self.maker.make(data, t_wall, t_mono)
            except CorruptFrame as err:
                raise CorruptFrame(f"{path.name}: {err}") from None
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CorruptFrame(f"{path.name}: unreadable image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return Capture(image=rgb, t_wall=t_wall, t_mono=t_mono, full_size=(rgb.shape[1], rgb.shape[0]))

    def close(self) -> None:
        pass  # nothing held between reads


class VideoFileSource(Source):
    kind = "video"

    def __init__(self, path: Path, model_wh: tuple[int, int], loop: bool = False, rate_fps: Optional[float] = None) -> None:
        super().__init__(model_wh)
        self.path = Path(path)
        self.loop = loop
        self.pacer = _Pacer(rate_fps)
        self.cap: Optional[cv2.VideoCapture] = None
        self._frames_read = 0

    def describe(self) -> str:
        return f"video:{self.path}"

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        self.cap = cv2.VideoCapture(str(self.path))
        if not self.cap.isOpened():
            raise SourceError(f"OpenCV cannot open the video {self.path} (codec not supported?)")

    def read(self) -> Capture:
        if self.cap is None:
            raise SourceError("video not open")
        self.pacer.wait()
        ok, bgr = self.cap.read()
        if not ok or bgr is None:
            if self.loop and self._frames_read > 0:
                self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, bgr = self.cap.read()
            if not ok or bgr is None:
                raise SourceEnded
        self._frames_read += 1
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return Capture(image=rgb, t_wall=time.time(), t_mono=time.monotonic(), full_size=(rgb.shape[1], rgb.shape[0]))

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None
