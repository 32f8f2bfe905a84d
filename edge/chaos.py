"""A hostile MJPEG server on 127.0.0.1 for tests and `edge soak`: everything a bad camera does.

Each part it sends is one *event*:

    frame       a normal JPEG part with Content-Length
    stall       send nothing for `stall_s` (then go on)
    trickle     a part header, then one byte every `trickle_period_s` (never completes)
    large       a `large_bytes` part (12 MB: under the 16 MB cap) sent at `large_rate_bps`
    oversize    a part whose Content-Length exceeds the client's cap, then the stream goes on
    corrupt     a truncated JPEG
    garbage     random bytes with a Content-Length
    png         a PNG image as a part
    disconnect  close the connection

`script` plays fixed events on every new connection (then `then` forever); `mix` instead draws each
event at random with the given weights (seeded); `inject(event)` makes it the next part sent. Every wait checks the stop event, every connection
is a daemon thread, and `stop()` ends them all within a second.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter, deque
from typing import Optional, Sequence

BOUNDARY = "chaosboundary"
EVENTS = ("frame", "stall", "trickle", "large", "oversize", "corrupt", "garbage", "png", "disconnect")


def png_bytes(width: int = 32, height: int = 24) -> bytes:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".png", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


class ChaosMjpegServer:
    def __init__(
        self,
        frames: Sequence[bytes],
        fps: float = 10.0,
        script: Optional[Sequence[str]] = None,
        then: str = "frame",
        mix: Optional[dict[str, float]] = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        stall_s: tuple[float, float] = (2.0, 8.0),
        trickle_period_s: float = 0.5,
        trickle_max_s: float = 60.0,
        large_bytes: int = 12 * 1024 * 1024,
        large_rate_bps: float = 256 * 1024,
        oversize_bytes: int = 17 * 1024 * 1024,
    ) -> None:
        for ev in list(script or []) + [then] + list((mix or {}).keys()):
            if ev not in EVENTS:
                raise ValueError(f"unknown chaos event {ev!r} (one of {', '.join(EVENTS)})")
        if not frames:
            raise ValueError("ChaosMjpegServer needs at least one JPEG frame")
        self.frames = list(frames)
        self.period = 1.0 / fps
        self.script = list(script or [])
        self.then = then
        self.mix = dict(mix) if mix else None
        self.rng = random.Random(seed)
        self.stall_s = stall_s
        self.trickle_period_s = trickle_period_s
        self.trickle_max_s = trickle_max_s
        self.large_bytes = large_bytes
        self.large_rate_bps = large_rate_bps
        self.oversize_bytes = oversize_bytes
        self.sent: Counter[str] = Counter()
        self._forced: deque[str] = deque()
        self.connections = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._png = png_bytes()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept_loop, name="chaos-accept", daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?action=stream"

    def start(self) -> "ChaosMjpegServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(2.0)
        self._sock.close()

    def __enter__(self) -> "ChaosMjpegServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- serving ----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), name="chaos-conn", daemon=True).start()

    def inject(self, event: str) -> None:
        """Send `event` as the next part (on whichever connection asks first)."""
        if event not in EVENTS:
            raise ValueError(f"unknown chaos event {event!r} (one of {', '.join(EVENTS)})")
        with self._lock:
            self._forced.append(event)

    def _next_event(self, played: int) -> str:
        with self._lock:
            if self._forced:
                return self._forced.popleft()
        if played < len(self.script):
            return self.script[played]
        if self.mix:
            with self._lock:
                return self.rng.choices(list(self.mix), weights=list(self.mix.values()))[0]
        return self.then

    def _pause(self, seconds: float) -> bool:
        """Stop-aware sleep; True when the server is stopping."""
        return self.stopping.wait(seconds)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        try:
            with conn:
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 8192:
                    chunk = conn.recv(1024)
                    if not chunk:
                        return
                    request += chunk
                conn.sendall(
                    b"HTTP/1.0 200 OK\r\nServer: chaos-mjpeg\r\nCache-Control: no-cache\r\n"
                    b"Content-Type: multipart/x-mixed-replace;boundary=" + BOUNDARY.encode() + b"\r\n\r\n"
                )
                played = 0
                i = 0
                while not self.stopping.is_set():
                    ev = self._next_event(played)
                    played += 1
                    with self._lock:
                        self.sent[ev] += 1
                    if ev == "disconnect":
                        return
                    if not self._send_event(conn, ev, self.frames[i % len(self.frames)]):
                        return
                    i += 1
                    if self._pause(self.period):
                        return
        except OSError:
            return  # the client went away

    def _head(self, length: int, ctype: str = "image/jpeg") -> bytes:
        return f"--{BOUNDARY}\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n".encode()

    def _send_event(self, conn: socket.socket, ev: str, jpeg: bytes) -> bool:
        """Send one event; False when the connection should end."""
        if ev == "frame":
            conn.sendall(self._head(len(jpeg)) + jpeg + b"\r\n")
        elif ev == "stall":
            lo, hi = self.stall_s
            with self._lock:
                wait = self.rng.uniform(lo, hi)
            if self._pause(wait):
                return False
        elif ev == "trickle":
            conn.sendall(self._head(len(jpeg)))
            end = time.monotonic() + self.trickle_max_s
            for b in jpeg:
                if time.monotonic() > end or self._pause(self.trickle_period_s):
                    return False
                conn.sendall(bytes([b]))
            conn.sendall(b"\r\n")
        elif ev == "large":
            conn.sendall(self._head(self.large_bytes))
            chunk = max(1024, int(self.large_rate_bps / 10))
            sent = 0
            block = (jpeg * (chunk // len(jpeg) + 1))[:chunk]
            while sent < self.large_bytes:
                n = min(chunk, self.large_bytes - sent)
                conn.sendall(block[:n])
                sent += n
                if self._pause(0.1):
                    return False
            conn.sendall(b"\r\n")
        elif ev == "oversize":
            conn.sendall(self._head(self.oversize_bytes) + jpeg[: len(jpeg) // 2] + b"\r\n")
        elif ev == "corrupt":
            cut = jpeg[: max(4, len(jpeg) // 2)]
            conn.sendall(self._head(len(cut)) + cut + b"\r\n")
        elif ev == "garbage":
            with self._lock:
                junk = self.rng.randbytes(2048)
            conn.sendall(self._head(len(junk)) + junk + b"\r\n")
        elif ev == "png":
            conn.sendall(self._head(len(self._png), "image/png") + self._png + b"\r\n")
        return True
