"""An HTTP MJPEG stream (mjpg-streamer `?action=stream`, ustreamer, most IP cameras).

The body is `multipart/x-mixed-replace; boundary=B`: parts separated by `--B` lines, each with
headers (Content-Type, usually Content-Length) and one JPEG. Parts are cut by Content-Length; a part
without it is cut at the JPEG markers (FFD8 ... FFD9).

Two clocks bound every wait, so no server can keep the capture stage busy for long:
- `read_timeout_s` per socket read: a silent server is a SourceStalled;
- `frame_timeout_s` per frame, covering the whole part (headers and body): a server that trickles
  one byte every few seconds, or sends one huge part slowly, never trips the per-read timeout but
  trips this one (FrameTimeout). Opening (connect, request, response headers) is bounded by
  `connect_timeout_s + read_timeout_s` in total.
The capture stage then closes the connection and reconnects with exponential backoff.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
from typing import Callable, Optional, Union
from urllib.parse import unquote, urlsplit

from edge.frames import Capture
from edge.sources.base import CorruptFrame, FrameTimeout, Source, SourceError, SourceStalled
from edge.sources.jpegframes import JpegFrameMaker

_SOI = b"\xff\xd8"
_EOI = b"\xff\xd9"
_MAX_HEADER_LINE = 8192


class PartTooLarge(Exception):
    """A part grew past the size limit (lost sync or not a JPEG stream)."""


class _DeadlinePassed(Exception):
    """The per-frame deadline passed while reading one part."""


class MultipartJpegReader:
    """Split a multipart/x-mixed-replace byte stream into JPEG parts.

    read_chunk: returns the next bytes of the body; b"" at end of stream. It may raise socket
    timeouts, which propagate. `next_part()` raises EOFError at the end of the stream.
    """

    def __init__(self, read_chunk: Callable[[], bytes], boundary: Optional[bytes], max_part_bytes: int = 16 << 20) -> None:
        self._read_chunk = read_chunk
        self.boundary = boundary.lstrip(b"-") if boundary else None
        self.max_part_bytes = max_part_bytes
        self._buf = bytearray()
        self.parts_without_length = 0

    def _fill(self) -> None:
        chunk = self._read_chunk()
        if not chunk:
            raise EOFError("end of stream")
        self._buf += chunk

    def _readline(self) -> bytes:
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[: nl + 1])
                del self._buf[: nl + 1]
                return line.rstrip(b"\r\n")
            if len(self._buf) > _MAX_HEADER_LINE:
                # no newline in a long run of bytes: we are inside binary data (lost sync)
                return b""
            self._fill()

    def _is_boundary(self, line: bytes) -> bool:
        if not line.startswith(b"--"):
            return False
        return self.boundary is None or line.strip(b"-").strip() == self.boundary

    def _read_headers(self) -> dict[str, str]:
        """Skip to the next part and return its headers (lower-case names)."""
        headers: dict[str, str] = {}
        seen_boundary = False
        skipped = 0
        while True:
            if self._buf.startswith(_SOI):
                return headers  # JPEG data begins (no blank line after the headers, or no headers at all)
            line = self._readline()
            if not line:
                if headers:
                    return headers
                if seen_boundary:
                    return headers  # boundary followed directly by an empty line: headerless part
                skipped += 1
                if len(self._buf) > _MAX_HEADER_LINE or skipped > 1000:
                    self._resync()
                    skipped = 0
                continue
            if self._is_boundary(line):
                if line.rstrip().endswith(b"--") and line.strip(b"-").strip() == (self.boundary or b""):
                    raise EOFError("closing boundary")
                seen_boundary = True
                headers = {}
                continue
            if b":" in line and len(line) < _MAX_HEADER_LINE:
                name, _, value = line.partition(b":")
                headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
                continue
            if line.startswith(_SOI):
                # JPEG data straight after the boundary without a blank line: put it back
                self._buf[0:0] = line + b"\n"
                return headers
            skipped += 1

    def _resync(self) -> None:
        """Drop bytes up to the next boundary (or JPEG start) after losing sync."""
        marker = b"--" + self.boundary if self.boundary else _SOI
        while True:
            at = self._buf.find(marker)
            if at >= 0:
                del self._buf[:at]
                return
            keep = len(marker) - 1
            del self._buf[: max(0, len(self._buf) - keep)]
            self._fill()

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _read_by_markers(self) -> bytes:
        """A part without Content-Length: from the JPEG start marker to its end marker."""
        self.parts_without_length += 1
        while True:
            start = self._buf.find(_SOI)
            if start >= 0:
                del self._buf[:start]
                break
            if len(self._buf) > self.max_part_bytes:
                del self._buf[:-1]
                raise PartTooLarge(f"no JPEG start marker in {self.max_part_bytes} bytes")
            self._fill()
        search_from = 2
        while True:
            end = self._buf.find(_EOI, search_from)
            if end >= 0:
                return self._read_exact(end + 2)
            next_boundary = self._buf.find(b"\r\n--" + self.boundary) if self.boundary else -1
            if next_boundary >= 0:
                return self._read_exact(next_boundary)  # truncated JPEG: hand it over, decoding fails
            if len(self._buf) > self.max_part_bytes:
                del self._buf[:]
                raise PartTooLarge(f"JPEG part larger than {self.max_part_bytes} bytes")
            search_from = max(2, len(self._buf) - 1)
            self._fill()

    def next_part(self) -> bytes:
        """The next part's bytes (normally one JPEG). PartTooLarge, EOFError and socket errors propagate."""
        headers = self._read_headers()
        length = headers.get("content-length")
        if length is not None and length.isdigit():
            n = int(length)
            if n > self.max_part_bytes:
                self._resync()
                raise PartTooLarge(f"Content-Length {n} exceeds {self.max_part_bytes}")
            return self._read_exact(n)
        return self._read_by_markers()


def _expire(sock: socket.socket, expired: threading.Event) -> None:
    expired.set()
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def conn_close(conn: Optional[http.client.HTTPConnection]) -> None:
    if conn is not None:
        try:
            conn.close()
        except OSError:
            pass


def parse_boundary(content_type: str) -> Optional[bytes]:
    """The boundary parameter of a multipart Content-Type header, without quotes."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            return value.strip().strip('"').encode("latin-1")
    return None


class HttpMjpegSource(Source):
    kind = "http_mjpeg"

    def __init__(
        self,
        url: str,
        model_wh: tuple[int, int],
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        max_part_bytes: int = 16 << 20,
        decode_scale: Union[str, int] = "auto",
        frame_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(model_wh)
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.frame_timeout_s = frame_timeout_s
        self.max_part_bytes = max_part_bytes
        self._deadline = float("inf")
        self.maker = JpegFrameMaker(model_wh, decode_scale)
        self._conn: Optional[http.client.HTTPConnection] = None
        self._resp: Optional[http.client.HTTPResponse] = None
        self._reader: Optional[MultipartJpegReader] = None
        self._sock: Optional[socket.socket] = None
        self._opening: Optional[socket.socket] = None  # the socket of an open() waiting for the response header

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return f"http_mjpeg:{parts.hostname}:{parts.port or ''}{parts.path}"

    def open(self) -> None:
        parts = urlsplit(self.url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": "crackedge-edge", "Accept": "multipart/x-mixed-replace, image/jpeg"}
        if parts.username is not None:
            cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        open_budget = self.connect_timeout_s + self.read_timeout_s
        timer: Optional[threading.Timer] = None
        expired = threading.Event()
        conn: Optional[http.client.HTTPConnection] = None
        try:
            conn = conn_cls(parts.hostname, parts.port, timeout=self.connect_timeout_s)
            conn.request("GET", path, headers=headers)  # connects (connect timeout)
            # from here on the read timeout applies; keep the socket: http.client drops conn.sock
            # after getresponse() for a response that ends with the connection (HTTP/1.0 streams)
            sock = conn.sock
            self._opening = sock  # interrupt() can now cut the wait for the header short (shutdown)
            if sock is not None:
                sock.settimeout(self.read_timeout_s)
                # a server trickling its response headers resets the per-read timeout with every
                # byte: the whole open gets one budget, enforced by shutting the socket down
                timer = threading.Timer(open_budget, _expire, args=(sock, expired))
                timer.daemon = True
                timer.start()
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn_close(conn)
            if expired.is_set():
                raise SourceStalled(f"{self.describe()}: no complete response header within {open_budget:.1f} s") from None
            raise SourceError(f"cannot connect to {self.describe()}: {err}") from None
        finally:
            self._opening = None
            if timer is not None:
                timer.cancel()
        if expired.is_set():
            conn.close()
            raise SourceStalled(f"{self.describe()}: no complete response header within {open_budget:.1f} s")
        if resp.status != 200:
            conn.close()
            raise SourceError(f"{self.describe()} answered HTTP {resp.status} {resp.reason}")
        ctype = resp.getheader("Content-Type", "")
        if not ctype.lower().startswith("multipart/"):
            conn.close()
            raise SourceError(
                f"{self.describe()} sent Content-Type {ctype!r}, not an MJPEG stream "
                "(for mjpg-streamer use the ?action=stream URL, not ?action=snapshot)"
            )
        self._conn, self._resp, self._sock = conn, resp, sock
        self._reader = MultipartJpegReader(self._read_chunk, parse_boundary(ctype), self.max_part_bytes)

    def _read_chunk(self) -> bytes:
        """The next bytes of the body, never waiting past the frame's deadline."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed
        sock, resp = self._sock, self._resp
        if resp is None:
            raise EOFError("stream closed")
        if sock is not None:
            sock.settimeout(min(self.read_timeout_s, left))
        return resp.read1(65536)

    def read(self) -> Capture:
        if self._reader is None:
            raise SourceError("stream not open")
        self._deadline = time.monotonic() + self.frame_timeout_s
        try:
            data = self._reader.next_part()
        except PartTooLarge as err:
            raise CorruptFrame(str(err)) from None
        except _DeadlinePassed:
            raise FrameTimeout(self._deadline_message()) from None
        except (socket.timeout, TimeoutError):
            if time.monotonic() >= self._deadline - 0.05:
                raise FrameTimeout(self._deadline_message()) from None
            raise SourceStalled(f"{self.describe()}: no data for {self.read_timeout_s:.1f} s") from None
        except EOFError:
            raise SourceError(f"{self.describe()}: server closed the stream") from None
        except (OSError, http.client.HTTPException) as err:
            raise SourceError(f"{self.describe()}: {err}") from None
        return self.maker.make(data, time.time(), time.monotonic())

    def _deadline_message(self) -> str:
        return (
            f"{self.describe()}: no complete frame within frame_timeout_s={self.frame_timeout_s:.1f} s "
            "(the server trickles data or sends an oversized part)"
        )

    def interrupt(self) -> None:
        """Unblock a read in progress from another thread (shutdown): shut the socket down, also that of
        an open() waiting for the response header (the TCP connect itself is bounded by connect_timeout_s)."""
        sock = self._sock or self._opening
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        for closable in (self._resp, self._conn):
            if closable is not None:
                try:
                    closable.close()
                except OSError:
                    pass
        self._conn = self._resp = self._reader = self._sock = None
