"""Live preview over HTTP: MJPEG stream, status page, Prometheus and JSON metrics.

    /              status page: the stream plus metrics polled once a second (plain HTML + a little JS)
    /stream.mjpg   multipart/x-mixed-replace MJPEG of the annotated frames (scaled to preview.width)
    /snapshot.jpg  the latest annotated frame
    /metrics       Prometheus text exposition format (prometheus_client; edge.prometheus)
    /metrics.json  JSON (keys documented in edge.metrics)

`/metrics` still answers JSON to a request that asks for it (`Accept: application/json`,
`?format=json`) or sends no Accept header at all (scripts written when /metrics was JSON); every
Prometheus scraper, browser and curl sends an Accept header and gets the text format.

Bound to 127.0.0.1 unless configured otherwise (a warning is logged when it listens beyond
localhost without a token). With a token configured every request must carry it as `?token=...`
or an `X-Token:` / `Authorization: Bearer ...` header (401 otherwise, answered before any worker
thread is used). Connections, request heads and worker threads are bounded: see edge.httpserve.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import threading
import time
from typing import Any, Callable, Mapping, Optional
from urllib.parse import parse_qs, quote, urlsplit

from edge.httpserve import BoundedHttpServer, HeadHandler, is_loopback
from edge.metrics import Counters

log = logging.getLogger(__name__)

MAX_STREAM_CLIENTS = 4
JSON_TYPE = "application/json"


class FrameHub:
    """The latest preview JPEG, rate-limited to `max_fps`; stream handlers wait for new ones.

    Frames are only produced while someone watches (a stream or snapshot request within the last
    `interest_s` seconds), so an unwatched daemon spends nothing on preview encoding.
    """

    def __init__(self, max_fps: float = 5.0, interest_s: float = 5.0, always: bool = False) -> None:
        self.period = 1.0 / max_fps
        self.interest_s = interest_s
        self.always = always
        self._cond = threading.Condition()
        self._id = 0
        self._jpeg: Optional[bytes] = None
        self._last_publish = -1e9
        self._last_interest = -1e9

    def touch(self) -> None:
        """A client wants frames."""
        self._last_interest = time.monotonic()

    def due(self) -> bool:
        """Whether the pipeline should encode a preview frame now (someone watches, and max_fps allows)."""
        now = time.monotonic()
        if not self.always and now - self._last_interest > self.interest_s:
            return False
        return now - self._last_publish >= self.period

    def publish(self, jpeg: bytes) -> None:
        with self._cond:
            self._jpeg = jpeg
            self._id += 1
            self._last_publish = time.monotonic()
            self._cond.notify_all()

    def latest(self) -> tuple[int, Optional[bytes]]:
        with self._cond:
            return self._id, self._jpeg

    def wait_newer(self, seen_id: int, timeout: float) -> tuple[int, Optional[bytes]]:
        with self._cond:
            if self._id == seen_id:
                self._cond.wait(timeout)
            return self._id, self._jpeg


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crackedge edge</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font-family:sans-serif;margin:1em;background:#111;color:#eee}
 img{max-width:100%;border:1px solid #444;background:#222;min-height:120px}
 table{border-collapse:collapse;margin-top:1em} td,th{padding:2px 10px;border-bottom:1px solid #333;text-align:left}
 .bad{color:#f66} .ok{color:#6f6}
</style></head>
<body>
<h1>crackedge edge</h1>
<p>status: <span id="status">loading</span> &middot; uptime <span id="uptime">-</span> s
 &middot; source <span id="source">-</span> (<span id="source-state">-</span>)</p>
<img id="stream" alt="annotated stream" src="stream.mjpg__TOKEN__">
<table>
<tr><th>saved frames</th><td id="saved">-</td></tr>
<tr><th>dropped frames</th><td id="drops">-</td></tr>
<tr><th>corrupt frames</th><td id="corrupt">-</td></tr>
<tr><th>reconnects</th><td id="reconnects">-</td></tr>
<tr><th>end-to-end latency (ms)</th><td id="latency">-</td></tr>
<tr><th>disk free (MB)</th><td id="disk">-</td></tr>
<tr><th>memory (MB)</th><td id="rss">-</td></tr>
<tr><th>temperatures (C)</th><td id="temps">-</td></tr>
<tr><th>GPS</th><td id="gps">-</td></tr>
</table>
<table id="stages"><tr><th>stage</th><th>fps</th><th>latency ms (mean / p95)</th><th>count</th></tr></table>
<script>
const q = new URLSearchParams(location.search);
const tok = q.get('token') ? '?token=' + encodeURIComponent(q.get('token')) : '';
function set(id, v) { document.getElementById(id).textContent = v; }
async function poll() {
  try {
    const r = await fetch('metrics.json' + tok, {cache: 'no-store'});
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const m = await r.json();
    const hung = Object.keys((m.watchdog || {}).hung || {});
    set('status', hung.length ? 'hung: ' + hung.join(', ') : 'ok');
    document.getElementById('status').className = hung.length ? 'bad' : 'ok';
    set('uptime', m.uptime_s);
    set('source', m.source.kind); set('source-state', m.source.state);
    set('saved', m.saved.frames); set('drops', m.drops); set('corrupt', m.source.corrupt);
    set('reconnects', m.source.reconnects);
    set('latency', m.latency_ms.end_to_end_mean === null ? '-' : m.latency_ms.end_to_end_mean);
    set('disk', m.disk.free_mb + (m.disk.saving_paused ? ' (saving paused)' : ''));
    set('rss', m.rss_mb);
    set('temps', Object.entries(m.temperatures_c).map(e => e[0] + ' ' + e[1]).join(', ') || 'n/a');
    set('gps', m.gps && m.gps.fix ? m.gps.fix.lat.toFixed(6) + ', ' + m.gps.fix.lon.toFixed(6) : 'n/a');
    const t = document.getElementById('stages');
    while (t.rows.length > 1) t.deleteRow(1);
    for (const [name, s] of Object.entries(m.stages)) {
      const row = t.insertRow();
      row.id = 'stage-' + name;
      [name, s.fps, s.latency_ms_mean + ' / ' + s.latency_ms_p95, s.count].forEach(v => row.insertCell().textContent = v);
    }
  } catch (e) {
    set('status', 'metrics unavailable: ' + e.message);
    document.getElementById('status').className = 'bad';
  }
}
poll(); setInterval(poll, 1000);
</script>
</body></html>
"""


class PreviewServer:
    def __init__(
        self,
        hub: FrameHub,
        metrics: Callable[[], dict[str, Any]],
        host: str = "127.0.0.1",
        port: int = 8080,
        token: Optional[str] = None,
        workers: int = 8,
        max_connections: int = 32,
        request_timeout_s: float = 5.0,
        counters: Optional[Counters] = None,
    ) -> None:
        self.hub = hub
        self.metrics = metrics
        self.token = token
        self.closing = threading.Event()
        self.stream_clients = 0
        self.max_stream_clients = max(1, min(MAX_STREAM_CLIENTS, workers // 2))
        self._lock = threading.Lock()
        self.httpd = BoundedHttpServer(
            _make_handler(self), host, port, workers=workers, max_connections=max_connections,
            request_timeout_s=request_timeout_s, authorize=self._authorize_head, counters=counters,
        )
        self.counters = self.httpd.counters
        if not token and not is_loopback(host):
            log.warning(
                "preview listens on %s:%s without a token: anyone on that network can watch the stream and read "
                "the metrics; set preview.token (or preview.host: 127.0.0.1)", host, self.httpd.server_address[1],
            )
        self._started = False

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> None:
        self.httpd.start()
        self._started = True

    def stop(self) -> None:
        self.closing.set()
        if self._started:
            self.httpd.stop()
        else:
            self.httpd._listen.close()

    def _authorize_head(self, target: str, headers: Mapping[str, str]) -> bool:
        return self.authorized(parse_qs(urlsplit(target).query), headers)

    def authorized(self, query: dict[str, list[str]], headers: Any) -> bool:
        if not self.token:
            return True
        given = (query.get("token") or [None])[0] or headers.get("X-Token") or headers.get("x-token")
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return bool(given) and hmac.compare_digest(str(given), self.token)


def wants_json(path: str, query: dict[str, list[str]], accept: Optional[str]) -> bool:
    """Whether a metrics request gets JSON: /metrics.json, ?format=json, Accept: application/json,
    or no Accept header at all (clients written when /metrics was JSON)."""
    if path == "/metrics.json" or (query.get("format") or [""])[0] == "json":
        return True
    if accept is None:
        return True
    accept = accept.lower()
    return JSON_TYPE in accept and "text/plain" not in accept and "openmetrics" not in accept


def _make_handler(server: PreviewServer) -> type[HeadHandler]:
    class Handler(HeadHandler):
        server_version = "crackedge-edge"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("preview %s: " + fmt, self.client_address[0], *args)

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if not server.authorized(query, self.headers):
                self._send(401, b"token required (?token=... or X-Token header)\n", "text/plain; charset=utf-8")
                return
            try:
                if parts.path in ("/", "/index.html"):
                    tok = (query.get("token") or [""])[0]
                    suffix = html.escape("?token=" + quote(tok)) if tok else ""
                    self._send(200, PAGE.replace("__TOKEN__", suffix).encode("utf-8"), "text/html; charset=utf-8")
                elif parts.path in ("/metrics", "/metrics.json"):
                    snap = server.metrics()
                    if wants_json(parts.path, query, self.headers.get("Accept")):
                        self._send(200, json.dumps(snap, default=str).encode("utf-8"), JSON_TYPE)
                    else:
                        try:
                            from edge.prometheus import exposition

                            body, ctype = exposition(snap)
                        except ImportError:
                            self._send(503, b"prometheus_client is not installed (pip install 'crackedge[edge]'); "
                                            b"JSON: /metrics.json\n", "text/plain; charset=utf-8")
                            return
                        self._send(200, body, ctype)
                elif parts.path == "/snapshot.jpg":
                    server.hub.touch()
                    _, jpeg = server.hub.latest()
                    if jpeg is None:
                        _, jpeg = server.hub.wait_newer(0, timeout=1.0)
                    if jpeg is None:
                        self._send(503, b"no frame yet\n", "text/plain; charset=utf-8")
                    else:
                        self._send(200, jpeg, "image/jpeg")
                elif parts.path == "/stream.mjpg":
                    self._stream()
                else:
                    self._send(404, b"not found\n", "text/plain; charset=utf-8")
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                pass

        def _stream(self) -> None:
            with server._lock:
                if server.stream_clients >= server.max_stream_clients:
                    self._send(503, b"too many stream clients\n", "text/plain; charset=utf-8")
                    return
                server.stream_clients += 1
            try:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()  # adds Connection: close
                seen = -1
                while not server.closing.is_set():
                    server.hub.touch()
                    frame_id, jpeg = server.hub.wait_newer(seen, timeout=0.5)
                    if jpeg is None or frame_id == seen:
                        seen = frame_id  # nothing drawn yet: wait for a newer frame, do not spin
                        continue
                    seen = frame_id
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    self.wfile.write(head + jpeg + b"\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                pass
            finally:
                with server._lock:
                    server.stream_clients -= 1

    return Handler
