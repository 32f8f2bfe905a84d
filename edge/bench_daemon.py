"""`edge bench`, last step: the resident memory of the daemon itself, not of the benchmark.

The benchmark process holds its test frames, a synchronous infer request and the results of every
round, so its RSS overstates what runs on the vehicle. Here `edge run` is started as a child process
on the same bundle and model settings, replaying the benchmark's frames from JPEG files as fast as
it processes them (saving on, fsync off, preview off: the preview needs a free port), and its peak
resident memory (VmHWM, from the run's summary.json) is reported.

It runs twice with the model cache the shipped edge.yaml sets (`model.cache_dir`): on the first start
the model is compiled into the cache (once per bundle on the vehicle; by a short child process,
model.compile_ahead, whose own peak is reported beside the daemon's), the second start imports the
compiled model from it (every later start); both are reported.

Before each start the libraries the daemon maps and the bundle's files are dropped from the page
cache (edge.page_cache: how many library pages a start maps depends on what the cache held; a vehicle
starts after a boot), and the summary's RssAnon / RssFile at the end of the run are reported beside
the peak: the part the process allocates itself and the part that is mapped files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

import yaml

from crackedge.child_env import checkout_env
from edge.page_cache import cached_mb, daemon_library_files, evict, other_mappers

DAEMON_FRAMES = 100  # enough for every stage to reach steady state on a small CPU
SETTINGS = ("edge run, image files as fast as processed, saving on (fsync off), preview off; "
            "first start, then a start from the compiled-model cache (model.cache_dir); before each, the "
            "daemon's libraries and the bundle dropped from the page cache (as after a boot)")


def _config(folder: Path, model: dict[str, Any], out: str = "out") -> dict[str, Any]:
    return {
        "source": {"kind": "images", "path": str(folder / "frames"), "pattern": "*.jpg"},
        "model": {"cache_dir": str(folder / "ov-cache")} | {k: v for k, v in model.items() if v is not None},
        "save": {"out_dir": str(folder / out), "fsync": False},
        "disk": {"min_free_mb": 0},
        "preview": {"enabled": False},
        "status_interval_s": 3600.0,
    }


def daemon_memory(bundle: Path, jpegs: list[bytes], model: dict[str, Any], frames: int = DAEMON_FRAMES,
                  timeout_s: float = 600.0) -> dict[str, Any]:
    """Run `edge run` on `frames` files cycling through `jpegs`, twice (first start, then a start from the
    compiled-model cache), each after dropping its libraries and the bundle from the page cache; the peak
    RSS and throughput of each.

    model: the `model:` section of the daemon config besides the bundle (device, precision, model,
    num_requests, performance_hint; None values left out). Returns {"rss_peak_mb", "rss_end_mb",
    "rss_anon_end_mb", "rss_file_end_mb" (the two parts of rss_end_mb), "frames",
    "infer_fps" (the first start), "compile_child_peak_mb" (the peak of the child process that compiled the
    model into the cache before the first start imported it; None when none ran: model.compile_ahead
    false, or a device that is not the CPU), "rss_peak_warm_mb", "infer_fps_warm" (the start from the cache),
    "model_cache_files" (the compiled blobs the first start wrote into the cache), "other_mappers" (other
    processes that mapped the daemon's libraries at the first start: edge.page_cache.other_mappers),
    "libraries_cached_after_drop_mb" (how much of those libraries the page cache still held after the drop
    before the first start: the pages running processes map, this benchmark's included),
    "settings"}, or {"error": ...} naming what failed.
    """
    with tempfile.TemporaryDirectory(prefix="edge-bench-daemon-") as tmp:
        folder = Path(tmp)
        (folder / "frames").mkdir()
        for i in range(frames):
            (folder / "frames" / f"frame_{i:05d}.jpg").write_bytes(jpegs[i % len(jpegs)])
        runs: list[dict[str, Any]] = []
        cached = 0
        for name in ("first", "warm"):
            summary = _run_once(folder, name, {"bundle": str(Path(bundle).resolve()), **model}, frames, timeout_s)
            if "error" in summary:
                return summary if name == "first" else {**runs[0], "settings": SETTINGS, "error_warm": summary["error"]}
            runs.append(summary)
            if name == "first":  # what the first start left in the cache (0 files: the device caches nothing)
                cached = sum(1 for p in (folder / "ov-cache").rglob("*.blob") if p.is_file())
    first, warm = runs
    return {**first, "rss_peak_warm_mb": warm["rss_peak_mb"], "infer_fps_warm": warm["infer_fps"],
            "model_cache_files": cached, "settings": SETTINGS}


def _run_once(folder: Path, name: str, model: dict[str, Any], frames: int, timeout_s: float) -> dict[str, Any]:
    cfg = _config(folder, model, out=f"out-{name}")
    config = folder / f"edge-{name}.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    cmd = [sys.executable, "-m", "edge", "run", "--config", str(config)]
    libraries = daemon_library_files()
    evict([*libraries, Path(model["bundle"])])
    mappers = other_mappers(libraries)  # their pages stay cached: this start maps more than after a boot
    still_cached = cached_mb(libraries)  # what the drop left: pages mapped by running processes (this one's too)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=checkout_env())
    except subprocess.TimeoutExpired:
        return {"error": f"edge run ({name} start) did not finish {frames} frames within {timeout_s:.0f} s"}
    summary = _summary(folder / f"out-{name}")
    if proc.returncode != 0 or summary is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
        return {"error": f"edge run ({name} start) exited {proc.returncode}: {' | '.join(tail)}"[:400]}
    infer = (summary.get("stages") or {}).get("infer") or {}
    ahead = (summary.get("inference") or {}).get("compile_ahead") or {}
    return {
        "other_mappers": mappers,
        "libraries_cached_after_drop_mb": still_cached,
        "compile_child_peak_mb": ahead.get("peak_mb"),  # None: no child compiled (the model was in the cache)
        "rss_peak_mb": summary.get("rss_peak_mb"),
        "rss_end_mb": summary.get("rss_mb"),
        "rss_anon_end_mb": summary.get("rss_anon_mb"),
        "rss_file_end_mb": summary.get("rss_file_mb"),
        "frames": (summary.get("source") or {}).get("frames"),
        "infer_fps": infer.get("fps"),
    }


def _summary(out_dir: Path) -> Optional[dict[str, Any]]:
    found = sorted(out_dir.glob("runs/*/summary.json"))
    return json.loads(found[-1].read_text(encoding="utf-8")) if found else None
