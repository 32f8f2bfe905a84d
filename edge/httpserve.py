"""A small HTTP server that a flood of slow or idle clients cannot use to starve the daemon.

http.server's ThreadingHTTPServer starts one thread per connection and waits forever for its
request line: 300 half-open `GET /metr` connections held 315 threads and 308 file descriptors, and
with a 100-descriptor limit every save of the daemon failed with EMFILE. Here:

- one thread ("preview-http") accepts and reads request heads for every connection at once
  (selectors, non-blocking); a head must be complete within `request_timeout_s` and 8 KiB, or the
  connection is closed (408/431) and counted;
- at most `max_connections` connections are open at any time (reading, queued or being served).
  When full, the oldest connection still sending its head is dropped to make room (counted as
  `evicted`: the same keep-the-freshest policy as the capture queue); with none to drop the new
  connection is closed at once (`rejected`). The cap is also held below a quarter of the process's
  file descriptor limit, so saving always has descriptors left;
- `authorize(path, headers)` runs on the complete head before any worker is used: a request
  without the token gets its 401 from the reader thread;
- complete requests are served by a fixed pool of `workers` threads ("preview-worker-N"), each
  socket with a `write_timeout_s` send timeout, so a client that stops reading is dropped.
Requests are GET-style (no bodies); every response closes its connection.
"""

from __future__ import annotations

import io
import logging
import queue
import resource
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Callable, Optional

from edge.metrics import Counters

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 8192
FD_SHARE = 4  # the server may use at most 1/FD_SHARE of the descriptor limit


@dataclass
class _Pending:
    sock: socket.socket
    addr: tuple
    started: float
    buf: bytearray = field(default_factory=bytearray)


@dataclass
class Request:
    """What a worker hands to the handler: the connected socket and the head already read."""

    sock: socket.socket
    head: bytes


class HeadHandler(BaseHTTPRequestHandler):
    """BaseHTTPRequestHandler reading its request head from memory (already read by the server)."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        req: Request = self.request
        self.connection = req.sock
        self.rfile = io.BytesIO(req.head)
        self.wfile = req.sock.makefile("wb", buffering=0)

    def finish(self) -> None:
        try:
            self.wfile.close()
        except OSError:
            pass
        self.rfile.close()

    def end_headers(self) -> None:
        self.send_header("Connection", "close")
        self.close_connection = True
        super().end_headers()


def fd_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    """(request target, lower-case header dict) of a request head; ('', {}) when unparsable."""
    lines = head.decode("latin-1", "replace").split("\n")
    parts = lines[0].strip().split()
    target = parts[1] if len(parts) >= 2 else ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return target, headers


class BoundedHttpServer:
    def __init__(
        self,
        handler: type[HeadHandler],
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 8,
        max_connections: int = 32,
        request_timeout_s: float = 5.0,
        write_timeout_s: float = 10.0,
        authorize: Optional[Callable[[str, dict[str, str]], bool]] = None,
        counters: Optional[Counters] = None,
    ) -> None:
        self.handler = handler
        self.workers = workers
        limit_cap = max(4, fd_limit() // FD_SHARE)
        if max_connections > limit_cap:
            log.warning(
                "preview.max_connections %d lowered to %d (a quarter of the %d file descriptor limit)",
                max_connections, limit_cap, fd_limit(),
            )
        self.max_connections = min(max_connections, limit_cap)
        self.request_timeout_s = request_timeout_s
        self.write_timeout_s = write_timeout_s
        self.authorize = authorize
        self.counters = counters if counters is not None else Counters()
        self.counters.set(open=0, accepted=0, served=0, rejected=0, evicted=0, timeouts=0, unauthorized=0,
                          max_connections=self.max_connections, workers=workers)
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._open = 0
        self._pending: dict[socket.socket, _Pending] = {}
        self._work: queue.Queue[Optional[tuple[Request, tuple]]] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._listen = socket.create_server((host, port), family=_family(host), backlog=64, reuse_port=False)
        self._listen.setblocking(False)
        self._sel = selectors.DefaultSelector()

    @property
    def server_address(self) -> tuple:
        return self._listen.getsockname()

    # ---- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._sel.register(self._listen, selectors.EVENT_READ, None)
        self._threads.append(threading.Thread(target=self._io_loop, name="preview-http", daemon=True))
        for i in range(self.workers):
            self._threads.append(threading.Thread(target=self._worker, name=f"preview-worker-{i}", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self.closing.set()
        for _ in range(self.workers):
            self._work.put(None)
        for t in self._threads:
            t.join(timeout_s)
        for p in list(self._pending.values()):
            self._close(p.sock)
        self._pending.clear()
        try:
            self._sel.close()
        except (OSError, ValueError):
            pass
        self._listen.close()

    # ---- bookkeeping --------------------------------------------------------------------------
    def _opened(self) -> None:
        with self._lock:
            self._open += 1
            self.counters.set(open=self._open)

    def _close(self, sock: socket.socket) -> None:
        try:
            sock.close()
        finally:
            with self._lock:
                self._open -= 1
                self.counters.set(open=self._open)

    def open_connections(self) -> int:
        with self._lock:
            return self._open

    def _drop_pending(self, sock: socket.socket, reply: Optional[bytes] = None) -> None:
        self._pending.pop(sock, None)
        try:
            self._sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        if reply:
            try:
                sock.send(reply)  # small; fits the socket buffer of a fresh connection
            except OSError:
                pass
        self._close(sock)

    # ---- the reader thread --------------------------------------------------------------------
    def _io_loop(self) -> None:
        while not self.closing.is_set():
            try:
                events = self._sel.select(timeout=0.25)
            except (OSError, ValueError):
                if self.closing.is_set():
                    return
                raise
            for key, _mask in events:
                if key.data is None:
                    self._accept_all()
                else:
                    self._read_head(key.fileobj)  # type: ignore[arg-type]
            self._expire()

    def _accept_all(self) -> None:
        while True:
            try:
                sock, addr = self._listen.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:  # EMFILE/ENFILE: leave the backlog for later
                log.warning("preview: cannot accept a connection: %s", err)
                return
            self._opened()
            self.counters.add("accepted")
            if self.open_connections() > self.max_connections and not self._evict_oldest():
                self.counters.add("rejected")
                self._close(sock)
                continue
            sock.setblocking(False)
            self._pending[sock] = _Pending(sock, addr, time.monotonic())
            self._sel.register(sock, selectors.EVENT_READ, "head")

    def _evict_oldest(self) -> bool:
        if not self._pending:
            return False
        oldest = min(self._pending.values(), key=lambda p: p.started)
        self.counters.add("evicted")
        self._drop_pending(oldest.sock)
        return True

    def _read_head(self, sock: socket.socket) -> None:
        p = self._pending.get(sock)
        if p is None:
            return
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop_pending(sock)
            return
        if not data:
            self._drop_pending(sock)
            return
        p.buf += data
        end = _head_end(p.buf)
        if end < 0:
            if len(p.buf) > MAX_HEAD_BYTES:
                self._drop_pending(sock, _reply(431, "request head too large"))
            return
        head = bytes(p.buf[:end])
        target, headers = parse_head(head)
        if self.authorize is not None and not self.authorize(target, headers):
            self.counters.add("unauthorized")
            self._drop_pending(sock, _reply(401, "token required (?token=... or X-Token header)"))
            return
        self._pending.pop(sock, None)
        self._sel.unregister(sock)
        self._work.put((Request(sock, head), p.addr))

    def _expire(self) -> None:
        now = time.monotonic()
        for p in [p for p in self._pending.values() if now - p.started > self.request_timeout_s]:
            self.counters.add("timeouts")
            self._drop_pending(p.sock, _reply(408, "request head not received in time"))

    # ---- workers ------------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            req, addr = item
            try:
                if self.closing.is_set():
                    continue
                req.sock.setblocking(True)
                req.sock.settimeout(self.write_timeout_s)
                self.handler(req, addr, self)
                self.counters.add("served")
            except (OSError, TimeoutError):
                pass  # the client went away or stopped reading
            except Exception:
                log.exception("preview: a request handler failed")
            finally:
                self._close(req.sock)


def _head_end(buf: bytearray) -> int:
    """Index just past the blank line ending a request head, -1 when not complete yet."""
    at = buf.find(b"\r\n\r\n")
    if at >= 0:
        return at + 4
    at = buf.find(b"\n\n")
    return at + 2 if at >= 0 else -1


def _reply(code: int, text: str) -> bytes:
    body = (text + "\n").encode()
    reason = {401: "Unauthorized", 408: "Request Timeout", 431: "Request Header Fields Too Large"}.get(code, "Error")
    return (f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
