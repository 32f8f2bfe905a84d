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

log = logging.getLogger(__name__)

MIX = {"frame": 0.905, "stall": 0.006, "trickle": 0.004, "large": 0.002, "oversize": 0.005, "corrupt": 0.02,
       "garbage": 0.012, "png": 0.012, "disconnect": 0.02}
RSS_GOAL_PCT = 5.0


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


# ---- systemd stand-in ------------------------------------------------------------------------------


class NotifyListener:
    """Collects sd_notify datagrams (monotonic receive time, text)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._loop, name="soak-notify", daemon=True)
        self._th.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, OSError):
                continue
            self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def pings(self) -> list[float]:
        return [t for t, m in list(self.messages) if m == "WATCHDOG=1"]

    def close(self) -> None:
        self._stop.set()
        self._th.join(2)
        self.sock.close()
        try:
            self.path.unlink()
        except OSError:
            pass


# ---- the disk ------------------------------------------------------------------------------------------


class Ballast:
    """A file whose allocated size moves free space on the output disk below / above the floor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fills = 0

    def fill(self, to_free_mb: float) -> None:
        """Allocate enough that the disk has about `to_free_mb` MB free."""
        st = os.statvfs(self.path.parent)
        free_mb = st.f_bavail * st.f_frsize / 2**20
        current = self.path.stat().st_size / 2**20 if self.path.exists() else 0.0
        size_mb = max(0.0, free_mb + current - to_free_mb)
        fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.ftruncate(fd, 0)
            if size_mb > 0:
                os.posix_fallocate(fd, 0, int(size_mb * 2**20))
        finally:
            os.close(fd)
        self.fills += 1

    def free(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


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

    # ---- report ----------------------------------------------------------------------------------
    def report(self, notify: NotifyListener, sent: dict[str, int], fills: int) -> dict[str, Any]:
        from edge.recovery import incomplete_frames

        opt = self.opt
        log_text = self.log_path.read_text(errors="replace")
        hung_lines = [ln for ln in log_text.splitlines() if "is hung" in ln or "hung for more than" in ln]
        pings = notify.pings()
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        # the first ping must come within WatchdogSec of READY=1, too
        ready = [t for t, m in notify.messages if m.startswith("READY=1")]
        if ready and pings:
            gaps.append(pings[0] - ready[0])
        over = [g for g in gaps if g >= opt.watchdog_sec]
        unexpected = [{"status": lf.rc, "after_s": round((lf.ended or 0) - lf.started, 1)} for lf in self.lives[:-1]]
        final_rc = self.lives[-1].rc if self.lives else None

        totals = {"received": 0, "corrupt": 0, "saved": 0, "queue_drops": 0, "skipped_disk": 0, "write_errors": 0,
                  "below_threshold": 0, "frame_timeouts": 0, "stalls": 0, "reconnects": 0, "outage_s_total": 0.0,
                  "runs_deleted": 0}
        files = {"runs": 0, "sidecars": 0, "images": 0, "undecodable": 0, "orphans": 0, "temp_files": 0}
        import cv2
        import numpy as np

        for run in sorted((self.data / "runs").iterdir()):
            if run.name.startswith("2020-"):
                continue
            files["runs"] += 1
            summ = run / "summary.json"
            s = json.loads(summ.read_text()) if summ.exists() else (self.last_metrics or {})
            src, saved, disk = s.get("source", {}), s.get("saved", {}), s.get("disk", {})
            totals["received"] += src.get("frames", 0)
            totals["corrupt"] += src.get("corrupt", 0)
            totals["frame_timeouts"] += src.get("frame_timeouts", 0)
            totals["stalls"] += src.get("stalls", 0)
            totals["reconnects"] += src.get("reconnects", 0)
            totals["outage_s_total"] += src.get("outage_s_total", 0.0) or 0.0
            totals["saved"] += saved.get("frames", 0)
            totals["skipped_disk"] += saved.get("skipped_disk", 0)
            totals["write_errors"] += saved.get("write_errors", 0)
            totals["below_threshold"] += saved.get("skipped_threshold", 0)
            totals["queue_drops"] += s.get("drops", 0)
            totals["runs_deleted"] += disk.get("runs_deleted", 0)
            files["temp_files"] += sum(1 for p in run.iterdir() if p.name.endswith(".tmp"))
            _whole, stray = incomplete_frames(run)
            files["orphans"] += len(stray)
            for sidecar in run.glob("[0-9]*.json"):
                files["sidecars"] += 1
                doc = json.loads(sidecar.read_text())
                for name in filter(None, (doc.get("image"), doc.get("raw_image"))):
                    files["images"] += 1
                    data = np.fromfile(str(run / name), np.uint8) if (run / name).exists() else np.zeros(0, np.uint8)
                    if data.size == 0 or cv2.imdecode(data, cv2.IMREAD_COLOR) is None:
                        files["undecodable"] += 1
        warm = opt.warmup_s if opt.warmup_s is not None else min(120.0, opt.duration_s / 4)
        after = [r for t, r in self.rss if t >= warm]
        rss_start = after[0] if after else None
        rss_end = after[-1] if after else None
        growth = 100.0 * (rss_end - rss_start) / rss_start if rss_start and rss_end else None
        pauses = log_text.count("saving stopped until")
        resumes = log_text.count("saving resumed")
        report = {
            "setup": {**self.setup, "loadavg": {**self.setup["loadavg"], "end": [round(v, 2) for v in os.getloadavg()]}},
            "duration_s": opt.duration_s,
            "watchdog_sec": opt.watchdog_sec,
            "daemon_starts": len(self.lives),
            "unexpected_exits": unexpected,
            "final_exit_status": final_rc,
            "false_alarms": {"hung_log_lines": len(hung_lines), "keepalive_gaps_over_watchdog_sec": len(over),
                             "max_keepalive_gap_s": round(max(gaps), 2) if gaps else None, "keepalives": len(pings)},
            "frames": {
                "received": totals["received"], "saved": totals["saved"], "below_threshold": totals["below_threshold"],
                "dropped": {"corrupt_or_unusable_parts": totals["corrupt"], "queue_full_keep_freshest": totals["queue_drops"],
                            "disk_floor": totals["skipped_disk"], "write_errors": totals["write_errors"]},
            },
            "source": {k: totals[k] for k in ("reconnects", "stalls", "frame_timeouts")} | {"outage_s_total": round(totals["outage_s_total"], 1)},
            "disk": {"fills": fills, "saving_paused": pauses, "saving_resumed": resumes, "old_runs_deleted": totals["runs_deleted"]},
            "chaos_sent": dict(sorted(sent.items())),
            "events": self.events,
            "rss_mb": {"warmup_s": warm, "start": round(rss_start, 1) if rss_start else None,
                       "end": round(rss_end, 1) if rss_end else None, "max": round(max(after), 1) if after else None,
                       "growth_pct": round(growth, 2) if growth is not None else None},
            "files": files,
        }
        report["goal"] = {
            "no_exits": not unexpected and final_rc == 0,
            "no_false_alarms": not hung_lines and not over,
            "every_saved_frame_whole": files["orphans"] == 0 and files["temp_files"] == 0 and files["undecodable"] == 0,
            "rss_growth_under_5_pct": growth is not None and growth < RSS_GOAL_PCT,
        }
        report["passed"] = all(report["goal"].values())
        if opt.json_out is not None:
            Path(opt.json_out).write_text(json.dumps(report, indent=1))
        return report


def setup_record(opt: SoakOptions) -> dict[str, Any]:
    """At the start: what a report's counters cannot say (when, which bundle and camera, the share of bad parts, the
    daemon's save threshold: the config default, the soak does not set it) and the machine's load average."""
    from edge.config import SaveConfig

    return {"started": time.strftime("%Y-%m-%dT%H:%M"), "bundle": str(opt.bundle), "frame_size": list(opt.frame_size),
            "fps": opt.fps, "seed": opt.seed, "bad_part_share": round(1.0 - MIX["frame"], 4),
            "min_crack_ratio": SaveConfig.model_fields["min_crack_ratio"].default, "cpu_count": os.cpu_count(),
            "loadavg": {"start": [round(v, 2) for v in os.getloadavg()]}}


def format_report(r: dict[str, Any]) -> str:
    f, fa, rss, files = r["frames"], r["false_alarms"], r["rss_mb"], r["files"]
    lines = [
        f"soak {r['duration_s']:.0f} s, WatchdogSec {r['watchdog_sec']:.0f} s: {'PASS' if r['passed'] else 'FAIL'}",
        f"  unexpected exits   {len(r['unexpected_exits'])} (final exit status {r['final_exit_status']}, daemon starts {r['daemon_starts']})",
        f"  false alarms       {fa['hung_log_lines']} hung lines, {fa['keepalive_gaps_over_watchdog_sec']} keep-alive gaps >= "
        f"WatchdogSec (max gap {fa['max_keepalive_gap_s']} s over {fa['keepalives']} keep-alives)",
        f"  frames             received {f['received']}, saved {f['saved']}, below threshold {f['below_threshold']}",
        "  dropped by cause   " + ", ".join(f"{k} {v}" for k, v in f["dropped"].items()),
        "  source             " + ", ".join(f"{k} {v}" for k, v in r["source"].items()),
        "  disk               " + ", ".join(f"{k} {v}" for k, v in r["disk"].items()),
        "  chaos sent         " + ", ".join(f"{k} {v}" for k, v in r["chaos_sent"].items()),
        f"  RSS                {rss['start']} MB after {rss['warmup_s']:.0f} s warm-up -> {rss['end']} MB at the end "
        f"(growth {rss['growth_pct']} %, max {rss['max']} MB)",
        f"  files              {files['sidecars']} sidecars, {files['images']} images, {files['undecodable']} undecodable, "
        f"{files['orphans']} orphans, {files['temp_files']} temp files",
    ]
    return "\n".join(lines)


def run_soak(opt: SoakOptions) -> dict[str, Any]:
    report = Soak(opt).run()
    print(format_report(report), flush=True)
    return report
