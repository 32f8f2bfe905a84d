"""`edge bench BUNDLE`: is the pipeline as fast as the model? Figures printed, never asserted.

Measured with the same compiled model (same device, precision, number of infer requests):
1. single-inference latency: one synchronous request at a time;
2. raw async inference FPS: the same blob submitted back to back with n_requests in flight;
3. pipeline FPS: the daemon's full pipeline (capture with JPEG decode -> preprocess -> async infer ->
   postprocess/overlay/preview encode -> save) on a file or a synthetic JPEG stream, dropping nothing,
   with the saving policy of the default config (`save:` defaults: frames whose crack ratio reaches
   min_crack_ratio are written, fsynced, to a temporary run folder) and a watched preview at the
   default preview.max_fps; the goal is pipeline FPS >= 0.95 x raw async FPS; plus the per-step
   host cost breakdown (edge.breakdown) per frame and as a share of the frame budget (1 / raw FPS);
4. end-to-end latency: the same pipeline fed as a live camera at half the pipeline FPS, from capture
   to postprocessed frame, compared with the single-inference latency;
5. resident memory (RSS, VmHWM) of this process while the pipeline runs (an upper bound: it also
   holds the test frames, a synchronous request and every round's results);
6. the daemon's own peak resident memory: `edge run` on the same bundle and settings, replaying the
   frames from files (bench_daemon.py); skipped with --no-daemon.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from crackedge.machine import cpu_label, machine_info
from crackedge.process_memory import rss_mb
from crackedge.runtime.async_runner import AsyncRunner
from crackedge.runtime.backends import create_backend
from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.preprocess import Preprocessor
from crackedge.timing import summarize
from edge.breakdown import STEPS, StepCosts
from edge.capture import CaptureOptions
from edge.config import DiskConfig, ModelConfig, PreviewConfig, SaveConfig
from edge.diskguard import DiskGuard, make_run_dir
from edge.frames import Capture, Result
from edge.measure import Measurer
from edge.memory import lean_int8_isa_for
from edge.metrics import Metrics
from edge.pipeline import Pipeline, PipelineOptions
from edge.preview import FrameHub
from edge.saver import FrameSaver
from edge.sources.base import Source, SourceEnded
from edge.sources.jpegframes import JpegFrameMaker
from edge.watchdog import HeartbeatRegistry

log = logging.getLogger(__name__)


@dataclass
class BenchOptions:
    bundle: Path
    device: str = "CPU"
    precision: str = "bundle"
    model: str = "auto"
    source: Optional[Path] = None
    frames: int = 200
    frame_size: tuple[int, int] = (1280, 720)
    num_requests: Optional[int] = None
    json_out: Optional[Path] = None
    rounds: int = 2
    daemon: bool = True  # step 6: measure `edge run`'s memory in a child process
    performance_hint: str = "THROUGHPUT"  # model.performance_hint (LATENCY: one stream, less memory)
    cpu_snippets: bool = False  # model.cpu_snippets (the CPU plugin's element-wise JIT; more memory)
    compile_ahead: bool = True  # model.compile_ahead (the daemon's first start: the model compiled by a child process)
    input_tensor: str = "u8"  # model.input_tensor (u8: normalised inside the model, the daemon's default)
    save: bool = True  # False: the pipeline rounds save nothing (only the per-frame host path is measured)
    daemon_only: bool = False  # only step 6 (the daemon's memory)


class MemoryJpegSource(Source):
    """Cycles through in-memory JPEGs `count` times in total, optionally paced (a fake camera)."""

    kind = "synthetic"

    def __init__(self, jpegs: list[bytes], model_wh: tuple[int, int], count: int, rate_fps: Optional[float] = None) -> None:
        super().__init__(model_wh)
        self.jpegs, self.count = jpegs, count
        self.period = 1.0 / rate_fps if rate_fps else 0.0
        self.maker = JpegFrameMaker(model_wh)
        self._i = 0
        self._next = 0.0

    def open(self) -> None:
        self._next = time.monotonic()

    def read(self) -> Capture:
        if self._i >= self.count:
            raise SourceEnded
        if self.period:
            now = time.monotonic()
            if self._next > now:
                time.sleep(self._next - now)
            self._next = max(now, self._next) + self.period
        data = self.jpegs[self._i % len(self.jpegs)]
        self._i += 1
        return self.maker.make(data)

    def close(self) -> None:
        pass


def synthetic_jpegs(size_wh: tuple[int, int], n: int = 6) -> list[bytes]:
    """`n` synthetic road images with cracks (crackedge.synth) encoded as q85 JPEG."""
    from crackedge.fileio import encode_image
    from crackedge.synth import generate_sample

    w, h = size_wh
    return [encode_image(generate_sample(1000 + i, size=(h, w))[0], ".jpg", jpeg_quality=85) for i in range(n)]


def file_jpegs(path: Path, limit: int = 50) -> list[bytes]:
    """JPEG bytes of the images in a folder, or of the first frames of a video (re-encoded q85)."""
    import cv2

    from crackedge.errors import DataError
    from crackedge.fileio import encode_image

    path = Path(path)
    out: list[bytes] = []
    if path.is_dir():
        for p in sorted(path.iterdir()):
            if p.suffix.lower() in (".jpg", ".jpeg"):
                out.append(p.read_bytes())
            elif p.suffix.lower() in (".png", ".bmp"):
                img = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if img is not None:
                    out.append(encode_image(img, ".jpg", jpeg_quality=85, rgb=False))
            if len(out) >= limit:
                break
    elif path.is_file():
        cap = cv2.VideoCapture(str(path))
        while len(out) < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            out.append(encode_image(bgr, ".jpg", jpeg_quality=85, rgb=False))
        cap.release()
    if not out:
        raise DataError(f"--source {path}: no images or video frames found")
    return out


def raw_async_fps(backend: Any, blob: np.ndarray, n: int, skip: int) -> float:
    """Throughput of the device alone: `n` requests back to back, n_requests in flight; measured on
    result times after the first `skip`, like the pipeline figure."""
    runner = AsyncRunner(backend)
    abort = threading.Event()
    stamps: list[float] = []

    def consume() -> None:
        while True:
            r = runner.next_result(60.0)
            if r is None or r[0] == "end":
                return
            stamps.append(time.monotonic())

    th = threading.Thread(target=consume, name="bench-consume", daemon=True)
    th.start()
    for _ in range(n):
        runner.submit(blob, None, abort)
    runner.finish()
    th.join(600)
    steady = stamps[skip:]
    return (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) >= 2 else float("nan")


def run_pipeline(backend: Any, bundle: Any, source: Source, live: bool, out_dir: Path,
                 steps: Optional[StepCosts] = None, save_enabled: bool = True) -> dict[str, Any]:
    """Run the daemon's pipeline on `source` until it ends, saving into a new run folder under `out_dir`
    with the default config's saving policy; per-frame result times, stage metrics, saved counts."""
    metrics = Metrics()
    results: list[tuple[float, float]] = []  # (t_done_mono, capture t_mono)

    def on_result(r: Result) -> None:
        results.append((r.t_done_mono, r.frame.capture.t_mono))

    save, disk, preview = SaveConfig(out_dir=out_dir), DiskConfig(), PreviewConfig()
    run_dir = make_run_dir(out_dir)
    guard = DiskGuard(out_dir, run_dir, disk.min_free_mb, disk.policy, disk.check_interval_s, metrics.disk,
                      resume_margin_mb=disk.resume_margin_mb)
    guard.check()
    saver = FrameSaver(run_dir, guard, metrics.saved, {"student": bundle.meta.student}, save.save_raw, save.fsync,
                       bundle.meta.threshold)
    opts = PipelineOptions(queue_size=2, live=live, capture=CaptureOptions(0.1, 1.0, 10.0),
                           save_enabled=save.enabled and save_enabled,
                           min_crack_ratio=save.min_crack_ratio, every_nth=save.every_nth, preview_width=preview.width)
    pipe = Pipeline(
        source, backend, Preprocessor(bundle.meta.input, backend.input_tensor),
        MaskDecoder(bundle.meta.output, bundle.meta.threshold),
        Measurer(None), metrics, HeartbeatRegistry(), opts, saver=saver, hub=FrameHub(preview.max_fps, always=True),
        on_result=on_result, steps=steps,
    )
    peak = [0.0]
    stop_sampling = threading.Event()

    def sample_rss() -> None:
        while not stop_sampling.wait(0.2):
            peak[0] = max(peak[0], rss_mb() or 0.0)

    sampler = threading.Thread(target=sample_rss, name="bench-rss", daemon=True)
    sampler.start()
    pipe.start()
    pipe.finished.wait(600)
    stop_sampling.set()
    sampler.join()
    snap = metrics.snapshot(decay=False)
    return {"results": results, "metrics": snap, "rss_mb_peak": peak[0], "saved": snap["saved"]}


def _steady_fps(results: list[tuple[float, float]], skip: int) -> float:
    times = sorted(t for t, _ in results)[skip:]
    if len(times) < 2:
        return float("nan")
    return (len(times) - 1) / (times[-1] - times[0])


def _daemon_model(opts: BenchOptions) -> dict[str, Any]:
    """The daemon config's `model:` settings (besides the bundle) these options stand for."""
    return {"device": opts.device, "precision": opts.precision, "model": opts.model, "num_requests": opts.num_requests,
            "performance_hint": opts.performance_hint, "cpu_snippets": opts.cpu_snippets,
            "input_tensor": opts.input_tensor, "compile_ahead": opts.compile_ahead}


def run_daemon_memory(opts: BenchOptions) -> dict[str, Any]:
    """Step 6 alone: the peak resident memory of `edge run` on the bundle with these model settings."""
    from edge.bench_daemon import daemon_memory

    bundle = load_bundle(opts.bundle)
    jpegs = file_jpegs(opts.source) if opts.source else synthetic_jpegs(opts.frame_size)
    model = _daemon_model(opts)
    report = {"bundle": str(opts.bundle), "student": bundle.meta.student, "model": model,
              "input": [bundle.meta.input.width, bundle.meta.input.height],
              "daemon": daemon_memory(opts.bundle, jpegs, model), "machine": machine_info()}
    print(f"edge bench (daemon memory only): {bundle.meta.student}, {model}")
    print(_daemon_line(report["daemon"]))
    if opts.json_out is not None:
        from crackedge.fileio import atomic_write_text

        atomic_write_text(opts.json_out, json.dumps(report, indent=1, default=str))
    return report


def run_bench(opts: BenchOptions) -> dict[str, Any]:
    if opts.daemon_only:
        return run_daemon_memory(opts)
    bundle = load_bundle(opts.bundle)
    mcfg = ModelConfig(bundle=opts.bundle, device=opts.device, precision=opts.precision, model=opts.model,
                       num_requests=opts.num_requests, performance_hint=opts.performance_hint,
                       cpu_snippets=opts.cpu_snippets, input_tensor=opts.input_tensor)
    lean_int8_isa_for(mcfg, bundle)  # the daemon's memory settings for this model, as `edge run` sets them
    backend, key = create_backend(mcfg, bundle)
    jpegs = file_jpegs(opts.source) if opts.source else synthetic_jpegs(opts.frame_size)
    maker = JpegFrameMaker(bundle.input_wh)
    blob = Preprocessor(bundle.meta.input, backend.input_tensor)(maker.make(jpegs[0]).image)

    # 1. single-inference latency, 2. raw async throughput
    for _ in range(3):
        backend.infer(blob)
    samples = []
    for _ in range(max(10, min(50, opts.frames // 4))):
        t = time.perf_counter()
        backend.infer(blob)
        samples.append(time.perf_counter() - t)
    single = summarize(samples)
    # raw and pipeline throughput measured in alternating rounds, so that load from other processes
    # on a shared machine hits both alike; the medians are reported
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    raw_runs, pipe_runs, saved_runs = [], [], []
    steps = StepCosts()  # summed over the throughput rounds
    with tempfile.TemporaryDirectory(prefix="edge-bench-save-") as tmp:
        for _ in range(max(1, opts.rounds)):
            skip = min(10, opts.frames // 10)
            raw_runs.append(raw_async_fps(backend, blob, opts.frames, skip))
            # 3. pipeline throughput (file semantics: drop nothing)
            thr = run_pipeline(backend, bundle, MemoryJpegSource(jpegs, bundle.input_wh, opts.frames), live=False,
                               out_dir=Path(tmp), steps=steps, save_enabled=opts.save)
            pipe_runs.append(_steady_fps(thr["results"], skip))
            saved_runs.append(thr["saved"])
        raw_fps = float(np.median(raw_runs))
        pipe_fps = float(np.median(pipe_runs))
        stages = thr["metrics"]["stages"]

        # 4. end-to-end latency at half the pipeline rate, as a live camera
        rate = max(1.0, min(30.0, 0.5 * pipe_fps if pipe_fps == pipe_fps else 5.0))
        n_lat = max(20, min(opts.frames // 2, int(rate * 10)))
        lat = run_pipeline(backend, bundle, MemoryJpegSource(jpegs, bundle.input_wh, n_lat, rate_fps=rate),
                           live=True, out_dir=Path(tmp), save_enabled=opts.save)
    e2e = summarize([done - cap for done, cap in lat["results"][3:]] or [float("nan")])
    breakdown = steps.snapshot(budget_ms=1000.0 / raw_fps if raw_fps and raw_fps == raw_fps else None)

    report = {
        "bundle": str(opts.bundle),
        "model_file": bundle.meta.models[key],
        "student": bundle.meta.student,
        "input": [bundle.meta.input.width, bundle.meta.input.height],
        "inference": backend.info,
        "source": str(opts.source) if opts.source else f"synthetic {opts.frame_size[0]}x{opts.frame_size[1]} JPEG q85",
        "frames": opts.frames,
        "saving": "default config policy (save.min_crack_ratio, save.every_nth)" if opts.save else "off",
        "single_inference_ms": single.to_dict(),
        "raw_async_fps": raw_fps,
        "pipeline_fps": pipe_fps,
        "raw_async_fps_rounds": raw_runs,
        "pipeline_fps_rounds": pipe_runs,
        "load_average_1min_before": load_before,
        "pipeline_vs_raw": pipe_fps / raw_fps if raw_fps else float("nan"),
        "stages": stages,
        "breakdown": breakdown,
        "saved_throughput_runs": [{k: s.get(k, 0) for k in ("frames", "skipped_threshold", "skipped_disk", "write_errors")}
                                  for s in saved_runs],
        "drops_throughput_run": thr["metrics"]["drops"],
        "latency_run": {"rate_fps": rate, "frames": n_lat, "drops": lat["metrics"]["drops"]},
        "end_to_end_ms": e2e.to_dict(),
        "end_to_end_vs_single": e2e.median_ms / single.median_ms if single.median_ms else float("nan"),
        "rss_mb": rss_mb(),
        "rss_mb_peak_during_pipeline": max(thr["rss_mb_peak"], lat["rss_mb_peak"]),
        "vm_hwm_mb": rss_mb("VmHWM"),
        "machine": machine_info(),
    }
    backend.close()
    if opts.daemon:
        from edge.bench_daemon import daemon_memory

        report["daemon"] = daemon_memory(opts.bundle, jpegs, _daemon_model(opts))
    print(format_report(report))
    if opts.json_out is not None:
        from crackedge.fileio import atomic_write_text

        atomic_write_text(opts.json_out, json.dumps(report, indent=1, default=str))
    return report


def _daemon_line(d: Optional[dict[str, Any]]) -> str:
    if d is None:
        return "  daemon memory              not measured (--no-daemon)"
    if "error" in d:
        return f"  daemon memory              not measured: {d['error']}"
    line = (f"  daemon memory              {d['rss_peak_mb']:8.1f} MB RSS peak of `edge run` ({d['frames']} frames, "
            f"infer {d['infer_fps']} FPS; {d['settings']})")
    if d.get("other_mappers"):
        line += ("\n  WARNING                     other processes mapped the daemon's libraries when it started, so it "
                 f"mapped more of them than after a boot: {'; '.join(d['other_mappers'][:5])}")
    if d.get("libraries_cached_after_drop_mb") is not None:
        line += (f"\n  libraries still cached      {d['libraries_cached_after_drop_mb']:8.1f} MB of the daemon's libraries in the "
                 "page cache after the drop, before the first start (pages running processes map, this benchmark's too)")
    if d.get("compile_child_peak_mb") is not None:
        line += (f"\n  compiling child process     {d['compile_child_peak_mb']:8.1f} MB RSS peak of the child that compiled "
                 "the model into the cache before the first start imported it (model.compile_ahead)")
    if d.get("rss_anon_end_mb") is not None and d.get("rss_file_end_mb") is not None:
        line += (f"\n  daemon memory at the end    {d['rss_end_mb']:8.1f} MB RSS = {d['rss_anon_end_mb']:.1f} MB own (RssAnon) "
                 f"+ {d['rss_file_end_mb']:.1f} MB mapped files (RssFile)")
    if d.get("rss_peak_warm_mb") is not None:
        line += (f"\n  daemon memory, warm cache   {d['rss_peak_warm_mb']:8.1f} MB RSS peak of the start from the compiled-model "
                 f"cache (infer {d['infer_fps_warm']} FPS)")
    elif d.get("error_warm"):
        line += f"\n  daemon memory, warm cache  not measured: {d['error_warm']}"
    return line


def format_report(r: dict[str, Any]) -> str:
    inf = r["inference"]
    cpu = cpu_label(r["machine"])
    lines = [
        f"edge bench: {r['student']} ({r['model_file']}, input {r['input'][0]}x{r['input'][1]}) on {inf.get('device')} "
        f"[{inf.get('precision')}, {inf.get('requests')} requests, OpenVINO {inf.get('version')}]",
        f"source: {r['source']}; {r['frames']} frames; saving {r.get('saving', '?')}; machine: {cpu} ({r['machine']['usable_cores']} cores, "
        f"load average {r['load_average_1min_before']})",
        "",
        f"  single inference latency   {r['single_inference_ms']['median_ms']:8.2f} ms (median; p90 {r['single_inference_ms']['p90_ms']:.2f})",
        f"  raw async inference        {r['raw_async_fps']:8.2f} FPS  (rounds: {', '.join(f'{v:.2f}' for v in r['raw_async_fps_rounds'])})",
        f"  pipeline                   {r['pipeline_fps']:8.2f} FPS  (rounds: {', '.join(f'{v:.2f}' for v in r['pipeline_fps_rounds'])})"
        f" = {r['pipeline_vs_raw']:.2f} x raw (goal >= 0.95)",
        f"  end-to-end latency         {r['end_to_end_ms']['median_ms']:8.2f} ms (median at {r['latency_run']['rate_fps']:.1f} FPS input; "
        f"p90 {r['end_to_end_ms']['p90_ms']:.2f}) = {r['end_to_end_vs_single']:.2f} x single inference",
        f"  memory                     {r['rss_mb_peak_during_pipeline']:8.1f} MB RSS peak of this benchmark while running (VmHWM {r['vm_hwm_mb']} MB)",
        _daemon_line(r.get("daemon")),
        "",
        "  per stage (throughput run): fps / mean ms / p95 ms",
    ]
    for name, s in r["stages"].items():
        lines.append(f"    {name:14s} {s['fps']:8.2f} {s['latency_ms_mean'] or 0:8.2f} {s['latency_ms_p95'] or 0:8.2f}")
    lines += ["", *format_breakdown(r.get("breakdown"), r.get("saved_throughput_runs"))]
    return "\n".join(lines)


def format_breakdown(b: Optional[dict[str, Any]], saved: Optional[list[dict[str, Any]]] = None) -> list[str]:
    """The per-step host cost table of the throughput rounds (edge.breakdown)."""
    if not b or not b.get("frames"):
        return ["  per step: not measured"]
    budget = b.get("budget_ms")
    lines = [f"  per step (throughput rounds, {b['frames']} frames; frame budget {budget or float('nan'):.2f} ms = 1 / raw FPS):",
             f"    {'step':11s} {'CPU ms/frame':>12s} {'wall ms/frame':>13s} {'runs':>6s} {'CPU ms/run':>10s} {'of budget':>9s}"]
    for name in STEPS:
        s = b["steps"][name]
        share = s["share_of_budget"]
        lines.append(f"    {name:11s} {s['cpu_ms_per_frame'] or 0:12.3f} {s['wall_ms_per_frame'] or 0:13.3f} {s['runs']:6d} "
                     f"{s['cpu_ms_per_run'] or 0:10.3f} {'' if share is None else f'{100 * share:8.1f}%':>9s}")
    share = b.get("host_share_of_budget")
    lines.append(f"    {'host total':11s} {b['host_cpu_ms_per_frame'] or 0:12.3f} {'':13s} {'':6s} {'':10s} "
                 f"{'' if share is None else f'{100 * share:8.1f}%':>9s}   (every step but wait)")
    if saved:
        lines.append("    saved frames per round: " + ", ".join(f"{s['frames']} (below threshold {s['skipped_threshold']})" for s in saved))
    return lines
