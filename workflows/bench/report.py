"""`crackedge bench-report`: measure the report's sections, cache them as JSON, draw the plots, write BENCHMARKS.md.

    inference   every student at 448x448: torch eager, ONNX Runtime, OpenVINO FP16-IR (f32 and the CPU
                default), INT8 IR; latency, async throughput, params, GFLOPs        (inference.py)
    teachers    SAM ViT-B/L/H image encoders and PARNet at 448, torch eager      (teachers.py)
    edge        JPEG decode cost; `edge bench` per bundle: pipeline vs raw FPS, latency, RSS (pipeline.py)
    distill     per-step cost of distillation, read from `distill bench-steps` JSON (distill_cost.py)
    accuracy    teacher / distilled student / student alone over several seeds, read from `distill compare` (accuracy.py)
    soak        the 30-minute `edge soak` report in OUT/results/edge_soak.json (render_soak.py)
    serve       bundles under Triton beside benchmark_app, OUT/results/serve.json written by
                `python -m workflows.serve.bench` (render_serve.py)

Each section's result is saved as OUT/results/<section>.json with the machine, date and duration,
so the markdown can be re-rendered without measuring (`--render-only`) and one section measured
again on its own (`--only edge`). soak and serve are never measured here (30 minutes; Triton):
their own commands write their JSON into OUT/results/ (or `--soak-json FILE` / `--serve-json FILE`
copy one in) and `--only soak` / `--only serve` renders it. `--quick` is a smoke run (tiny sizes, one
student, a fraction of a second per measurement) written to runs/bench-quick/ unless told otherwise,
labelled QUICK.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from crackedge.errors import ConfigError
from workflows.bench.results import EXTERNAL, SECTIONS, load_all, load_section, read_external, save_section
from workflows.bench.sections import HOW_TO_MEASURE

log = logging.getLogger(__name__)

QUICK_STUDENT = "mobilenetv3_large_100"
DEFAULT_EDGE_STUDENTS = ("hrnet_w18", "mobilenetv3_large_100")


@dataclass
class ReportOptions:
    out_dir: Optional[Path] = None  # results/ and the PNGs; default benchmarks/ (quick: runs/bench-quick/)
    markdown: Optional[Path] = None  # default BENCHMARKS.md (quick: OUT/BENCHMARKS.md)
    work_dir: Optional[Path] = None  # random-weight checkpoints and bundles; default runs/bench-report[-quick]/work
    only: tuple[str, ...] = ()  # sections to measure; empty = all
    render_only: bool = False
    quick: bool = False
    compare: Optional[Path] = None  # a `distill compare` output folder
    more_compare: tuple[Path, ...] = ()  # further `distill compare` folders, one subsection each (no figure)
    bench_steps: Optional[Path] = None  # a `distill bench-steps` JSON
    soak_json: Optional[Path] = None  # an `edge soak --json` report, copied to OUT/results/edge_soak.json
    serve_json: Optional[Path] = None  # a `python -m workflows.serve.bench` JSON, copied to OUT/results/serve.json
    bundles: list[Path] = field(default_factory=list)  # bundles for the edge section (default: the inference ones)
    device: str = "CPU"
    students: Optional[list[str]] = None
    edge_students: tuple[str, ...] = DEFAULT_EDGE_STUDENTS
    size: int = 448
    threads: Optional[int] = None
    max_seconds: float = 8.0  # per latency / throughput measurement
    teacher_seconds: float = 20.0  # per teacher
    calib_data: Optional[Path] = None
    edge_frames: int = 200
    edge_rounds: int = 2
    edge_precision: str = "auto"  # model.precision of the edge runs (auto: what the daemon runs by default)

    def resolved(self) -> "ReportOptions":
        """A copy with the default paths filled in and the quick settings applied."""
        from dataclasses import replace

        base = Path("runs/bench-quick") if self.quick else Path("benchmarks")
        out = Path(self.out_dir) if self.out_dir else base
        opts = replace(
            self, out_dir=out,
            markdown=Path(self.markdown) if self.markdown else (out / "BENCHMARKS.md" if self.quick else Path("BENCHMARKS.md")),
            work_dir=Path(self.work_dir) if self.work_dir else Path("runs/bench-quick/work" if self.quick else "runs/bench-report/work"),
        )
        if self.quick:
            opts = replace(opts, students=self.students or [QUICK_STUDENT], edge_students=tuple(self.students or [QUICK_STUDENT]),
                           size=64, max_seconds=0.3, teacher_seconds=0.3, edge_frames=30, edge_rounds=1)
        bad = [s for s in opts.only if s not in SECTIONS]
        if bad:
            raise ConfigError(f"--only: unknown section(s) {bad}; valid: {', '.join(SECTIONS)}")
        if opts.size % 32:
            raise ConfigError(f"--size {opts.size} must be a multiple of 32 (the students' total stride)")
        return opts


def estimate_full_minutes(n_students: int = 4, n_teachers: int = 4, n_edge: int = 2, max_seconds: float = 8.0,
                          teacher_seconds: float = 20.0) -> float:
    """A rough plan of the full run on a 2-core CPU: export (~90 s per student incl. NNCF) + 11 capped
    measurements per student, teachers (build + one counted forward + the capped timing), `edge bench`
    (~150 s per bundle at 200 frames x 2 rounds), decode (~20 s). Slow models exceed their cap by their
    minimum number of runs, so this is a lower bound for resnet50 and ViT-H."""
    students = n_students * (90 + 11 * (max_seconds + 2))
    teachers = n_teachers * (teacher_seconds + 25)
    return (students + teachers + n_edge * 150 + 20) / 60.0


# ---------------------------------------------------------------- measuring


def _measure_inference(opts: ReportOptions) -> dict[str, Any]:
    from workflows.bench.inference import InferenceOptions, inference_section

    return inference_section(InferenceOptions(
        students=opts.students, size=opts.size, device=opts.device, threads=opts.threads, max_seconds=opts.max_seconds,
        calib_images=2 if opts.quick else 10, parity_images=2 if opts.quick else 4, calib_data=opts.calib_data,
        work_dir=Path(opts.work_dir)))


def _measure_teachers(opts: ReportOptions) -> dict[str, Any]:
    from workflows.bench.teachers import (
        FULL_TEACHERS,
        QUICK_TEACHERS,
        TeacherOptions,
        teacher_section,
    )

    return teacher_section(TeacherOptions(teachers=QUICK_TEACHERS if opts.quick else FULL_TEACHERS, size=opts.size,
                                          threads=opts.threads, max_seconds=opts.teacher_seconds,
                                          min_repeats=1 if opts.quick else 2))


def edge_bundles(opts: ReportOptions, inference: Optional[dict[str, Any]]) -> list[Path]:
    """The bundles the edge section benchmarks: --bundle, else the inference section's for `edge_students`."""
    if opts.bundles:
        missing = [str(b) for b in opts.bundles if not (Path(b) / "metadata.yaml").is_file()]
        if missing:
            raise ConfigError(f"--bundle: no metadata.yaml in {', '.join(missing)} (pass folders written by `distill export`)")
        return [Path(b) for b in opts.bundles]
    found = []
    for s in (inference or {}).get("students", []):
        bundle = s.get("bundle")
        if s["student"] in opts.edge_students and bundle and (Path(bundle) / "metadata.yaml").is_file():
            found.append(Path(bundle))
    if not found:
        log.warning("edge: no bundle to benchmark (measure the inference section first or pass --bundle DIR); "
                    "measuring the decode cost only")
    return found


def _measure_edge(opts: ReportOptions, inference: Optional[dict[str, Any]]) -> dict[str, Any]:
    from workflows.bench.pipeline import EdgeOptions, edge_section

    return edge_section(EdgeOptions(bundles=edge_bundles(opts, inference), device=opts.device, frames=opts.edge_frames,
                                    rounds=opts.edge_rounds, precision=opts.edge_precision,
                                    decode_seconds=0.3 if opts.quick else 1.5))


def _measure_distill(opts: ReportOptions) -> dict[str, Any]:
    from workflows.bench.distill_cost import distill_cost_section

    return distill_cost_section(Path(opts.bench_steps))


def _measure_accuracy(opts: ReportOptions, cached: Optional[dict[str, Any]]) -> dict[str, Any]:
    from workflows.bench.accuracy import accuracy_section, keep_notes

    section = accuracy_section(Path(opts.compare), Path(opts.out_dir) / "accuracy_masks.png")
    if opts.more_compare:
        section["more"] = [accuracy_section(Path(d)) for d in opts.more_compare]
    keep_notes([section, *section.get("more", [])], cached)
    return section


def _envelope(opts: ReportOptions, started: str, seconds: float) -> dict[str, Any]:
    from crackedge.machine import machine_info

    return {"quick": opts.quick, "started": started, "duration_s": round(seconds, 1), "machine": machine_info()}


def _sections_to_measure(opts: ReportOptions) -> list[str]:
    if opts.render_only:
        return []
    wanted = [s for s in (list(opts.only) or list(SECTIONS)) if s not in EXTERNAL]
    explicit = bool(opts.only)
    for name, given, flag in (("distill", opts.bench_steps, "--bench-steps FILE"), ("accuracy", opts.compare, "--compare DIR")):
        if name in wanted and given is None:
            if explicit:
                raise ConfigError(f"--only {name} reads its figures from another command's output: pass {flag}")
            log.info("%s: nothing to read (no %s); keeping the cached result, if any", name, flag)
            wanted.remove(name)
    return wanted


WHY = {"soak": "it runs for 30 minutes", "serve": "it needs Triton and minutes per bundle"}


def read_external_sections(opts: ReportOptions, results_dir: Path) -> None:
    """soak and serve: copy --soak-json / --serve-json into the results; else say which command writes the file.
    ConfigError for `--only soak|serve` without a file to read."""
    if opts.render_only:
        return
    for name, given in (("soak", opts.soak_json), ("serve", opts.serve_json)):
        path = results_dir / EXTERNAL[name][0]
        if given is not None:
            if name not in (opts.only or SECTIONS):
                raise ConfigError(f"--{name}-json is read by the {name} section, which --only {','.join(opts.only)} leaves out")
            save_section(results_dir, name, read_external(Path(given), name))
            log.info("=== %s: read %s -> %s", name, given, path)
        elif name in opts.only and not path.is_file():
            raise ConfigError(f"--only {name}: no {path}. bench-report does not measure this section ({WHY[name]}); "
                              f"its own command writes that file: `{HOW_TO_MEASURE[name].split(' && ')[0]}` (with its "
                              f"--json at {path}), or pass --{name}-json FILE")
        elif name in (opts.only or SECTIONS):
            log.info("%s: not measured here; rendering %s (%s), written by `%s`", name, path,
                     "present" if path.is_file() else "absent", HOW_TO_MEASURE[name].split(" && ")[0])


def measure_sections(opts: ReportOptions) -> dict[str, Optional[dict[str, Any]]]:
    """Measure the sections `opts` asks for, save each as JSON; return every section's (new or cached) result."""
    results_dir = Path(opts.out_dir) / "results"
    read_external_sections(opts, results_dir)
    results = load_all(results_dir)
    measurers: dict[str, Callable[[], dict[str, Any]]] = {
        "inference": lambda: _measure_inference(opts),
        "teachers": lambda: _measure_teachers(opts),
        "edge": lambda: _measure_edge(opts, results.get("inference")),
        "distill": lambda: _measure_distill(opts),
        "accuracy": lambda: _measure_accuracy(opts, results.get("accuracy")),
    }
    for name in _sections_to_measure(opts):
        started = _dt.datetime.now().isoformat(timespec="minutes")
        log.info("=== %s: measuring%s", name, " (QUICK)" if opts.quick else "")
        t0 = time.perf_counter()
        data = measurers[name]()
        seconds = time.perf_counter() - t0
        record = {**_envelope(opts, started, seconds), **data}
        path = save_section(results_dir, name, record)
        results[name] = load_section(results_dir, name)
        log.info("=== %s: done in %.1f min -> %s", name, seconds / 60, path)
    return results


# ---------------------------------------------------------------- rendering


def draw_plots(results: dict[str, Optional[dict[str, Any]]], out_dir: Path, markdown: Path) -> dict[str, str]:
    """Every plot the results allow, as {name: path relative to the markdown file's folder}."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log.warning("matplotlib is not installed: BENCHMARKS.md is written without plots (pip install matplotlib)")
        return {}
    from workflows.bench import plots as P

    out_dir = Path(out_dir)
    made = {
        "inference": P.plot_inference(results.get("inference"), out_dir / "inference.png"),
        "scale": P.plot_scale(results.get("inference"), results.get("teachers"), out_dir / "scale.png"),
        "decode": P.plot_decode(results.get("edge"), out_dir / "decode.png"),
        "distill": P.plot_distill(results.get("distill"), out_dir / "distill_steps.png"),
        "accuracy": P.plot_accuracy(results.get("accuracy"), out_dir / "accuracy.png"),
    }
    masks = ((results.get("accuracy") or {}).get("figure") or {}).get("path")
    if masks and Path(masks).is_file():
        made["accuracy_masks"] = Path(masks)
    base = Path(markdown).resolve().parent
    return {k: os.path.relpath(Path(v).resolve(), base) for k, v in made.items() if v is not None}


def _full_minutes(results: dict[str, Optional[dict[str, Any]]], opts: ReportOptions) -> float:
    """Minutes of the last full run of the measured sections, else the plan."""
    full = [r for name, r in results.items() if r and not r.get("quick") and name in ("inference", "teachers", "edge")]
    if len(full) == 3:
        return sum(r.get("duration_s") or 0 for r in full) / 60.0
    return estimate_full_minutes(max_seconds=8.0, teacher_seconds=20.0)


def render(opts: ReportOptions, results: dict[str, Optional[dict[str, Any]]]) -> Path:
    from crackedge.fileio import atomic_write_text
    from workflows.bench.render import render_report

    plots = draw_plots(results, Path(opts.out_dir), Path(opts.markdown))
    text = render_report(results, plots, _full_minutes(results, opts))
    Path(opts.markdown).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(opts.markdown), text)
    return Path(opts.markdown)


def run_report(opts: ReportOptions) -> Path:
    """Measure what `opts` asks for, then render BENCHMARKS.md and its plots; returns the markdown path."""
    opts = opts.resolved()
    t0 = time.perf_counter()
    results = measure_sections(opts)
    path = render(opts, results)
    log.info("benchmark report written: %s (%.1f min)", path, (time.perf_counter() - t0) / 60)
    return path
