"""Frame sources: MJPEG part splitting, JPEG checks, files, V4L2 and picamera2 (faked), the capture loop."""

from __future__ import annotations

import sys
import threading
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture import CaptureOptions, CaptureWorker
from edge.frames import Capture
from edge.jpeg import JpegDecoder, choose_scale, jpeg_size, looks_complete
from edge.metrics import Metrics
from edge.queues import END, QueueEmpty, StageQueue
from edge.sources.base import CorruptFrame, Source, SourceEnded, SourceError, SourceStalled
from edge.sources.files import ImageFolderSource, VideoFileSource
from edge.sources.http_mjpeg import MultipartJpegReader, PartTooLarge, parse_boundary
from edge.sources.jpegframes import JpegFrameMaker
from edge.watchdog import Heartbeat
from tests.edge_bundle_fixture import encode_jpeg, synthetic_frame

J1 = encode_jpeg(synthetic_frame(160, 120, seed=1))
J2 = encode_jpeg(synthetic_frame(160, 120, seed=2, crack=False))


def _chunks(data: bytes, size: int = 37):
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    it = iter(parts)
    return lambda: next(it, b"")


# ---- MJPEG multipart ---------------------------------------------------------------------------


def test_multipart_reader_uses_content_length_and_marker_fallback() -> None:
    body = (
        b"--bnd\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(J1) + J1 + b"\r\n"
        + b"--bnd\r\nContent-Type: image/jpeg\r\n\r\n" + J2 + b"\r\n"  # no Content-Length
        + b"--bnd\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(J2) + J2 + b"\r\n"
        + b"--bnd--\r\n"
    )
    reader = MultipartJpegReader(_chunks(body), parse_boundary("multipart/x-mixed-replace;boundary=bnd"))
    assert reader.next_part() == J1
    assert reader.next_part() == J2
    assert reader.next_part() == J2
    assert reader.parts_without_length == 1
    with pytest.raises(EOFError):
        reader.next_part()


def test_multipart_reader_tolerates_garbage_dashes_and_headerless_parts() -> None:
    body = b"junk before\r\n\r\n--bnd\r\n\r\n" + J1 + b"\r\n--bnd\r\nContent-Length: %d\r\n\r\n" % len(J2) + J2
    # boundary given with leading dashes in the header (some servers do that)
    reader = MultipartJpegReader(_chunks(body, 5), parse_boundary('multipart/x-mixed-replace; boundary="--bnd"'))
    assert reader.next_part() == J1
    assert reader.next_part() == J2
    with pytest.raises(EOFError):
        reader.next_part()


def test_multipart_reader_truncated_part_without_length_is_handed_over_and_next_part_survives() -> None:
    truncated = J1[: len(J1) // 2]
    body = b"--bnd\r\n\r\n" + truncated + b"\r\n--bnd\r\nContent-Length: %d\r\n\r\n" % len(J2) + J2 + b"\r\n"
    reader = MultipartJpegReader(_chunks(body), b"bnd")
    first = reader.next_part()
    assert not looks_complete(first)
    assert reader.next_part() == J2


def test_multipart_reader_rejects_oversized_parts() -> None:
    body = b"--bnd\r\nContent-Length: 999999\r\n\r\n" + J1 + b"\r\n--bnd\r\nContent-Length: %d\r\n\r\n" % len(J2) + J2
    reader = MultipartJpegReader(_chunks(body), b"bnd", max_part_bytes=50_000)
    with pytest.raises(PartTooLarge):
        reader.next_part()
    assert reader.next_part() == J2


# ---- JPEG helpers ------------------------------------------------------------------------------


def test_jpeg_size_scale_choice_and_reduced_decode() -> None:
    big = encode_jpeg(synthetic_frame(1280, 720, seed=3))
    assert jpeg_size(big) == (1280, 720)
    assert choose_scale((1280, 720), (448, 448)) == 2  # 640x360: 360 >= 0.75 * 448
    assert choose_scale((1280, 720), (96, 96)) == 8
    assert choose_scale((448, 448), (448, 448)) == 1
    maker = JpegFrameMaker((448, 448))
    cap = maker.make(big)
    assert cap.image.shape == (360, 640, 3) and cap.image.dtype == np.uint8
    assert cap.full_size == (1280, 720) and cap.jpeg == big
    for prefer in ("opencv", "auto"):
        img = JpegDecoder(prefer).decode(big, 2)
        assert img.shape == (360, 640, 3)


def test_corrupt_and_truncated_jpegs_raise_corrupt_frame() -> None:
    maker = JpegFrameMaker((96, 96))
    for bad in (J1[: len(J1) // 2], b"\xff\xd8 not a jpeg \xff\xd9", b"", b"hello"):
        with pytest.raises(CorruptFrame):
            maker.make(bad)
    # driver padding after EOI is fine
    assert maker.make(J1 + b"\x00" * 64).jpeg == J1


# ---- files ---------------------------------------------------------------------------------------


def test_image_folder_source_reads_in_order_and_counts_corrupt(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(J1)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8broken")
    cv2.imwrite(str(tmp_path / "c.png"), cv2.cvtColor(synthetic_frame(80, 60, seed=4), cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("ignored")
    src = ImageFolderSource(tmp_path, (96, 96))
    assert src.live is False
    src.open()
    first = src.read()
    assert first.jpeg == J1
    with pytest.raises(CorruptFrame):
        src.read()
    third = src.read()
    assert third.image.shape == (60, 80, 3) and third.jpeg is None
    with pytest.raises(SourceEnded):
        src.read()


def test_image_folder_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        ImageFolderSource(tmp_path / "nope", (96, 96)).open()
    with pytest.raises(SourceError, match="no .jpg"):
        ImageFolderSource(tmp_path, (96, 96)).open()


def test_video_file_source(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for s in range(3):
        w.write(cv2.cvtColor(synthetic_frame(160, 120, seed=s), cv2.COLOR_RGB2BGR))
    w.release()
    src = VideoFileSource(path, (96, 96))
    src.open()
    frames = []
    with pytest.raises(SourceEnded):
        while True:
            frames.append(src.read())
    src.close()
    assert len(frames) == 3 and frames[0].image.shape == (120, 160, 3)


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


# ---- the capture loop --------------------------------------------------------------------------


class ScriptedSource(Source):
    """open()/read() follow a script: 'fail_open', 'frame', 'corrupt', 'stall', 'error', 'end'."""

    kind = "scripted"

    def __init__(self, script: list[str]) -> None:
        super().__init__((32, 32))
        self.script = list(script)
        self.opens = self.closes = 0

    def _next(self) -> str:
        return self.script.pop(0) if self.script else "end"

    def open(self) -> None:
        if self.script and self.script[0] == "fail_open":
            self.script.pop(0)
            raise SourceError("device busy")
        self.opens += 1

    def read(self) -> Capture:
        step = self._next()
        if step == "frame":
            return Capture(image=np.zeros((8, 8, 3), np.uint8), t_wall=time.time(), t_mono=time.monotonic(), full_size=(8, 8))
        if step == "corrupt":
            raise CorruptFrame("bad jpeg")
        if step == "stall":
            raise SourceStalled("silent")
        if step == "error":
            raise SourceError("unplugged")
        if step == "boom":
            raise RuntimeError("driver bug")
        raise SourceEnded

    def close(self) -> None:
        self.closes += 1


def _drain(q: StageQueue) -> list:
    items = []
    while True:
        try:
            items.append(q.get(5.0))
        except QueueEmpty:
            raise AssertionError("capture did not finish")
        if items[-1] is END:
            return items


def test_capture_loop_counts_corrupt_reopens_with_backoff_and_numbers_frames() -> None:
    src = ScriptedSource(["fail_open", "fail_open", "frame", "corrupt", "frame", "stall", "frame", "error", "boom", "frame", "end"])
    q = StageQueue("capture", 100, "block")
    metrics = Metrics()
    worker = CaptureWorker(src, q, threading.Event(), threading.Event(), Heartbeat("capture"), metrics,
                           CaptureOptions(reconnect_initial_s=0.05, reconnect_max_s=0.2, stall_timeout_s=10))
    t0 = time.monotonic()
    worker.start()
    items = _drain(q)
    worker.join(5)
    frames = items[:-1]
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    s = metrics.source.snapshot()
    assert s["corrupt"] == 1 and s["stalls"] == 1 and s["frames"] == 4
    assert s["reconnects"] == 3  # after stall, error and the unexpected exception
    assert s["state"] == "ended"
    assert "unexpected RuntimeError" in s["last_error"]
    # backoff: two failed opens (0.05 + 0.1) then three reopen waits starting at 0.05 again
    assert time.monotonic() - t0 >= 0.15
    assert src.closes >= 4


def test_capture_loop_stops_promptly_on_stop_event_while_source_keeps_failing() -> None:
    src = ScriptedSource(["fail_open"] * 1000)
    q = StageQueue("capture", 2, "latest")
    stop = threading.Event()
    metrics = Metrics()
    worker = CaptureWorker(src, q, stop, threading.Event(), Heartbeat("capture"), metrics,
                           CaptureOptions(reconnect_initial_s=5.0, reconnect_max_s=30.0, stall_timeout_s=1))
    worker.start()
    deadline = time.monotonic() + 5
    while metrics.source.get("state") != "reconnecting" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert metrics.source.get("last_error").startswith("cannot open scripted")
    stop.set()
    worker.join(2.0)
    assert not worker.is_alive()
    assert q.get(1.0) is END


# ---- HTTP source against real sockets --------------------------------------------------------------


def _one_shot_server(response: bytes, hold_s: float = 3.0):
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(response)
                time.sleep(hold_s)  # then silence: the client must time out, not hang

    threading.Thread(target=serve, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.getsockname()[1]}/?action=stream"


def test_http_source_times_out_on_a_silent_server_and_reports_bad_answers() -> None:
    from edge.sources.http_mjpeg import HttpMjpegSource

    head = b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=b\r\n\r\n"
    part = b"--b\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(J1) + J1 + b"\r\n"
    srv, url = _one_shot_server(head + part)
    try:
        src = HttpMjpegSource(url, (96, 96), connect_timeout_s=2.0, read_timeout_s=0.3)
        src.open()
        assert src.read().jpeg == J1
        t0 = time.monotonic()
        with pytest.raises(SourceStalled, match="no data for 0.3 s"):
            src.read()
        assert time.monotonic() - t0 < 2.0
        src.close()
    finally:
        srv.close()
    srv, url = _one_shot_server(b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\n\r\n" + J1, hold_s=0)
    try:
        with pytest.raises(SourceError, match=r"not an MJPEG stream.*\?action=stream"):
            HttpMjpegSource(url, (96, 96)).open()
    finally:
        srv.close()
    srv, url = _one_shot_server(b"HTTP/1.0 404 Not Found\r\n\r\n", hold_s=0)
    try:
        with pytest.raises(SourceError, match="HTTP 404"):
            HttpMjpegSource(url, (96, 96)).open()
    finally:
        srv.close()
    with pytest.raises(SourceError, match="cannot connect"):
        HttpMjpegSource("http://127.0.0.1:1/?action=stream", (96, 96), connect_timeout_s=1.0).open()


def test_http_source_read_is_interrupted_on_shutdown() -> None:
    from edge.sources.http_mjpeg import HttpMjpegSource

    srv, url = _one_shot_server(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=b\r\n\r\n", hold_s=10)
    try:
        src = HttpMjpegSource(url, (96, 96), read_timeout_s=10.0)
        src.open()
        threading.Timer(0.2, src.interrupt).start()
        t0 = time.monotonic()
        with pytest.raises(SourceError):
            src.read()
        assert time.monotonic() - t0 < 3.0
        src.close()
    finally:
        srv.close()
