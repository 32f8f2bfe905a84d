"""Counters and timings the daemon reports at /metrics, in STATUS= and in the run's summary.json.

`/metrics` JSON keys (documented, tested):
    time, uptime_s, run_dir, rss_mb, rss_peak_mb (VmHWM), rss_anon_mb, rss_file_mb (RssAnon: the
                  process's own heap and buffers; RssFile: mapped files, i.e. libraries and memory-mapped
                  weights, whose count depends on what the page cache already held when they were mapped)
    source:       kind, state (starting|connected|reconnecting|ended|stopped), frames, corrupt,
                  reconnects, stalls, frame_timeouts, last_error, last_outage_s, outage_s_total
    stages:       name -> {count, fps, latency_ms_mean, latency_ms_p95, errors}
    queues:       name -> {depth, maxsize, policy, drops, puts}
    drops:        total frames dropped by the queues
    latency_ms:   end_to_end_mean, end_to_end_p95 (capture -> postprocessed)
    inference:    api, version, device, model_file, precision, requests
    saved:        frames, raw, bytes, skipped_threshold, skipped_spacing, skipped_disk, write_errors
    disk:         free_mb, floor_mb, resume_mb, policy, saving_paused, runs_deleted, rotate_failures
    gps:          null, or {state, fix (the latest fix {lat, lon, ...} with age_s, or null), ...}
    temperatures_c: sensor name -> degrees C (empty when none is readable; refreshed by the
                  maintenance thread, never read inside a request)
    watchdog:     hung (stage -> seconds stuck), hang_events, pings, heartbeat_age_s
    preview:      open, accepted, served, rejected, evicted, timeouts, unauthorized (connections)
    remote:       null, or with model.backend remote (crackedge.runtime.backends.fallback.stats): state
                  (remote|local), remote_model, local_model, url, frames_remote, frames_local,
                  switches_to_local, switches_to_remote, remote_timeouts, remote_errors,
                  late_remote_results, local_errors, probes, retry_in_s, backoff_s, last_error
The Prometheus text format of the same numbers: edge.prometheus.
"""

from __future__ import annotations

import collections
import glob
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from crackedge.process_memory import memory_mb

METRIC_KEYS = (
    "time",
    "uptime_s",
    "run_dir",
    "rss_mb",
    "rss_peak_mb",
    "rss_anon_mb",
    "rss_file_mb",
    "source",
    "stages",
    "queues",
    "drops",
    "latency_ms",
    "inference",
    "saved",
    "disk",
    "gps",
    "temperatures_c",
    "watchdog",
    "preview",
    "remote",
)


class StageStats:
    """Per-stage throughput and latency over a sliding window of the last `window` items."""

    def __init__(self, name: str, window: int = 200) -> None:
        self.name = name
        self.count = 0
        self.errors = 0
        self._lat: collections.deque[float] = collections.deque(maxlen=window)
        self._done: collections.deque[float] = collections.deque(maxlen=window)
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            self.count += 1
            self._lat.append(seconds)
            self._done.append(time.monotonic())

    def error(self) -> None:
        with self._lock:
            self.errors += 1

    def fps(self) -> float:
        with self._lock:
            return _rate(self._done)

    def snapshot(self, decay: bool = True) -> dict[str, Any]:
        """decay=True: rate up to now (a stalled stage shows ~0); False: rate over its own items."""
        with self._lock:
            lat = sorted(self._lat)
            return {
                "count": self.count,
                "fps": round(_rate(self._done, decay), 2),
                "latency_ms_mean": round(1000 * sum(lat) / len(lat), 2) if lat else None,
                "latency_ms_p95": round(1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 2) if lat else None,
                "errors": self.errors,
            }


def _rate(stamps: collections.deque[float], decay: bool = True) -> float:
    """Items per second over the window; with decay, counted up to now (a stalled stage decays to 0)."""
    if len(stamps) < 2:
        return 0.0
    end = max(time.monotonic(), stamps[-1]) if decay else stamps[-1]
    span = end - stamps[0]
    return (len(stamps) - 1) / span if span > 0 else 0.0


class Counters:
    """A thread-safe bag of named numbers for one area (source, saved, disk...)."""

    def __init__(self, **initial: Any) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = dict(initial)

    def add(self, key: str, n: float = 1) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0) + n

    def set(self, **kv: Any) -> None:
        with self._lock:
            self._values.update(kv)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._values.get(key, default)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)


class Metrics:
    """Everything the daemon measures; `snapshot()` is the /metrics document."""

    def __init__(self) -> None:
        self.started_mono = time.monotonic()
        self.run_dir: Optional[str] = None
        self.stages: dict[str, StageStats] = {}
        self.queues: list[Any] = []  # StageQueue objects (have .name and .snapshot())
        self.source = Counters(kind=None, state="starting", frames=0, corrupt=0, reconnects=0, stalls=0, frame_timeouts=0,
                               last_error=None, last_outage_s=None, outage_s_total=0.0)
        self.saved = Counters(frames=0, raw=0, bytes=0, skipped_threshold=0, skipped_spacing=0, skipped_disk=0, write_errors=0)
        self.disk = Counters(free_mb=None, floor_mb=None, policy=None, saving_paused=False, runs_deleted=0, rotate_failures=0)
        self.preview = Counters()
        self.inference = Counters()
        self.e2e = StageStats("end_to_end")
        self.gps_provider: Optional[Callable[[], Optional[dict]]] = None
        self.watchdog_provider: Optional[Callable[[], dict]] = None
        self.remote_provider: Optional[Callable[[], dict]] = None
        self._temps = TemperatureReader()

    def stage(self, name: str) -> StageStats:
        if name not in self.stages:
            self.stages[name] = StageStats(name)
        return self.stages[name]

    def snapshot(self, decay: bool = True) -> dict[str, Any]:
        queues = {q.name: q.snapshot() for q in self.queues}
        e2e = self.e2e.snapshot()
        mem = memory_mb("VmRSS", "VmHWM", "RssAnon", "RssFile")
        return {
            "time": time.time(),
            "uptime_s": round(time.monotonic() - self.started_mono, 1),
            "run_dir": self.run_dir,
            "rss_mb": mem["VmRSS"],
            "rss_peak_mb": mem["VmHWM"],
            "rss_anon_mb": mem["RssAnon"],
            "rss_file_mb": mem["RssFile"],
            "source": self.source.snapshot(),
            "stages": {name: s.snapshot(decay) for name, s in self.stages.items()},
            "queues": queues,
            "drops": sum(q["drops"] for q in queues.values()),
            "latency_ms": {"end_to_end_mean": e2e["latency_ms_mean"], "end_to_end_p95": e2e["latency_ms_p95"]},
            "inference": self.inference.snapshot(),
            "saved": self.saved.snapshot(),
            "disk": self.disk.snapshot(),
            "gps": self.gps_provider() if self.gps_provider else None,
            "temperatures_c": self._temps.cached(),
            "watchdog": self.watchdog_provider() if self.watchdog_provider else {},
            "preview": self.preview.snapshot(),
            "remote": self.remote_provider() if self.remote_provider else None,
        }

    def refresh_temperatures(self) -> None:
        """Read the sensors (sysfs, and vcgencmd when present): the maintenance thread calls this."""
        self._temps.read()


class TemperatureReader:
    """SoC temperatures from /sys/class/thermal and `vcgencmd measure_temp` (when present), cached.

    `read()` may start a subprocess (vcgencmd): call it from a background thread; request handlers
    use `cached()`, which never does I/O.
    """

    def __init__(self, thermal_glob: str = "/sys/class/thermal/thermal_zone*", max_age_s: float = 5.0) -> None:
        self.thermal_glob = thermal_glob
        self.max_age_s = max_age_s
        self._cache: dict[str, float] = {}
        self._at = -1e9
        self._vcgencmd = shutil.which("vcgencmd")

    def cached(self) -> dict[str, float]:
        return dict(self._cache)

    def read(self) -> dict[str, float]:
        if time.monotonic() - self._at < self.max_age_s:
            return dict(self._cache)
        temps: dict[str, float] = {}
        for zone in sorted(glob.glob(self.thermal_glob)):
            try:
                milli = int(Path(zone, "temp").read_text().strip())
                kind = Path(zone, "type").read_text().strip() if Path(zone, "type").exists() else os.path.basename(zone)
            except (OSError, ValueError):
                continue
            temps[f"{os.path.basename(zone)}:{kind}"] = round(milli / 1000.0, 1)
        if self._vcgencmd:
            try:
                out = subprocess.run([self._vcgencmd, "measure_temp"], capture_output=True, text=True, timeout=1.0).stdout
                if "temp=" in out:
                    temps["vcgencmd"] = float(out.split("temp=")[1].split("'")[0])
            except (OSError, subprocess.SubprocessError, ValueError):
                pass
        self._cache, self._at = temps, time.monotonic()
        return dict(temps)
