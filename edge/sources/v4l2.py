"""A USB UVC camera through OpenCV's V4L2 backend, in MJPG, keeping the camera's own JPEG.

Settings: FOURCC MJPG (a UVC camera streams 720p/1080p at full rate only compressed), BUFFERSIZE 1
(always the freshest frame, not one from a queue of stale ones) and CONVERT_RGB 0, so `read()` hands
over the raw JPEG bytes (a 1xN uint8 Mat). We decode those at reduced scale for the network and keep
the bytes to save the full-resolution original. If the driver ignores CONVERT_RGB (some do) the frame
arrives decoded as BGR and is used as it is.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Optional, Union

import cv2
import numpy as np

from crackedge.errors import ConfigError
from edge.frames import Capture
from edge.sources.base import Source, SourceError, SourceStalled
from edge.sources.jpegframes import JpegFrameMaker


def device_node(device: Union[int, str]) -> str:
    """/dev/videoN for an index N (as an int or a digit string), else the path as given."""
    text = str(device)
    return f"/dev/video{text}" if text.isdigit() else text


def check_v4l2_device(device: Union[int, str], where: str = "source") -> str:
    """ConfigError when the device node does not exist or this user may not open it."""
    node = device_node(device)
    if not os.path.exists(node):
        raise ConfigError(
            f"{where}: source.device: {node} does not exist on this machine (no V4L2 camera there): plug the camera "
            "in and list the devices with `v4l2-ctl --list-devices`; a /dev/v4l/by-id/... path keeps its name across "
            "reboots and ports"
        )
    if not os.access(node, os.R_OK | os.W_OK):
        raise ConfigError(f"{where}: source.device: {node} exists but this user may not open it: add the user to "
                          "group 'video' (the service user crackedge is, see docs/pi-install.md)")
    return f"{node} present"


def _fourcc(s: str) -> int:
    return cv2.VideoWriter_fourcc(*s)


class V4l2Source(Source):
    kind = "v4l2"

    def __init__(
        self,
        device: Union[int, str],
        model_wh: tuple[int, int],
        width: int = 1280,
        height: int = 720,
        fps: Optional[float] = None,
        decode_scale: Union[str, int] = "auto",
        capture_factory: Optional[Callable[..., Any]] = None,
    ) -> None:
        super().__init__(model_wh)
        self.device = device
        self.width, self.height, self.fps = width, height, fps
        self.maker = JpegFrameMaker(model_wh, decode_scale)
        self._factory = capture_factory or cv2.VideoCapture
        self.cap: Any = None
        self.raw_jpeg = False  # True once the driver hands over raw JPEG bytes

    def describe(self) -> str:
        return f"v4l2:{self.device}"

    def open(self) -> None:
        dev = self.device
        if isinstance(dev, str) and dev.isdigit():
            dev = int(dev)
        cap = self._factory(dev, cv2.CAP_V4L2)
        if cap is None or not cap.isOpened():
            raise SourceError(
                f"cannot open camera {self.device} (unplugged? is the user in group 'video'? "
                "check `v4l2-ctl --list-devices`)"
            )
        cap.set(cv2.CAP_PROP_FOURCC, _fourcc("MJPG"))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        self.cap = cap

    def read(self) -> Capture:
        if self.cap is None:
            raise SourceError("camera not open")
        ok, frame = self.cap.read()
        t_wall, t_mono = time.time(), time.monotonic()
        if not ok or frame is None:
            raise SourceStalled(f"{self.describe()}: no frame (camera unplugged or stalled)")
        frame = np.asarray(frame)
        if frame.ndim == 1 or (frame.ndim == 2 and frame.shape[0] == 1):
            # raw MJPG buffer: decode at reduced scale, keep the original bytes
            self.raw_jpeg = True
            return self.maker.make(frame.reshape(-1).tobytes(), t_wall, t_mono)
        if frame.ndim == 3 and frame.shape[2] == 3:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            return Capture(image=rgb, t_wall=t_wall, t_mono=t_mono, full_size=(rgb.shape[1], rgb.shape[0]))
        raise SourceError(f"{self.describe()}: unexpected frame of shape {frame.shape} (not MJPG or BGR)")

    def close(self) -> None:
        if self.cap is not None:
            try:
                self.cap.release()
            finally:
                self.cap = None
