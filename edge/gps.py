"""Optional GPS position for the sidecars: gpsd (JSON over TCP 2947) or raw NMEA (GGA/RMC).

NMEA is read from a serial port (opened raw with termios, no pyserial), a pty, or any readable file
(followed like `tail -f`). Sentences are checksum-validated; a bad checksum is counted and ignored.
Both readers run in a named thread, reconnect with backoff, and never block the pipeline: frames
ask `latest()` for the newest fix younger than `max_age_s`. The thread stamps a heartbeat ("gps",
watched like every stage) at least every second, also while it waits to reconnect; any exception
(not only OSError) is logged with its traceback once per kind and retried, never a silent death.
Line buffers are bounded (MAX_LINE_BYTES): a peer that sends no newline is cut off and counted.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import stat
import termios
import threading
import time
from typing import Any, Optional

log = logging.getLogger(__name__)

KNOT_MPS = 0.514444
MAX_LINE_BYTES = 65536  # gpsd JSON lines are a few hundred bytes; NMEA sentences at most 82
BEAT_S = 1.0


def nmea_checksum_ok(sentence: str) -> bool:
    """True for `$...*HH` where HH is the XOR of the characters between '$' and '*'."""
    s = sentence.strip()
    if not s.startswith("$") or "*" not in s:
        return False
    body, _, given = s[1:].rpartition("*")
    if len(given) < 2:
        return False
    calc = 0
    for ch in body:
        calc ^= ord(ch)
    try:
        return calc == int(given[:2], 16)
    except ValueError:
        return False


def _latlon(value: str, hemi: str) -> Optional[float]:
    """NMEA ddmm.mmmm / dddmm.mmmm + N/S/E/W -> signed decimal degrees."""
    if not value or not hemi:
        return None
    dot = value.find(".")
    head = dot if dot >= 0 else len(value)
    deg_len = head - 2
    if deg_len < 1:
        return None
    deg = float(value[:deg_len]) + float(value[deg_len:]) / 60.0
    return -deg if hemi in ("S", "W") else deg


def _float(v: str) -> Optional[float]:
    try:
        return float(v) if v != "" else None
    except ValueError:
        return None


def parse_nmea(line: str) -> Optional[dict[str, Any]]:
    """Parse a GGA or RMC sentence (any talker: GP, GN, GL...). None for other or invalid sentences.

    Returns {"type": "GGA"|"RMC", "fix": bool, "lat", "lon", ...}; raises nothing.
    """
    if not nmea_checksum_ok(line):
        return None
    body = line.strip()[1:].rpartition("*")[0]
    f = body.split(",")
    kind = f[0][-3:]
    try:
        if kind == "GGA" and len(f) >= 10:
            quality = int(f[6] or 0)
            out: dict[str, Any] = {"type": "GGA", "utc_time": f[1] or None, "fix": quality > 0, "fix_quality": quality}
            if quality > 0:
                out.update(
                    lat=_latlon(f[2], f[3]),
                    lon=_latlon(f[4], f[5]),
                    satellites=int(f[7]) if f[7] else None,
                    hdop=_float(f[8]),
                    alt_m=_float(f[9]),
                )
            return out
        if kind == "RMC" and len(f) >= 10:
            valid = f[2] == "A"
            out = {"type": "RMC", "utc_time": f[1] or None, "fix": valid, "utc_date": f[9] or None}
            if valid:
                speed = _float(f[7])
                out.update(
                    lat=_latlon(f[3], f[4]),
                    lon=_latlon(f[5], f[6]),
                    speed_mps=round(speed * KNOT_MPS, 3) if speed is not None else None,
                    course_deg=_float(f[8]),
                )
            return out
    except ValueError:
        return None
    return None


class GpsReader(threading.Thread):
    """Base: holds the latest fix; subclasses implement `_session()` (one connection's read loop)."""

    kind = "gps"

    def __init__(self, stop: threading.Event, max_age_s: float = 5.0, backoff_max_s: float = 30.0) -> None:
        super().__init__(name=f"gps-{self.kind}", daemon=True)
        self.heartbeat: Any = None  # an edge.watchdog.Heartbeat, set by the daemon before start()
        self.stop_event = stop
        self.max_age_s = max_age_s
        self.backoff_max_s = backoff_max_s
        self._lock = threading.Lock()
        self._fix: Optional[dict[str, Any]] = None
        self._fix_mono = 0.0
        self.state = "starting"
        self.sentences = 0
        self.bad_checksums = 0
        self.reconnects = 0
        self.overruns = 0
        self.errors = 0
        self._logged_errors: set[str] = set()

    def beat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.beat()

    def _wait(self, seconds: float) -> bool:
        """Stop-aware wait that keeps the heartbeat; True when stopped."""
        end = time.monotonic() + seconds
        while True:
            self.beat()
            left = end - time.monotonic()
            if left <= 0:
                return self.stop_event.is_set()
            if self.stop_event.wait(min(BEAT_S, left)):
                return True

    def _bounded(self, buf: bytes) -> bytes:
        """Drop a buffer that grew past MAX_LINE_BYTES without a newline (counted)."""
        if len(buf) > MAX_LINE_BYTES:
            self.overruns += 1
            if self.overruns == 1:
                log.warning("GPS (%s): %d bytes without a line end; discarded (counted in gps.overruns)", self.kind, len(buf))
            return b""
        return buf

    def _update(self, **fields: Any) -> None:
        with self._lock:
            fix = dict(self._fix or {})
            fix.update({k: v for k, v in fields.items() if v is not None})
            fix["source"] = self.kind
            self._fix = fix
            self._fix_mono = time.monotonic()

    def latest(self) -> Optional[dict[str, Any]]:
        """The newest fix with `age_s`, or None when there is none younger than max_age_s."""
        with self._lock:
            if self._fix is None or "lat" not in self._fix:
                return None
            age = time.monotonic() - self._fix_mono
            if age > self.max_age_s:
                return None
            return {**self._fix, "age_s": round(age, 2)}

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "fix": self.latest(),
            "sentences": self.sentences,
            "bad_checksums": self.bad_checksums,
            "reconnects": self.reconnects,
            "overruns": self.overruns,
            "errors": self.errors,
        }

    def _session(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        backoff = 0.5
        try:
            while not self.stop_event.is_set():
                self.beat()
                try:
                    self._session()
                    backoff = 0.5
                except (OSError, ValueError) as err:
                    if self.state != "error":
                        log.warning("GPS (%s) unavailable: %s; retrying with backoff", self.kind, err)
                    self.state = "error"
                except Exception as err:  # a parser or driver bug: report it, keep the thread alive
                    self.errors += 1
                    self.state = "error"
                    key = f"{type(err).__name__}: {err}"
                    if key not in self._logged_errors and len(self._logged_errors) < 20:
                        self._logged_errors.add(key)
                        log.exception("GPS (%s) reader failed unexpectedly; retrying with backoff", self.kind)
                if self._wait(backoff):
                    break
                self.reconnects += 1
                backoff = min(backoff * 2, self.backoff_max_s)
        finally:
            self.state = "stopped" if self.stop_event.is_set() else self.state
            if self.heartbeat is not None:
                self.heartbeat.finish()


_BAUD = {n: getattr(termios, f"B{n}") for n in (4800, 9600, 19200, 38400, 57600, 115200) if hasattr(termios, f"B{n}")}


def open_raw_tty(path: str, baud: int) -> int:
    """Open a serial port/pty read-only in raw 8N1 mode at `baud` with termios (no pyserial)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        attrs = termios.tcgetattr(fd)
        iflag, oflag, cflag, lflag, ispeed, ospeed, cc = attrs
        iflag = 0
        oflag = 0
        lflag = 0
        cflag = termios.CS8 | termios.CREAD | termios.CLOCAL
        speed = _BAUD.get(int(baud))
        if speed is None:
            raise ValueError(f"unsupported baud rate {baud} (use one of {sorted(_BAUD)})")
        cc = list(cc)
        cc[termios.VMIN] = 0
        cc[termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])
    except BaseException:
        os.close(fd)
        raise
    return fd


class NmeaGps(GpsReader):
    kind = "nmea"

    def __init__(self, path: str, baud: int, stop: threading.Event, max_age_s: float = 5.0) -> None:
        super().__init__(stop, max_age_s)
        self.path = path
        self.baud = baud

    def feed_line(self, line: str) -> None:
        if not line.startswith("$"):
            return
        if not nmea_checksum_ok(line):
            self.bad_checksums += 1
            return
        msg = parse_nmea(line)
        if msg is None:
            return
        self.sentences += 1
        if msg["fix"]:
            fields = {k: v for k, v in msg.items() if k not in ("type", "fix")}
            self._update(**fields)

    def _session(self) -> None:
        st = os.stat(self.path)
        regular = stat.S_ISREG(st.st_mode)
        if regular:
            fd = os.open(self.path, os.O_RDONLY)
        elif os.path.exists(self.path) and _isatty_path(self.path):
            fd = open_raw_tty(self.path, self.baud)
        else:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.state = "reading"
        buf = b""
        try:
            while not self.stop_event.is_set():
                self.beat()
                if not regular:
                    ready, _, _ = select.select([fd], [], [], 0.5)
                    if not ready:
                        continue
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                if not chunk:
                    if regular:
                        self.beat()
                        self.stop_event.wait(0.2)  # follow a growing file
                        continue
                    raise OSError(f"{self.path}: end of stream (device unplugged?)")
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    self.feed_line(raw.decode("ascii", "replace").strip())
                buf = self._bounded(buf)
        finally:
            os.close(fd)


def _isatty_path(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


class GpsdGps(GpsReader):
    kind = "gpsd"

    def __init__(self, host: str, port: int, stop: threading.Event, max_age_s: float = 5.0) -> None:
        super().__init__(stop, max_age_s)
        self.host, self.port = host, port

    def feed_json(self, line: str) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return
        if not isinstance(msg, dict) or msg.get("class") != "TPV":
            return
        self.sentences += 1
        if int(msg.get("mode", 0) or 0) >= 2 and "lat" in msg and "lon" in msg:
            self._update(
                lat=msg.get("lat"),
                lon=msg.get("lon"),
                alt_m=msg.get("altMSL", msg.get("alt")),
                speed_mps=msg.get("speed"),
                course_deg=msg.get("track"),
                utc=msg.get("time"),
                fix_mode=msg.get("mode"),
            )

    def _session(self) -> None:
        with socket.create_connection((self.host, self.port), timeout=5.0) as sock:
            sock.settimeout(1.0)
            sock.sendall(b'?WATCH={"enable":true,"json":true};\n')
            self.state = "reading"
            buf = b""
            silent_since = time.monotonic()
            while not self.stop_event.is_set():
                self.beat()
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    if time.monotonic() - silent_since > 30:
                        raise OSError("gpsd sent nothing for 30 s")
                    continue
                if not chunk:
                    raise OSError("gpsd closed the connection")
                silent_since = time.monotonic()
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    self.feed_json(raw.decode("utf-8", "replace"))
                buf = self._bounded(buf)


def make_gps(cfg: Any, stop: threading.Event) -> GpsReader:
    """The reader for an edge.config.GpsConfig section."""
    if cfg.kind == "gpsd":
        return GpsdGps(cfg.host, cfg.port, stop, cfg.max_age_s)
    return NmeaGps(cfg.path, cfg.baud, stop, cfg.max_age_s)
