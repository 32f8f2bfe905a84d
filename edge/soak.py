"""`edge soak`: run the daemon for a long time against everything the field throws at it, and report.

The daemon runs as its own process (`python -m edge run`, as systemd starts it) with the systemd
watchdog emulated: a NOTIFY_SOCKET datagram socket collects READY/WATCHDOG/STATUS and
WATCHDOG_USEC is set (WatchdogSec, 30 s like the unit by default). Against it:

- camera: edge.chaos.ChaosMjpegServer on 127.0.0.1 with a random mix of good frames, stalls,
  trickles, 12 MB parts sent slowly, oversized and corrupt parts, garbage, PNG parts, disconnects;
  plus camera outages (the server stops listening for up to 45 s: connection refused);
- disk: free space crosses the floor and comes back (a ballast file allocated with fallocate),
  with three old runs in runs/ for rotation to delete;
- preview: a client polling /metrics.json, and bursts of half-open connections.
A daemon that exits before the end is counted and restarted (systemd's Restart=on-failure).

Report: unexpected exits; false watchdog alarms (a "hung" log line, or a gap between WATCHDOG=1
keep-alives longer than WatchdogSec: systemd would have killed the daemon); frames received,
saved and dropped by cause; RSS after warm-up and at the end; files that are not whole frames
(temp files, images without sidecars, undecodable images). Goal: 0 exits, 0 false alarms, every
saved frame decodable with its sidecar, RSS growth under 5 %. The report's `setup` records when,
with which bundle and camera, and under what load average it ran (BENCHMARKS.md section 6 reads it).

This module runs the soak; edge.soak_standins holds the systemd notify listener and the disk ballast,
edge.soak_report builds and prints the report.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from edge.chaos import ChaosMjpegServer
from edge.soak_report import RSS_GOAL_PCT, format_report, soak_report
from edge.soak_standins import Ballast, NotifyListener

__all__ = ["MIX", "RSS_GOAL_PCT", "Ballast", "NotifyListener", "Soak", "SoakOptions", "format_report", "run_soak",
           "setup_record"]

log = logging.getLogger(__name__)

MIX = {"frame": 0.905, "stall": 0.006, "trickle": 0.004, "large": 0.002, "oversize": 0.005, "corrupt": 0.02,
       "garbage": 0.012, "png": 0.012, "disconnect": 0.02}


@dataclass
class SoakOptions:
    bundle: Path
    out: Path
    duration_s: float = 1800.0
    seed: int = 0
    fps: float = 10.0
    frame_size: tuple[int, int] = (320, 240)
    watchdog_sec: float = 30.0
    warmup_s: Optional[float] = None  # RSS baseline taken after this (default: min(120, duration / 4))
    json_out: Optional[Path] = None


# ---- the soak ------------------------------------------------------------------------------------------


@dataclass
class DaemonLife:
    started: float
    proc: subprocess.Popen
    rc: Optional[int] = None
    ended: Optional[float] = None


@dataclass
class Soak:
    opt: SoakOptions
    rng: random.Random = field(init=False)
    lives: list[DaemonLife] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    last_metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.setup = setup_record(self.opt)
        self.rng = random.Random(self.opt.seed)
        self.out = Path(self.opt.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.data = self.out / "data"
        self.log_path = self.out / "daemon.log"
        self.stop = threading.Event()

    # ---- setup ---------------------------------------------------------------------------------
    def _frames(self) -> list[bytes]:
        from edge.simcam import synthetic_frames

        return synthetic_frames(self.opt.frame_size, n=24, seed=self.opt.seed)

    def _free_port(self) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def _old_runs(self) -> None:
        for day in (1, 2, 3):
            run = self.data / "runs" / f"2020-01-0{day}T00-00-00"
            run.mkdir(parents=True, exist_ok=True)
            (run / "summary.json").write_text("{}")
            for i in range(50):
                (run / f"{i:08d}.jpg").write_bytes(b"old" * 100)

    def _config(self, camera_url: str, preview_port: int, floor_mb: float) -> Path:
        cfg = {
            "source": {"kind": "http_mjpeg", "url": camera_url},
            "model": {"bundle": str(Path(self.opt.bundle).resolve())},
            "save": {"out_dir": str(self.data.resolve())},
            "disk": {"min_free_mb": round(floor_mb), "policy": "rotate", "check_interval_s": 2.0, "resume_margin_mb": 64},
            "preview": {"enabled": True, "host": "127.0.0.1", "port": preview_port},
            "status_interval_s": 30.0,
        }
        path = self.out / "edge-soak.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    def _start_daemon(self, cfg_path: Path, notify_path: Path) -> DaemonLife:
        from crackedge.child_env import checkout_env

        env = checkout_env()
        env.update(NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC=str(int(self.opt.watchdog_sec * 1e6)), PYTHONUNBUFFERED="1")
        env.pop("WATCHDOG_PID", None)
        logf = open(self.log_path, "ab")
        proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(cfg_path)], env=env,
                                stdout=logf, stderr=subprocess.STDOUT, cwd=str(self.out))
        logf.close()
        life = DaemonLife(time.monotonic(), proc)
        self.lives.append(life)
        return life

    # ---- chaos schedule ----------------------------------------------------------------------------
    def schedule(self) -> list[tuple[float, str, float]]:
        """(at_s, kind, length_s) for camera outages, disk fills and preview floods."""
        d = self.opt.duration_s
        plan = [(0.12 * d, "flood", 10.0), (0.2 * d, "outage", min(40.0, 0.25 * d)), (0.58 * d, "disk", min(40.0, 0.2 * d))]
        # every kind of bad part at least once, whatever the random mix draws
        for at, ev in ((0.04, "stall"), (0.07, "trickle"), (0.62, "large"), (0.75, "oversize"), (0.77, "png"),
                       (0.79, "corrupt"), (0.81, "garbage"), (0.83, "disconnect")):
            plan.append((at * d, f"inject:{ev}", 0.0))
        t = 0.75 * d
        while t < d - 60:
            kind = self.rng.choice(["outage", "disk", "flood"])
            length = {"outage": self.rng.uniform(3, 45), "disk": self.rng.uniform(20, 60), "flood": 10.0}[kind]
            plan.append((t, kind, length))
            t += length + self.rng.uniform(60, 180)
        return sorted(plan)

    def _camera(self, port: int) -> ChaosMjpegServer:
        return ChaosMjpegServer(self._frames(), fps=self.opt.fps, mix=MIX, seed=self.rng.randrange(1 << 30), port=port,
                                stall_s=(2.0, 8.0), trickle_period_s=0.5, large_rate_bps=256 * 1024).start()

    def _flood(self, port: int, seconds: float) -> None:
        socks = []
        for _ in range(60):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=1.0)
                s.sendall(b"GET /metr")
                socks.append(s)
            except OSError:
                pass
        self.stop.wait(seconds)
        for s in socks:
            s.close()

    def _poll_metrics(self, port: int) -> None:
        import urllib.request

        while not self.stop.wait(2.0):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics.json", timeout=5) as r:
                    self.last_metrics = json.loads(r.read())
            except (OSError, ValueError):
                pass

    def _sample_rss(self, pid: int) -> Optional[float]:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None

    # ---- run ------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        opt = self.opt
        self._old_runs()
        st = os.statvfs(self.out)
        free_mb = st.f_bavail * st.f_frsize / 2**20
        floor_mb = max(64.0, free_mb - 2048.0)  # leaves the soak 2 GB to write into
        ballast = Ballast(self.data / "ballast.bin")
        cam_port, preview_port = self._free_port(), self._free_port()
        camera: Optional[ChaosMjpegServer] = self._camera(cam_port)
        cfg_path = self._config(f"http://127.0.0.1:{cam_port}/?action=stream", preview_port, floor_mb)
        notify = NotifyListener(self.out / "notify.sock")
        self.log_path.write_bytes(b"")
        t0 = time.monotonic()
        life = self._start_daemon(cfg_path, notify.path)
        threading.Thread(target=self._poll_metrics, args=(preview_port,), name="soak-poll", daemon=True).start()
        plan = self.schedule()
        outage_until = disk_until = None
        sent: dict[str, int] = {}
        try:
            while True:
                now = time.monotonic() - t0
                if now >= opt.duration_s:
                    break
                while plan and plan[0][0] <= now:
                    at, kind, length = plan.pop(0)
                    self.events.append((round(now, 1), f"{kind} {length:.0f} s" if length else kind))
                    if kind == "outage" and camera is not None:
                        for k, v in camera.sent.items():
                            sent[k] = sent.get(k, 0) + v
                        camera.stop()
                        camera, outage_until = None, now + length
                    elif kind == "disk":
                        ballast.fill(floor_mb - 64.0)
                        disk_until = now + length
                    elif kind.startswith("inject:") and camera is not None:
                        camera.inject(kind.split(":", 1)[1])
                    elif kind == "flood":
                        threading.Thread(target=self._flood, args=(preview_port, length), daemon=True).start()
                if outage_until is not None and now >= outage_until:
                    camera, outage_until = self._camera(cam_port), None
                if disk_until is not None and now >= disk_until:
                    ballast.free()
                    disk_until = None
                if life.proc.poll() is not None:  # an unexpected exit: restart like systemd
                    life.rc, life.ended = life.proc.returncode, time.monotonic()
                    self.events.append((round(now, 1), f"daemon exited with status {life.rc}; restarted"))
                    time.sleep(1.0)
                    life = self._start_daemon(cfg_path, notify.path)
                rss = self._sample_rss(life.proc.pid)
                if rss is not None:
                    self.rss.append((now, rss))
                time.sleep(1.0)
            life.proc.send_signal(signal.SIGTERM)
            try:
                life.rc = life.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                life.proc.kill()
                life.rc = life.proc.wait()
            life.ended = time.monotonic()
        finally:
            self.stop.set()
            for lf in self.lives:
                if lf.proc.poll() is None:
                    lf.proc.kill()
                    lf.proc.wait()
            if camera is not None:
                for k, v in camera.sent.items():
                    sent[k] = sent.get(k, 0) + v
                camera.stop()
            ballast.free()
            notify.close()
        return self.report(notify, sent, ballast.fills)

    def report(self, notify: NotifyListener, sent: dict[str, int], fills: int) -> dict[str, Any]:
        return soak_report(self, notify, sent, fills)


def setup_record(opt: SoakOptions) -> dict[str, Any]:
    """At the start: what a report's counters cannot say (when, which bundle and camera, the share of bad parts, the
    daemon's save threshold: the config default, the soak does not set it) and the machine's load average."""
    from edge.config import SaveConfig

    return {"started": time.strftime("%Y-%m-%dT%H:%M"), "bundle": str(opt.bundle), "frame_size": list(opt.frame_size),
            "fps": opt.fps, "seed": opt.seed, "bad_part_share": round(1.0 - MIX["frame"], 4),
            "min_crack_ratio": SaveConfig.model_fields["min_crack_ratio"].default, "cpu_count": os.cpu_count(),
            "loadavg": {"start": [round(v, 2) for v in os.getloadavg()]}}


def run_soak(opt: SoakOptions) -> dict[str, Any]:
    report = Soak(opt).run()
    print(format_report(report), flush=True)
    return report
