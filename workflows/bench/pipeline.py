"""Report section `edge`: how much of the model's speed the vehicle pipeline keeps (torch-free).

For each bundle, `edge bench` runs in its own process (no torch): single-inference latency, raw
async inference FPS, the daemon's full pipeline FPS on a synthetic 1280x720 JPEG stream (decode ->
preprocess -> async infer -> postprocess -> overlay/preview), the end-to-end latency fed as a live
camera, its own RSS, and the peak RSS of `edge run` itself on the same bundle (edge/bench_daemon.py).
Plus the JPEG decode cost of one 1280x720 frame, full and reduced-scale (decode.py).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from crackedge.child_env import checkout_env

log = logging.getLogger(__name__)

PIPELINE_GOAL = 0.95  # pipeline FPS / raw async inference FPS
KEEP_KEYS = ("bundle", "model_file", "student", "input", "inference", "source", "frames", "single_inference_ms",
             "raw_async_fps", "pipeline_fps", "raw_async_fps_rounds", "pipeline_fps_rounds", "load_average_1min_before",
             "pipeline_vs_raw", "stages", "drops_throughput_run", "latency_run", "end_to_end_ms", "end_to_end_vs_single",
             "rss_mb", "rss_mb_peak_during_pipeline", "vm_hwm_mb", "daemon", "breakdown", "saving",
             "saved_throughput_runs")


@dataclass
class EdgeOptions:
    bundles: list[Path] = field(default_factory=list)
    device: str = "CPU"
    precision: str = "auto"  # model.precision (auto: the daemon's default)
    frames: int = 200
    rounds: int = 2
    frame_wh: tuple[int, int] = (1280, 720)
    decode_seconds: float = 1.5
    timeout_s: float = 900.0
    memory_runs: bool = True  # daemon memory of MEMORY_GOAL_STUDENT's FP16 and INT8 IR, THROUGHPUT and LATENCY
    no_save_runs: bool = True  # each bundle again with saving off: the per-frame host path alone


#: (model key, performance hint, requests) of the daemon memory runs: the default, and one stream
MEMORY_RUNS = (("ir_fp16", "THROUGHPUT", None), ("ir_fp16", "LATENCY", 2), ("ir_int8", "THROUGHPUT", None),
               ("ir_int8", "LATENCY", 2))


def run_daemon_memory(bundle: Path, model: str, hint: str, requests: Optional[int], opts: EdgeOptions) -> dict[str, Any]:
    """`edge bench BUNDLE --daemon-only` in a child process: the peak RSS of `edge run` with these settings."""
    with tempfile.TemporaryDirectory(prefix="bench-edge-mem-") as tmp:
        out = Path(tmp) / "mem.json"
        cmd = [sys.executable, "-m", "edge", "bench", str(bundle), "--daemon-only", "--json", str(out), "--device",
               opts.device, "--precision", opts.precision, "--model", model, "--performance-hint", hint,
               "--width", str(opts.frame_wh[0]), "--height", str(opts.frame_wh[1])]
        if requests:
            cmd += ["--num-requests", str(requests)]
        log.info("edge: %s", " ".join(cmd[1:]))
        settings = f"{hint}, {requests or 'optimal number of'} requests"
        row = {"model": model, "settings": settings, "command": " ".join(["edge"] + cmd[3:5] + cmd[7:])}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=opts.timeout_s, env=checkout_env())
        except subprocess.TimeoutExpired:
            return {**row, "error": f"edge bench --daemon-only did not finish within {opts.timeout_s:.0f} s"}
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
            return {**row, "error": f"edge bench exited {proc.returncode}: {' | '.join(tail)}"[:400]}
        report = json.loads(out.read_text(encoding="utf-8"))
    daemon = report.get("daemon") or {}
    return {**row, "student": report.get("student"), "rss_peak_mb": daemon.get("rss_peak_mb"),
            "rss_peak_warm_mb": daemon.get("rss_peak_warm_mb"), "infer_fps": daemon.get("infer_fps"),
            "compile_child_peak_mb": daemon.get("compile_child_peak_mb"),
            "error": daemon.get("error") or daemon.get("error_warm")}


def run_edge_bench(bundle: Path, opts: EdgeOptions, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """`edge bench BUNDLE --json ... [extra]` in a child process; its figures, or {"error": ...} when it failed."""
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        out = Path(tmp) / "edge_bench.json"
        cmd = [sys.executable, "-m", "edge", "bench", str(bundle), "--json", str(out), "--device", opts.device,
               "--precision", opts.precision, "--frames", str(opts.frames), "--rounds", str(opts.rounds),
               "--width", str(opts.frame_wh[0]), "--height", str(opts.frame_wh[1]), *extra]
        log.info("edge: %s", " ".join(cmd[1:]))
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=opts.timeout_s, env=checkout_env())
        except subprocess.TimeoutExpired:
            return {"bundle": str(bundle), "error": f"edge bench did not finish within {opts.timeout_s:.0f} s"}
        seconds = round(time.perf_counter() - t0, 1)
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"bundle": str(bundle), "error": f"edge bench exited {proc.returncode}: {' | '.join(tail)}"[:500]}
        report = json.loads(out.read_text(encoding="utf-8"))
    for line in proc.stdout.strip().splitlines():
        log.info("edge: %s", line)
    result = {k: report.get(k) for k in KEEP_KEYS}
    result.update(seconds=seconds, command=" ".join(["edge"] + cmd[3:5] + cmd[7:]))
    return result


def edge_section(opts: EdgeOptions) -> dict[str, Any]:
    """The `edge` section: decode costs at `opts.frame_wh`, then `edge bench` on each bundle."""
    from crackedge.runtime.metadata import load_metadata
    from workflows.bench.decode import decode_costs

    model_wh = (448, 448)
    if opts.bundles:
        meta = load_metadata(opts.bundles[0])
        model_wh = (meta.input.width, meta.input.height)
    decode = decode_costs(opts.frame_wh, model_wh, max_seconds=opts.decode_seconds)
    benches = [run_edge_bench(Path(b), opts) for b in opts.bundles]
    no_save = [run_edge_bench(Path(b), opts, ("--no-save", "--no-daemon")) for b in opts.bundles] if opts.no_save_runs else []
    memory = []
    if opts.memory_runs:
        from crackedge.runtime.metadata import MODEL_IR_INT8
        from workflows.bench.sections import MEMORY_GOAL_STUDENT

        for b in opts.bundles:
            meta = load_metadata(b)
            if meta.student != MEMORY_GOAL_STUDENT:
                continue
            for model, hint, requests in MEMORY_RUNS:
                if model == MODEL_IR_INT8 and MODEL_IR_INT8 not in meta.models:
                    continue
                memory.append(run_daemon_memory(Path(b), model, hint, requests, opts))
    return {
        "setup": {"device": opts.device, "precision": opts.precision, "frames": opts.frames, "rounds": opts.rounds,
                  "frame": list(opts.frame_wh), "source": f"synthetic {opts.frame_wh[0]}x{opts.frame_wh[1]} JPEG q85",
                  "goal_pipeline_vs_raw": PIPELINE_GOAL},
        "decode": decode,
        "bundles": benches,
        "no_save": no_save,
        "memory": memory,
    }
