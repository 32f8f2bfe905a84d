"""Section 6 of BENCHMARKS.md: the edge soak, rendered from the report `edge soak ... --json` writes
(benchmarks/results/edge_soak.json; edge/soak_report.py builds it).

The soak runs for 30 minutes, so `crackedge bench-report` never runs it: it renders the file
(`--only soak` reads it, `--soak-json FILE` copies one in). What the report's counters cannot say
comes from its `setup` (date, bundle, camera, written by `edge soak`) and from an optional
hand-written `note` (the conditions on the machine), both rendered as they are.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from workflows.bench.markdown import not_measured, table
from workflows.bench.sections import HOW_TO_MEASURE, SECTION_TITLES

RESULTS_FILE = "benchmarks/results/edge_soak.json"
SOAK_TEST = "tests/test_edge_field_soak.py"
WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
EVENT = re.compile(r"^(outage|disk|flood) (\d+(?:\.\d+)?) s$")
DROP_LABELS = {
    "corrupt_or_unusable_parts": "dropped: corrupt or unusable parts",
    "queue_full_keep_freshest": "dropped: capture queue full (keep freshest)",
    "disk_floor": "dropped: disk floor (saving paused)",
    "write_errors": "dropped: write errors",
}


def num(value: Any) -> str:
    """A figure as the soak wrote it: 1800.0 -> 1800, 15.01 -> 15.01, None -> '–'."""
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _word(n: int) -> str:
    return WORDS[n] if 0 <= n < len(WORDS) else str(n)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _flag(ok: Optional[bool]) -> str:
    return "–" if ok is None else ("PASS" if ok else "MISS")


def _minutes(section: dict[str, Any]) -> str:
    return num(float(section.get("duration_s") or 1800.0) / 60.0)


def soak_title(section: Optional[dict[str, Any]]) -> str:
    if not section or not section.get("duration_s"):
        return SECTION_TITLES["soak"]
    return f"6. Edge soak: {_minutes(section)} minutes against a hostile camera and a filling disk"


def soak_command(section: dict[str, Any]) -> str:
    """The `edge soak` command line that wrote this report (options at their defaults left out)."""
    setup = section.get("setup") or {}
    parts = ["edge soak BUNDLE --out DIR", f"--duration {num(float(section.get('duration_s') or 1800.0))}"]
    if setup.get("seed"):
        parts.append(f"--seed {setup['seed']}")
    if setup.get("fps") not in (None, 10.0):
        parts.append(f"--fps {num(float(setup['fps']))}")
    if section.get("watchdog_sec") not in (None, 30.0):
        parts.append(f"--watchdog-sec {num(float(section['watchdog_sec']))}")
    return " ".join(parts + [f"--json {RESULTS_FILE}"])


def chaos_events(events: list[Any]) -> str:
    """'two camera outages (40 s and 24 s), three disk fills below the floor (34-59 s each; ...) and a burst of
    60 half-open preview connections' from the soak's event log ([at_s, "outage 40 s"], ...)."""
    lengths: dict[str, list[float]] = {"outage": [], "disk": [], "flood": []}
    for ev in events:
        m = EVENT.match(str(ev[1] if isinstance(ev, (list, tuple)) else ev))
        if m:
            lengths[m.group(1)].append(float(m.group(2)))
    parts = []
    if lengths["outage"]:
        n = len(lengths["outage"])
        parts.append(f"{_word(n)} camera outage{'s' if n > 1 else ''} "
                     f"({_and([f'{num(v)} s' for v in lengths['outage']])})")
    if lengths["disk"]:
        d = lengths["disk"]
        span = f"{num(min(d))}-{num(max(d))} s each" if len(d) > 1 and min(d) != max(d) else f"{num(d[0])} s"
        parts.append(f"{_word(len(d))} disk fill{'s' if len(d) > 1 else ''} below the floor ({span}; three old runs to "
                     "rotate)")
    if lengths["flood"]:
        n = len(lengths["flood"])
        parts.append(("a burst" if n == 1 else f"{_word(n)} bursts") + " of 60 half-open preview connections")
    return _and(parts) if parts else ""


def _intro(section: dict[str, Any]) -> str:
    setup = section.get("setup") or {}
    started = str(setup.get("started") or "")[:10]
    where = f" {section['note']}" if section.get("note") else ""
    load = setup.get("loadavg") or {}
    if load.get("start") and load.get("end"):
        where += (f" (load average {load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the end"
                  + (f", {setup['cpu_count']} cores" if setup.get("cpu_count") else "") + ")")
    bundle = setup.get("bundle_description") or (f"the bundle `{setup['bundle']}`" if setup.get("bundle") else "a bundle")
    frames = "JPEG frames"
    if setup.get("frame_size"):
        frames = f"{setup['frame_size'][0]}x{setup['frame_size'][1]} {frames}"
    if setup.get("fps"):
        frames += f" at {num(float(setup['fps']))} FPS"
    bad = (f"{100.0 * setup['bad_part_share']:.1f} % of the parts were bad at random"
           if setup.get("bad_part_share") is not None else "parts were bad at random")
    events = chaos_events(section.get("events") or [])
    return (
        f"Measured {started + ' ' if started else ''}with `{soak_command(section)}`{where} (not produced by "
        "`crackedge bench-report`, which renders this file: `crackedge bench-report --only soak`). The daemon "
        f"(`edge run` as a child process, WatchdogSec {num(section.get('watchdog_sec'))} s emulated through NOTIFY_SOCKET "
        f"and WATCHDOG_USEC, defaults of `edge/examples/edge.yaml` otherwise) ran {bundle} on {frames} from "
        f"`edge.chaos.ChaosMjpegServer`: {bad} (stalls of 2-8 s, trickles of one byte per 0.5 s, 12 MB parts at "
        "256 KB/s, oversized, truncated, garbage and PNG parts, disconnects)" + (f", plus {events}." if events else ".")
    )


def goal_rows(section: dict[str, Any]) -> list[list[Any]]:
    """[goal, measured, PASS/MISS] for the soak's four goals (edge/soak_report.py)."""
    from edge.soak_report import RSS_GOAL_PCT

    goal = section.get("goal") or {}
    starts, exits = section.get("daemon_starts"), section.get("unexpected_exits") or []
    life = "one daemon start" if starts == 1 else f"{starts} daemon starts"
    if exits:
        life += ": " + ", ".join(f"status {e.get('status')} after {num(e.get('after_s'))} s" for e in exits)
    fa, files, rss = section.get("false_alarms") or {}, section.get("files") or {}, section.get("rss_mb") or {}
    growth = rss.get("growth_pct")
    return [
        ["unexpected exits = 0", f"{len(exits)} ({life}; exit status {section.get('final_exit_status')} on SIGTERM at "
         "the end)", _flag(goal.get("no_exits"))],
        ["false watchdog alarms = 0", f"{fa.get('hung_log_lines')} \"hung\" lines; "
         f"{fa.get('keepalive_gaps_over_watchdog_sec')} keep-alive gaps >= {num(section.get('watchdog_sec'))} s "
         f"(max {num(fa.get('max_keepalive_gap_s'))} s over {fa.get('keepalives')} keep-alives)",
         _flag(goal.get("no_false_alarms"))],
        ["every saved frame a decodable image with its sidecar",
         f"{files.get('sidecars')} sidecars, {files.get('images')} images, {files.get('undecodable')} undecodable, "
         f"{files.get('orphans')} orphans, {files.get('temp_files')} temp files", _flag(goal.get("every_saved_frame_whole"))],
        [f"RSS growth < {num(float(RSS_GOAL_PCT))} %",
         f"{num(rss.get('start'))} MB after {num(rss.get('warmup_s'))} s warm-up, {num(rss.get('end'))} MB at the end: "
         f"{'–' if growth is None else f'{growth:+g}'} % (max {num(rss.get('max'))} MB)",
         _flag(goal.get("rss_growth_under_5_pct"))],
    ]


def frame_rows(section: dict[str, Any]) -> list[list[Any]]:
    f = section.get("frames") or {}
    ratio = (section.get("setup") or {}).get("min_crack_ratio")
    rows = [["received (good frames from the source)", f.get("received")],
            [f"saved (crack ratio >= {num(ratio)})" if ratio is not None else "saved", f.get("saved")],
            ["not saved: below the crack threshold", f.get("below_threshold")]]
    for key, value in (f.get("dropped") or {}).items():
        rows.append([DROP_LABELS.get(key, "dropped: " + key.replace("_", " ")), value])
    return rows


def _times(n: Any) -> str:
    return "once" if n == 1 else f"{n} times"


def _closing(section: dict[str, Any]) -> str:
    src, disk = section.get("source") or {}, section.get("disk") or {}
    return (
        f"Source: {src.get('reconnects')} reconnects, {src.get('stalls')} stalls, {src.get('frame_timeouts')} per-frame "
        f"deadline cut-offs (trickles and 12 MB parts), {num(src.get('outage_s_total'))} s of outage in all. Disk: saving "
        f"paused {_times(disk.get('saving_paused'))} and resumed {_times(disk.get('saving_resumed'))} (one line each), "
        f"{disk.get('old_runs_deleted')} old runs rotated away by the maintenance thread. A 2-minute version of this run "
        f"is the `slow` test `{SOAK_TEST}`."
    )


def soak_lines(section: Optional[dict[str, Any]]) -> list[str]:
    lines = [f"## {soak_title(section)}", ""]
    if not section:
        return lines + [not_measured(HOW_TO_MEASURE["soak"]), ""]
    return lines + [
        _intro(section), "",
        table([f"goal over {_minutes(section)} minutes", "measured", "result"], goal_rows(section)), "",
        table(["frames", "count"], frame_rows(section)), "",
        _closing(section), "",
    ]
