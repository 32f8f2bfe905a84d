"""Camera sources with the hardware faked: V4L2 (a fake cv2.VideoCapture) and picamera2 (a fake module)."""

from __future__ import annotations

import sys
import types

import cv2
import numpy as np
import pytest

from edge.sources.base import SourceError, SourceStalled
from tests.edge_bundle_fixture import encode_jpeg, synthetic_frame

# ---- V4L2 (fake VideoCapture) ------------------------------------------------------------------


class FakeCap:
    def __init__(self, frames, opened: bool = True) -> None:
        self.frames = list(frames)
        self.opened = opened
        self.props: dict[int, float] = {}
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV naming)
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def read(self):
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def release(self) -> None:
        self.released = True


def test_v4l2_source_requests_mjpg_small_buffer_raw_jpeg_and_decodes_reduced() -> None:
    from edge.sources.v4l2 import V4l2Source

    big = encode_jpeg(synthetic_frame(1280, 720, seed=5))
    raw = np.frombuffer(big + b"\x00" * 100, np.uint8).reshape(1, -1)  # padded driver buffer
    bgr = cv2.cvtColor(synthetic_frame(64, 48, seed=6), cv2.COLOR_RGB2BGR)
    fake = FakeCap([raw, bgr])
    calls = []

    def factory(dev, api):
        calls.append((dev, api))
        return fake

    src = V4l2Source("/dev/video0", (448, 448), 1280, 720, fps=30, capture_factory=factory)
    src.open()
    assert calls == [("/dev/video0", cv2.CAP_V4L2)]
    assert fake.props[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
    assert fake.props[cv2.CAP_PROP_BUFFERSIZE] == 1
    assert fake.props[cv2.CAP_PROP_CONVERT_RGB] == 0
    assert fake.props[cv2.CAP_PROP_FRAME_WIDTH] == 1280 and fake.props[cv2.CAP_PROP_FPS] == 30
    cap = src.read()
    assert cap.jpeg == big and cap.full_size == (1280, 720) and cap.image.shape == (360, 640, 3)
    cap2 = src.read()  # a driver that ignored CONVERT_RGB=0: BGR frame used as is
    assert cap2.jpeg is None and np.array_equal(cap2.image, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    with pytest.raises(SourceStalled):
        src.read()
    src.close()
    assert fake.released


def test_v4l2_source_open_failure_says_what_to_check() -> None:
    from edge.sources.v4l2 import V4l2Source

    src = V4l2Source("2", (96, 96), capture_factory=lambda dev, api: FakeCap([], opened=False))
    with pytest.raises(SourceError, match="v4l2-ctl"):
        src.open()


# ---- picamera2 (fake module) -------------------------------------------------------------------


class FakeRequest:
    def __init__(self, cam: "FakePicamera2") -> None:
        self.cam = cam

    def make_array(self, name: str) -> np.ndarray:
        if self.cam.fail_make_array:
            raise RuntimeError("buffer error")
        cfg = self.cam.config[name]
        w, h = cfg["size"]
        if name == "main":
            return self.cam.main_bgr.copy()
        return self.cam.lores_yuv.copy()

    def release(self) -> None:
        self.cam.released += 1


class FakePicamera2:
    instances: list["FakePicamera2"] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_num = camera_num
        self.config = None
        self.started = self.closed = False
        self.released = 0
        self.acquired = 0
        self.fail_make_array = False
        self.timeout = False
        self.wait_args = []
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, main, lores, buffer_count, controls):
        assert lores["format"] == "YUV420" and main["format"] == "RGB888"
        return {"main": dict(main), "lores": dict(lores), "buffer_count": buffer_count, "controls": controls}

    def configure(self, config) -> None:
        self.config = config
        mw, mh = config["main"]["size"]
        lw, lh = config["lores"]["size"]
        rgb_main = synthetic_frame(mw, mh, seed=7)
        self.main_bgr = cv2.cvtColor(rgb_main, cv2.COLOR_RGB2BGR)  # "RGB888" is B,G,R in memory
        self.lores_rgb = cv2.resize(rgb_main, (lw, lh), interpolation=cv2.INTER_AREA)
        self.lores_yuv = cv2.cvtColor(self.lores_rgb, cv2.COLOR_RGB2YUV_I420)

    def camera_configuration(self):
        return self.config

    def start(self) -> None:
        self.started = True

    def captured_request(self, wait=None):
        import contextlib

        self.wait_args.append(wait)

        @contextlib.contextmanager
        def cm():
            if self.timeout:
                raise TimeoutError("no frame")
            self.acquired += 1
            req = FakeRequest(self)
            try:
                yield req
            finally:
                req.release()

        return cm()

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_picamera2(monkeypatch):
    mod = types.ModuleType("picamera2")
    mod.Picamera2 = FakePicamera2
    FakePicamera2.instances = []
    monkeypatch.setitem(sys.modules, "picamera2", mod)
    return mod


def test_picamera_source_infers_on_lores_saves_main_and_always_releases(fake_picamera2) -> None:
    from edge.sources.picam import PicameraSource

    src = PicameraSource((96, 64), camera_num=0, main_size=(320, 240), fps=15, capture_timeout_s=1.5)
    src.open()
    cam = FakePicamera2.instances[0]
    assert cam.started and cam.config["lores"]["size"] == (96, 64)
    assert cam.config["controls"] == {"FrameRate": 15.0}
    cap = src.read()
    assert cam.wait_args == [1.5]
    assert cap.image.shape == (240, 320, 3)
    assert np.array_equal(cap.image, cv2.cvtColor(cam.main_bgr, cv2.COLOR_BGR2RGB))
    assert cap.infer_image.shape == (64, 96, 3)
    assert np.abs(cap.infer_image.astype(int) - cam.lores_rgb.astype(int)).mean() < 3  # YUV round trip
    assert cam.released == cam.acquired == 1
    cam.fail_make_array = True
    with pytest.raises(SourceError, match="capture failed"):
        src.read()
    assert cam.released == cam.acquired == 2  # released even though make_array raised
    cam.fail_make_array, cam.timeout = False, True
    with pytest.raises(SourceStalled):
        src.read()
    src.close()
    assert cam.closed and not cam.started


def test_picamera_source_without_picamera2_says_how_to_install(monkeypatch) -> None:
    from edge.sources.picam import PicameraSource

    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match="python3-picamera2.*system-site-packages"):
        PicameraSource((96, 96)).open()


def test_picamera_yuv_with_stride_padding() -> None:
    from edge.sources.picam import yuv420_to_rgb

    rgb = synthetic_frame(96, 64, seed=9)
    yuv = cv2.cvtColor(cv2.copyMakeBorder(rgb, 0, 0, 0, 32, cv2.BORDER_REPLICATE), cv2.COLOR_RGB2YUV_I420)  # stride 128
    out = yuv420_to_rgb(yuv, 96, 64)
    assert out.shape == (64, 96, 3)
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 3
