"""BENCHMARKS.md from the cached section results (no measuring here).

`render_report(results, plots, ...)` takes {section: result dict or None} as saved by results.py and
{plot name: path relative to the markdown file}; a section without results renders as
"not measured: run ...". Goals (speed, daemon memory) get a PASS/MISS column; they are reported, never asserted.
"""

from __future__ import annotations

from typing import Any, Optional

from crackedge.machine import cpu_label

from workflows.bench.markdown import fmt, not_measured, table, verdict
from workflows.bench.render_accuracy import accuracy_lines
from workflows.bench.render_edge import edge_lines, memory_goal_rows
from workflows.bench.render_serve import serve_lines
from workflows.bench.render_soak import soak_lines
from workflows.bench.results import EXTERNAL
from workflows.bench.sections import (CACHE_GOAL, CMD, HOW_TO_MEASURE, MEMORY_GOAL_MB, MEMORY_GOAL_STUDENT,
                                      PIPELINE_GOAL, SECTION_TITLES, daemon_rss, ms)


def _is_quick(results: dict[str, Optional[dict[str, Any]]]) -> bool:
    return any(r and r.get("quick") for r in results.values())


# ---------------------------------------------------------------- header, machine, goals


def _header(results: dict[str, Optional[dict[str, Any]]], full_budget_min: float) -> list[str]:
    lines = ["# crackedge benchmarks", ""]
    if _is_quick(results):
        lines += ["> **QUICK RUN** (`crackedge bench-report --quick`): tiny input sizes, one student, tiny teachers, "
                  "a fraction of a second per measurement. It checks that the report works end to end; "
                  "**its numbers mean nothing**.", ""]
    lines += [
        f"Regenerate: `{CMD}` (every section; about {full_budget_min:.0f} min on a quiet 2-core CPU, every "
        "measurement capped by time). Re-render from the cached results in `benchmarks/results/` without measuring: "
        f"`{CMD} --render-only`; measure one section again: `{CMD} --only SECTION` "
        "(inference, teachers, edge, distill, accuracy, soak, serve). Sections 3 and 4 read the output of "
        "`distill bench-steps` and `distill compare` (`--bench-steps FILE`, `--compare DIR`); sections 6 and 7 render "
        "the JSON that `edge soak` (30 minutes) and `python -m workflows.serve.bench` (needs Triton) write into "
        "`benchmarks/results/` (`--soak-json FILE`, `--serve-json FILE` copy one in).",
        "",
    ]
    return lines


def _machine(results: dict[str, Optional[dict[str, Any]]]) -> list[str]:
    results = {k: v for k, v in results.items() if k not in EXTERNAL}  # those carry their own machine and date
    measured = {k: v for k, v in results.items() if v}
    if not measured:
        return ["## Machine", "", "_no section measured yet_", ""]
    newest = max(measured.values(), key=lambda r: r.get("started") or "")
    m = newest.get("machine") or {}
    libs = m.get("libraries") or {}
    lines = [
        "## Machine",
        "",
        table(["", ""], [
            ["CPU", cpu_label(m) or None],
            ["cores (usable / logical)", f"{m.get('usable_cores')} / {m.get('logical_cores')}"],
            ["bf16 instructions", "yes" if m.get("bf16_cpu") else "no"],
            ["memory", f"{m.get('memory_gb')} GB"],
            ["OS", m.get("os")],
            ["Python", m.get("python")],
            ["versions", ", ".join(f"{k} {v}" for k, v in libs.items())],
        ]),
        "",
        table(["section", "measured", "duration", "run", "CPU"], [
            [SECTION_TITLES[k], (v or {}).get("started", "not measured"),
             f"{v['duration_s'] / 60:.1f} min" if v and v.get("duration_s") is not None else None,
             ("quick" if v.get("quick") else "full") if v else None, cpu_label((v or {}).get("machine") or {}) or None]
            for k, v in results.items()
        ]),
        "",
    ]
    return lines


def goal_rows(results: dict[str, Optional[dict[str, Any]]]) -> list[list[Any]]:
    """[goal, what, measured, PASS/MISS/–] rows: pipeline efficiency, daemon memory, distillation cost."""
    rows: list[list[Any]] = []
    edge = results.get("edge") or {}
    benches = [b for b in edge.get("bundles", []) if "error" not in b]
    for b in benches:
        what = f"{b.get('student')} ({(b.get('inference') or {}).get('precision')})"
        rows.append([f"pipeline FPS / raw async inference FPS >= {PIPELINE_GOAL}", what,
                     b.get("pipeline_vs_raw"), verdict(b.get("pipeline_vs_raw"), PIPELINE_GOAL, True)])
    if not benches:
        rows.append([f"pipeline FPS / raw async inference FPS >= {PIPELINE_GOAL}", "not measured", None, "–"])
    memory_goal = f"daemon resident memory, {MEMORY_GOAL_STUDENT} IR <= {MEMORY_GOAL_MB:.0f} MB"
    measured = [b for b in benches if b.get("student") == MEMORY_GOAL_STUDENT and daemon_rss(b) is not None]
    for b in measured:
        what = f"{b.get('student')} ({(b.get('inference') or {}).get('precision')}, edge run)"
        rows.append([memory_goal, what, daemon_rss(b), verdict(daemon_rss(b), MEMORY_GOAL_MB, False)])
    if not measured:
        rows.append([memory_goal, "not measured", None, "–"])
    rows += memory_goal_rows(edge, MEMORY_GOAL_MB)  # every IR and setting the edge section measured
    ratio = (results.get("distill") or {}).get("cache_vs_student_only")
    rows.append([f"distillation step with cached teacher <= {CACHE_GOAL} x student-only", "cwd-cache / student-only",
                 ratio, verdict(ratio, CACHE_GOAL, False)])
    return rows


def _goals(results: dict[str, Optional[dict[str, Any]]]) -> list[str]:
    return ["## Goals", "", table(["goal", "measured on", "value", "result"], goal_rows(results)),
            "", "Goals are reported here, never asserted in tests.", ""]


# ---------------------------------------------------------------- 1. inference


def _precision_label(row: dict[str, Any], default: Optional[str]) -> str:
    tags = []
    if row.get("default") and default:
        tags.append("CPU default")
    if row.get("declared"):
        tags.append("bundle declares")
    p = row.get("precision", "")
    return f"{p} ({', '.join(tags)})" if tags else p


def _torch_best(rows: list[dict[str, Any]]) -> tuple[Optional[float], str]:
    torch_rows = [r for r in rows if r["runtime"] == "torch eager" and "latency" in r]
    if not torch_rows:
        return None, "–"
    best = min(torch_rows, key=lambda r: r["latency"]["median_ms"])
    return best["latency"]["median_ms"], best["model"].replace("fp32 ", "")


def _find(rows: list[dict[str, Any]], model: str, precision: str) -> Optional[dict[str, Any]]:
    return next((r for r in rows if r["runtime"].startswith("OpenVINO") and r["model"] == model
                 and r.get("precision") == precision and "latency" in r), None)


def inference_summary_rows(section: dict[str, Any]) -> list[list[Any]]:
    """One row per student: params, GFLOPs, best torch, ORT, OpenVINO FP16-IR / INT8 at f32 and default."""
    default = section["setup"].get("default_precision", "f32")
    out = []
    for s in section["students"]:
        rows = s.get("rows", [])
        t_ms, layout = _torch_best(rows)
        ort = next((r for r in rows if r["runtime"] == "ONNX Runtime" and "latency" in r), None)
        cells = [s["student"], s.get("params_m"), s.get("gflops"), t_ms, layout, ms((ort or {}).get("latency"))]
        for model in ("FP16 IR", "INT8 IR"):
            for precision in ("f32", default):
                r = _find(rows, model, precision)
                cells.append(ms((r or {}).get("latency")))
        fps = [r["throughput_fps"] for r in rows if r.get("throughput_fps")]
        cells.append(max(fps) if fps else None)
        out.append(cells)
    return out


def _inference(section: Optional[dict[str, Any]], plots: dict[str, str]) -> list[str]:
    lines = [f"## {SECTION_TITLES['inference']}", ""]
    if not section:
        return lines + [not_measured(HOW_TO_MEASURE["inference"]), ""]
    su = section["setup"]
    default = su.get("default_precision", "f32")
    h, w = su["size"]
    lines += [
        f"Every student of `distill.students.list_students()` at {h}x{w}, batch 1, {su['threads']} threads, "
        f"OpenVINO {su.get('openvino_version', '–')} on {su['device']}. Weights: {su['weights']}. "
        f"Each latency is the median (and p90) of up to {su['max_repeats']} runs after {su['warmup']} warm-up runs, "
        f"stopped after {su['max_seconds_per_measurement']:g} s; async throughput keeps the device's optimal number "
        "of infer requests busy (OpenVINO AsyncInferQueue, THROUGHPUT hint) for the same time.",
        "",
        "- torch eager runs fp32 in NCHW and in channels_last memory format; the faster is shown (both are in the "
        "detail table).",
        "- ONNX Runtime and OpenVINO run the bundle written by distill's own export (`distill.export.bundle_export."
        "export_bundle`): ONNX opset 11, an IR with FP16 weights, and an INT8 IR. "
        f"INT8: {su.get('int8', '–')}.",
        f"- The FP16-weight IR is computed at the precision the CPU plugin is told: f32, or the plugin's default on "
        f"this CPU (**{default}**). The precision each bundle declares (the plugin default if it kept mask IoU >= 0.99 "
        "against torch in its export parity check, else the fastest that did, else f32) is marked in the detail table; "
        "with random weights that choice says little (near-zero logit margins fail bf16 parity, so f32 is declared).",
        f"- {su['flops']}.",
        "",
        table(["student", "params (M)", "GFLOPs", "torch eager (ms)", "torch layout", "ONNX Runtime (ms)",
               "OV FP16-IR f32 (ms)", f"OV FP16-IR {default} (ms)", "OV INT8 f32 (ms)", f"OV INT8 {default} (ms)",
               "best async FPS"], inference_summary_rows(section)),
        "",
    ]
    if plots.get("inference"):
        lines += [f"![latency and throughput per student]({plots['inference']})", ""]
    detail = []
    for s in section["students"]:
        for r in s.get("rows", []):
            lat = r.get("latency")
            detail.append([s["student"], r["runtime"], r["model"], _precision_label(r, default), ms(lat),
                           ms(lat, "p90_ms"), (lat or {}).get("n"), r.get("throughput_fps"), r.get("requests"),
                           r.get("error", "")])
    lines += ["<details><summary>All runtime settings</summary>", "",
              table(["student", "runtime", "model", "precision", "median (ms)", "p90 (ms)", "runs", "async FPS",
                     "requests", "error"], detail),
              "", "</details>", ""]
    return lines


def _teachers(section: Optional[dict[str, Any]], plots: dict[str, str]) -> list[str]:
    lines = [f"## {SECTION_TITLES['teachers']}", ""]
    if not section:
        return lines + [not_measured(HOW_TO_MEASURE["teachers"]), ""]
    su = section["setup"]
    h, w = su["size"]
    rows = [[t.get("title"), t.get("params_m"), t.get("gflops"), ms(t.get("latency")), ms(t.get("latency"), "p90_ms"),
             (t.get("latency") or {}).get("n"), t.get("error", "")] for t in section["teachers"]]
    lines += [
        f"{su['runtime']} at {h}x{w}, {su['threads']} threads, {su['weights']}. Each model: one forward counted for "
        f"FLOPs (also the warm-up), then timed for at most {su['max_seconds_per_model']:g} s with at least "
        f"{su['min_repeats']} runs. The SAM rows are the image encoder only (CrackSAM's mask decoder is small next to it).",
        "",
        table(["model", "params (M)", "GFLOPs", "median (ms)", "p90 (ms)", "runs", "error"], rows),
        "",
    ]
    if plots.get("scale"):
        lines += [f"![latency vs FLOPs, students and teachers]({plots['scale']})", ""]
    return lines


# ---------------------------------------------------------------- 3. distill


def _distill(section: Optional[dict[str, Any]], plots: dict[str, str]) -> list[str]:
    from workflows.bench.distill_cost import MODE_TITLES

    lines = [f"## {SECTION_TITLES['distill']}", ""]
    if not section:
        return lines + [not_measured(HOW_TO_MEASURE["distill"]), ""]
    ctx = section.get("context") or {}
    desc = ", ".join(f"{k} {v}" for k, v in ctx.items())
    rows = [[MODE_TITLES.get(m, m), v.get("step_median"), v.get("step_p90"), v.get("teacher_median"),
             v.get("data_median"), v.get("ratio_vs_student_only")] for m, v in section["modes"].items()]
    ratio = section.get("cache_vs_student_only")
    lines += [
        f"From `distill bench-steps` ({section['source']}; {desc}): the modes run interleaved on the same batches; "
        "a step is forward, loss, backward and AdamW update; the batch fetch is reported apart.",
        "",
        table(["mode", "step (s, median)", "p90 (s)", "teacher part (s)", "batch fetch (s)", "x student-only"], rows,
              digits=3),
        "",
        f"Cached teacher / student-only: **{fmt(ratio)}x**, goal <= {CACHE_GOAL}x: "
        f"**{verdict(ratio, CACHE_GOAL, False)}**.",
        "",
    ]
    if plots.get("distill"):
        lines += [f"![seconds per training step]({plots['distill']})", ""]
    return lines


# ---------------------------------------------------------------- 5. Pi note


def _reference_rows(results: dict[str, Optional[dict[str, Any]]]) -> list[list[Any]]:
    rows: list[list[Any]] = [
        ["CrackSAM paper: student IR, server with 2x Xeon Gold 6248R", "131.52 FPS"],
        ["CrackSAM paper: student IR, Raspberry Pi 4B + NCS2 (FP16)", "3.71 FPS"],
    ]
    edge = results.get("edge") or {}
    for b in edge.get("bundles", []):
        if "error" not in b:
            inf = b.get("inference") or {}
            rows.append([f"this report: {b.get('student')} {b['input'][0]}x{b['input'][1]}, {inf.get('device')} "
                         f"{inf.get('precision')}, raw async / pipeline", f"{fmt(b.get('raw_async_fps'))} / "
                         f"{fmt(b.get('pipeline_fps'))} FPS"])
    return rows


def _pi_note(results: dict[str, Optional[dict[str, Any]]]) -> list[str]:
    return [
        "## 5. What these CPU numbers say about a Raspberry Pi 4B + NCS2",
        "",
        table(["measurement", "speed"], _reference_rows(results)),
        "",
        "What carries over: the *relative* figures. Which student costs how many FLOPs and how latency follows them; "
        "how much of the model's throughput the pipeline keeps (pipeline / raw); what a reduced-scale JPEG decode saves; "
        "how a cached teacher changes the cost of a distillation step. The accuracy table is hardware independent "
        "(for the FP16 model).",
        "",
        "What does not carry over:",
        "",
        "- **Absolute speed.** The NCS2 (Myriad X) computes in FP16 only: the bf16, f32 and INT8 rows above do not "
        "exist there, and it has **no INT8**. The CPU's FP16-IR figures are not the stick's speed. The paper's own pair "
        "of numbers (131.5 vs 3.71 FPS) shows the gap between a server and the Pi 4B + NCS2.",
        "- **USB transfer.** Every inference sends the input tensor over USB (1x3x448x448 in FP16 is 1.2 MB, 2.4 MB "
        "in FP32) and reads the output back (the bundle returns a stride-4/8 probability map to keep this small). "
        "On USB 2 this costs milliseconds per frame that no CPU benchmark shows; use a USB 3 port. OpenVINO 2022.3 keeps "
        "4 requests (2 streams x 2) in flight on MYRIAD to hide it: the async throughput, not the single latency, is "
        "the figure to compare.",
        "- **The Pi's CPU.** A Pi 4's Cortex-A72 (ARMv8.0) has no fp16 arithmetic, so OpenVINO's CPU plugin runs f32 "
        "there; a Pi 5's Cortex-A76 (ARMv8.2) has it and the CPU plugin defaults to f16 (validate the masks, as for "
        "bf16 here). Everything around the model (JPEG decode, resize, overlay, preview encode, saving) runs on that "
        "CPU and is several times slower than the figures above, so the reduced-scale decode and a cheap "
        "preprocessing matter more on a Pi: with the stick doing the inference, the CPU stages become the bottleneck.",
        "- **Software.** The NCS2 needs OpenVINO 2022.3 (the last release with MYRIAD, built from source on a Pi); it "
        "reads the bundle's `model.onnx` (opset 11), not the IR written by OpenVINO 2023+.",
        "",
        "Run the same benchmark on the vehicle (the edge part needs no torch): export the bundle on the training box "
        "(`distill export CHECKPOINT --out BUNDLE --target ncs2`), copy it to the Pi, then",
        "",
        "```",
        "edge bench BUNDLE --device MYRIAD --json pi-bench.json          # the edge part alone",
        f"{CMD} --only edge --bundle BUNDLE --device MYRIAD \\",
        "    --out benchmarks-pi --markdown BENCHMARKS-pi.md            # the same table as section 2",
        "```",
        "",
        "On a Pi 5 without a stick, drop `--device MYRIAD` (CPU plugin, f16 by default there).",
        "",
    ]


def render_report(results: dict[str, Optional[dict[str, Any]]], plots: dict[str, str],
                  full_budget_min: float = 30.0) -> str:
    """The whole BENCHMARKS.md text from cached results and plot paths (relative to the markdown file)."""
    lines = _header(results, full_budget_min) + _machine(results) + _goals(results)
    lines += _inference(results.get("inference"), plots)
    lines += _teachers(results.get("teachers"), plots)
    lines += edge_lines(results.get("edge"), plots)
    lines += _distill(results.get("distill"), plots)
    lines += accuracy_lines(results.get("accuracy"), plots)
    lines += _pi_note(results)
    lines += soak_lines(results.get("soak"))
    lines += serve_lines(results.get("serve"))
    return "\n".join(lines).rstrip() + "\n"
