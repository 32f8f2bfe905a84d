"""`edge soak`'s report: exits, false watchdog alarms, frames by cause, RSS growth, whole files on disk,
and the goal each is held to (edge.soak runs the soak; BENCHMARKS.md section 6 reads the JSON)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edge.soak_standins import NotifyListener


RSS_GOAL_PCT = 5.0


def soak_report(soak: Any, notify: NotifyListener, sent: dict[str, int], fills: int) -> dict[str, Any]:
    """The report of a finished soak (the module docstring of edge.soak says what it holds); written to
    `soak.opt.json_out` when set."""
    opt = soak.opt
    log_text = soak.log_path.read_text(errors="replace")
    hung_lines = [ln for ln in log_text.splitlines() if "is hung" in ln or "hung for more than" in ln]
    pings = notify.pings()
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    # the first ping must come within WatchdogSec of READY=1, too
    ready = [t for t, m in notify.messages if m.startswith("READY=1")]
    if ready and pings:
        gaps.append(pings[0] - ready[0])
    over = [g for g in gaps if g >= opt.watchdog_sec]
    unexpected = [{"status": lf.rc, "after_s": round((lf.ended or 0) - lf.started, 1)} for lf in soak.lives[:-1]]
    final_rc = soak.lives[-1].rc if soak.lives else None

    totals, files = _count_runs(soak.data, soak.last_metrics)
    warm = opt.warmup_s if opt.warmup_s is not None else min(120.0, opt.duration_s / 4)
    after = [r for t, r in soak.rss if t >= warm]
    rss_start = after[0] if after else None
    rss_end = after[-1] if after else None
    growth = 100.0 * (rss_end - rss_start) / rss_start if rss_start and rss_end else None
    pauses = log_text.count("saving stopped until")
    resumes = log_text.count("saving resumed")
    report = {
        "setup": {**soak.setup, "loadavg": {**soak.setup["loadavg"], "end": [round(v, 2) for v in os.getloadavg()]}},
        "duration_s": opt.duration_s,
        "watchdog_sec": opt.watchdog_sec,
        "daemon_starts": len(soak.lives),
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
        "events": soak.events,
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


def _count_runs(data_dir: Path, last_metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Frame counters summed over the soak's runs (their summary.json) and what is on disk in them."""
    import cv2
    import numpy as np

    from edge.recovery import incomplete_frames

    totals = {"received": 0, "corrupt": 0, "saved": 0, "queue_drops": 0, "skipped_disk": 0, "write_errors": 0,
              "below_threshold": 0, "frame_timeouts": 0, "stalls": 0, "reconnects": 0, "outage_s_total": 0.0,
              "runs_deleted": 0}
    files = {"runs": 0, "sidecars": 0, "images": 0, "undecodable": 0, "orphans": 0, "temp_files": 0}
    for run in sorted((data_dir / "runs").iterdir()):
        if run.name.startswith("2020-"):
            continue
        files["runs"] += 1
        summ = run / "summary.json"
        s = json.loads(summ.read_text()) if summ.exists() else (last_metrics or {})
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
    return totals, files


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
