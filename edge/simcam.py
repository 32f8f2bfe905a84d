"""A simulated camera: an mjpg-streamer-compatible MJPEG server on the local machine.

Serves `multipart/x-mixed-replace` JPEG parts (with Content-Length, boundary
`boundarydonotcross`, as mjpg-streamer does) at `/?action=stream` and `/stream.mjpg`, and a
single frame at `/?action=snapshot`. Frames come from a folder of images (looped) or from the
synthetic road generator (`crackedge.synth`: cracks, markings, joints, shadows). It lets the
daemon, its reconnect logic and the preview be exercised without hardware; `edge simcam` runs it.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np

from crackedge.errors import DataError

log = logging.getLogger(__name__)

BOUNDARY = "boundarydonotcross"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def encode_jpeg(image_rgb: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DataError(f"could not JPEG-encode a frame of shape {image_rgb.shape}")
    return buf.tobytes()


def synthetic_frames(size_wh: tuple[int, int] = (640, 480), n: int = 24, seed: int = 0, quality: int = 85) -> list[bytes]:
    """`n` synthetic road frames (width x height) as JPEG bytes; generated once, then looped."""
    from crackedge.synth import generate_sample

    w, h = size_wh
    return [encode_jpeg(generate_sample(seed * 7919 + i, (h, w))[0], quality) for i in range(n)]


def folder_frames(folder: Path, size_wh: Optional[tuple[int, int]] = None, limit: int = 500, quality: int = 85) -> list[bytes]:
    """JPEG bytes of the images in `folder` (sorted), resized to size_wh when given."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise DataError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}) to stream")
    frames = []
    for p in files:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            log.warning("simcam: skipping unreadable image %s", p)
            continue
        if size_wh is not None:
            img = cv2.resize(img, size_wh, interpolation=cv2.INTER_AREA)
        frames.append(encode_jpeg(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), quality))
    if not frames:
        raise DataError(f"none of the images in {folder} could be read")
    return frames


class SimCamera:
    """Serve `frames` (JPEG bytes) at `fps` to every client, looping; `max_frames` ends each stream."""

    def __init__(self, frames: list[bytes], fps: float = 5.0, host: str = "127.0.0.1", port: int = 0,
                 max_frames: Optional[int] = None) -> None:
        if not frames:
            raise ValueError("SimCamera needs at least one frame")
        self.frames = frames
        self.period = 1.0 / fps
        self.max_frames = max_frames
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="simcam-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/?action=stream"

    def start(self) -> "SimCamera":
        self._thread.start()
        log.info("simulated camera streaming %d frame(s) at %s", len(self.frames), self.url)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "SimCamera":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _count(self) -> None:
        with self._lock:
            self.sent += 1

    def _stream(self) -> Iterator[bytes]:
        frames = itertools.cycle(self.frames)
        n = itertools.count() if self.max_frames is None else range(self.max_frames)
        for _ in n:
            if self._stop.is_set():
                return
            yield next(frames)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: object) -> None:  # quiet: the daemon logs what matters
                log.debug("simcam: " + fmt, *args)

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                if "snapshot" in self.path:
                    self._send_snapshot()
                elif "stream" in self.path:
                    self._send_stream()
                else:
                    self.send_error(404, "use /?action=stream or /?action=snapshot")

            def _send_snapshot(self) -> None:
                data = cam.frames[0]
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send_stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                next_t = time.monotonic()
                try:
                    for data in cam._stream():
                        head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n"
                                f"X-Timestamp: {time.time():.6f}\r\n\r\n").encode()
                        self.wfile.write(head + data + b"\r\n")
                        self.wfile.flush()
                        cam._count()
                        next_t += cam.period
                        delay = next_t - time.monotonic()
                        if delay > 0:
                            cam._stop.wait(delay)
                        else:
                            next_t = time.monotonic()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away

        return Handler
