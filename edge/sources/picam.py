"""The Raspberry Pi camera through picamera2 (libcamera), imported only when this source is configured.

Two streams from one request: `lores`, sized to the network input, is what we infer on (the ISP
scales it for free), and `main` is what we draw on and save. On a Pi 4 (VC4 ISP) the lores stream
must be YUV420, so we ask for YUV420 on every model and convert it (I420 -> RGB) ourselves.
picamera2's "RGB888" main stream is B,G,R in memory (OpenCV order) and is converted to RGB.

Each capture uses `captured_request()`, the context manager that releases the request's buffers
back to the camera even when our code raises; without that the camera runs out of buffers and stops.
picamera2 comes from Raspberry Pi OS (apt install python3-picamera2); in a venv, create it with
--system-site-packages.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import cv2
import numpy as np

from crackedge.errors import MissingDependencyError
from edge.frames import Capture
from edge.sources.base import Source, SourceError, SourceStalled


PICAMERA2_INSTALL = (
    "on Raspberry Pi OS: `sudo apt install -y python3-picamera2` and a venv made with "
    "`python3 -m venv --system-site-packages`, crackedge installed with -c constraints/pi-camera.txt "
    "(docs/pi-install.md); or choose another source.kind"
)


def check_picamera2(where: str = "source") -> str:
    """Import picamera2 as the source will; MissingDependencyError with the install command when it
    cannot be imported, also when numpy in the venv is not the one the apt packages were built for."""
    try:
        module = importlib.import_module("picamera2")
    except Exception as err:  # ImportError; numpy ABI mismatches also raise AttributeError/RuntimeError
        text = f"{type(err).__name__}: {err}".strip()
        abi = ""
        if any(s in text for s in ("numpy", "_ARRAY_API", "multiarray", "NumPy")):
            abi = (f" - picamera2's apt packages are built against the system numpy 1.x, but this environment imports "
                   f"numpy {np.__version__} from {np.__file__}: reinstall crackedge into a fresh "
                   "--system-site-packages venv with -c constraints/pi-camera.txt, which keeps numpy < 2")
        raise MissingDependencyError(
            f"{where}: source.kind picamera2, but picamera2 cannot be imported here ({text}){abi}; {PICAMERA2_INSTALL}"
        ) from None
    return f"picamera2 importable from {Path(str(module.__file__)).parent}"


def _even(n: int) -> int:
    return max(2, int(n) // 2 * 2)


def yuv420_to_rgb(yuv: np.ndarray, width: int, height: int) -> np.ndarray:
    """picamera2's YUV420 array ((height*3/2) x stride uint8) -> height x width x 3 RGB."""
    if yuv.ndim != 2 or yuv.shape[0] != height * 3 // 2:
        raise ValueError(f"YUV420 array of shape {yuv.shape} does not match {width}x{height}")
    rgb = cv2.cvtColor(np.ascontiguousarray(yuv), cv2.COLOR_YUV2RGB_I420)
    return np.ascontiguousarray(rgb[:, :width])


class PicameraSource(Source):
    kind = "picamera2"

    def __init__(
        self,
        model_wh: tuple[int, int],
        camera_num: int = 0,
        main_size: tuple[int, int] = (1280, 720),
        fps: Optional[float] = None,
        buffer_count: int = 4,
        capture_timeout_s: float = 2.0,
    ) -> None:
        super().__init__(model_wh)
        self.camera_num = camera_num
        self.main_size = (int(main_size[0]), int(main_size[1]))
        self.fps = fps
        self.buffer_count = buffer_count
        self.capture_timeout_s = capture_timeout_s
        self.cam: Any = None
        self.lores_size: tuple[int, int] = (0, 0)
        self.main_format = "RGB888"

    def describe(self) -> str:
        return f"picamera2:{self.camera_num}"

    @staticmethod
    def _import() -> Any:
        try:
            return importlib.import_module("picamera2")
        except ImportError as err:
            raise SourceError(f"the picamera2 source needs picamera2 ({err}); {PICAMERA2_INSTALL}") from None

    def open(self) -> None:
        picamera2 = self._import()
        mw, mh = self.model_wh
        # lores may not exceed main; keep the model's size otherwise (even sizes for YUV420)
        lores = (_even(min(mw, self.main_size[0])), _even(min(mh, self.main_size[1])))
        try:
            cam = picamera2.Picamera2(self.camera_num)
        except Exception as err:  # libcamera raises various types when no camera is attached
            raise SourceError(f"cannot open camera {self.camera_num}: {err} (ribbon cable? `rpicam-hello --list-cameras`)") from None
        try:
            controls = {"FrameRate": float(self.fps)} if self.fps else {}
            config = cam.create_video_configuration(
                main={"size": self.main_size, "format": self.main_format},
                lores={"size": lores, "format": "YUV420"},
                buffer_count=self.buffer_count,
                controls=controls,
            )
            cam.configure(config)
            actual = cam.camera_configuration()
            self.main_size = tuple(actual["main"]["size"])
            self.lores_size = tuple(actual["lores"]["size"])
            cam.start()
        except Exception as err:
            with contextlib.suppress(Exception):
                cam.close()
            raise SourceError(f"cannot configure camera {self.camera_num}: {err}") from None
        self.cam = cam

    @contextlib.contextmanager
    def _request(self) -> Iterator[Any]:
        """picamera2's captured_request() (guaranteed release); a manual release on old releases."""
        if hasattr(self.cam, "captured_request"):
            with self.cam.captured_request(wait=self.capture_timeout_s) as request:
                yield request
        else:
            request = self.cam.capture_request(wait=self.capture_timeout_s)
            try:
                yield request
            finally:
                request.release()

    def read(self) -> Capture:
        if self.cam is None:
            raise SourceError("camera not open")
        try:
            with self._request() as request:
                t_wall, t_mono = time.time(), time.monotonic()
                main = request.make_array("main")  # copies out of the camera buffer
                lores = request.make_array("lores")
        except TimeoutError:
            raise SourceStalled(f"{self.describe()}: no frame within {self.capture_timeout_s:.1f} s") from None
        except Exception as err:
            raise SourceError(f"{self.describe()}: capture failed: {err}") from None
        image = cv2.cvtColor(main, cv2.COLOR_BGR2RGB)  # "RGB888" is B,G,R in memory
        infer = yuv420_to_rgb(lores, self.lores_size[0], self.lores_size[1])
        return Capture(
            image=image, infer_image=infer, t_wall=t_wall, t_mono=t_mono, full_size=(image.shape[1], image.shape[0])
        )

    def close(self) -> None:
        cam, self.cam = self.cam, None
        if cam is None:
            return
        with contextlib.suppress(Exception):
            cam.stop()
        with contextlib.suppress(Exception):
            cam.close()
