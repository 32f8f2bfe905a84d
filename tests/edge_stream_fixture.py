"""Test support: an mjpg-streamer-like HTTP server on 127.0.0.1 that plays a scripted stream.

The script is a list of parts sent once, in order, across connections:
    ("jpeg", bytes)            a normal part with Content-Length
    ("jpeg_nolen", bytes)      a part without Content-Length (the client must cut at JPEG markers)
    ("raw", bytes)             arbitrary bytes as a part with Content-Length (e.g. a truncated JPEG)
    ("disconnect", b"")        close the connection here (the client must reconnect)
After the script, `tail` (a JPEG) is repeated until the server stops, so the stream stays alive.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

BOUNDARY = "boundarydonotcross"


class ScriptedMjpegServer:
    def __init__(self, script: list[tuple[str, bytes]], fps: float = 10.0, tail: Optional[bytes] = None) -> None:
        self.script = script
        self.period = 1.0 / fps
        self.tail = tail
        self.cursor = 0
        self.connections = 0
        self.script_done = threading.Event()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="test-mjpeg", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/?action=stream"

    def __enter__(self) -> "ScriptedMjpegServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _next(self) -> Optional[tuple[str, bytes]]:
        with self._lock:
            if self.cursor >= len(self.script):
                self.script_done.set()
                return None
            item = self.script[self.cursor]
            self.cursor += 1
            return item

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def _part(self, data: bytes, with_length: bool = True) -> None:
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                if with_length:
                    head += f"Content-Length: {len(data)}\r\nX-Timestamp: {time.time():.6f}\r\n"
                self.wfile.write(head.encode() + b"\r\n" + data + b"\r\n")
                self.wfile.flush()

            def do_GET(self) -> None:  # noqa: N802
                if not self.path.startswith("/?action=stream"):
                    self.send_error(404)
                    return
                with server._lock:
                    server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                try:
                    while not server.stopping.is_set():
                        item = server._next()
                        if item is None:
                            if server.tail is None:
                                return
                            self._part(server.tail)
                        else:
                            kind, data = item
                            if kind == "disconnect":
                                return
                            self._part(data, with_length=(kind != "jpeg_nolen"))
                        time.sleep(server.period)
                except (BrokenPipeError, ConnectionResetError):
                    return

        return Handler
