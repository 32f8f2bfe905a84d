"""Section 7 of BENCHMARKS.md: bundles served under Triton beside benchmark_app, and the wire formats,
rendered from the JSON `python -m workflows.serve.bench` writes (benchmarks/results/serve.json).

The serve benchmark needs Triton and minutes per bundle, so `crackedge bench-report` never runs it: it
renders the file (`--only serve` reads it, `--serve-json FILE` copies one in). The file holds one or
more runs ({"runs": [{machine, bundles, ...}], "wire": ...}; the older single-run layout
{machine, bundles, wire} is read too). What the figures cannot say (how the bundles were made, how
loaded the machine was, what the numbers mean) is in the file's optional hand-written `notes`
({"setup" | "goal" | "wire" | "choice": text or [paragraphs]}), rendered as they are.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from workflows.bench.markdown import not_measured, table, verdict
from workflows.bench.sections import HOW_TO_MEASURE, SECTION_TITLES, SERVE_COMMAND, SERVE_GOAL

RESULTS_FILE = "benchmarks/results/serve.json"
SERVED_HEAD = ["dynamic batching", "clients", "served FPS", "served / benchmark_app", "p50 ms", "p90 ms", "requests"]


def raw(value: Any) -> str:
    """A figure as the benchmark wrote it (588.0 stays 588.0); None -> '–'."""
    return "–" if value is None else str(value)


def serve_runs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of a serve.json, whichever layout."""
    if "runs" in doc:
        return list(doc.get("runs") or [])
    return [{k: v for k, v in doc.items() if k not in ("wire", "notes")}]


def _notes(doc: dict[str, Any], key: str) -> list[str]:
    note = (doc.get("notes") or {}).get(key)
    paragraphs = [note] if isinstance(note, str) else list(note or [])
    return [line for p in paragraphs for line in (p, "")]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def benchmark_app_fps(bundle: dict[str, Any]) -> list[float]:
    runs = (bundle.get("benchmark_app_before") or {}, bundle.get("benchmark_app_after") or {})
    return [r["throughput_fps"] for r in runs if r.get("throughput_fps")]


def served_ratio(bundle: dict[str, Any], row: dict[str, Any]) -> Optional[float]:
    """Served throughput / the mean of benchmark_app's before and after."""
    ba = benchmark_app_fps(bundle)
    fps = row.get("throughput_fps")
    return None if not ba or fps is None else fps / (sum(ba) / len(ba))


def run_seconds(run: dict[str, Any]) -> Optional[float]:
    """Seconds per measurement: recorded by the benchmark, else benchmark_app's `-t N`."""
    if run.get("seconds"):
        return float(run["seconds"])
    for b in run.get("bundles") or []:
        m = re.search(r"-t (\d+(?:\.\d+)?)", (b.get("benchmark_app_before") or {}).get("command") or "")
        if m:
            return float(m.group(1))
    return None


def _method(doc: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    machine = (runs[0].get("machine") if runs else None) or {}
    versions = machine.get("versions") or {}
    seconds = run_seconds(runs[0]) if runs else None
    command = SERVE_COMMAND.replace("--seconds 20", f"--seconds {seconds:g}") if seconds else SERVE_COMMAND
    triton = f"Triton {machine['triton_version']}" if machine.get("triton_version") else "Triton"
    inputs = sorted({b.get("input") for r in runs for b in r.get("bundles") or [] if b.get("input")})
    quality = {r.get("jpeg_quality") for r in runs} - {None}
    jpeg = f"JPEG (q{quality.pop()})" if len(quality) == 1 else "JPEG"
    return (
        f"`{command}` (docs/serve.md); results in `{RESULTS_FILE}`, rendered by `crackedge bench-report --only serve`. "
        f"{triton} (nvidia-pytriton {versions.get('nvidia-pytriton', '–')}), one model instance, OpenVINO "
        f"{versions.get('openvino', '–')} CPU plugin with the THROUGHPUT hint at the bundle's precision, the clients on "
        f"the same {machine.get('cpu_count', '–')} cores. Each simulated vehicle sends its next frame when the previous "
        f"answer arrives (closed loop), as the {jpeg} of the {inputs[0] + ' ' if len(inputs) == 1 else ''}network "
        "input over KServe v2 HTTP. Throughput = answers / wall time; latency = round trip per frame. "
        "`benchmark_app -hint throughput -infer_precision P` ran on the bundle's `model.xml` before and after the served "
        "runs; the ratio uses their mean."
    )


def bundle_lines(bundle: dict[str, Any]) -> list[str]:
    """One bundle of one run: the benchmark_app line and the served table (as workflows.serve.bench prints it)."""
    ba = benchmark_app_fps(bundle)
    rows = []
    for row in bundle.get("served") or []:
        ratio = served_ratio(bundle, row)
        rows.append(["on" if row.get("dynamic_batching") else "off", row.get("clients"),
                     f"{row['throughput_fps']:.2f}" if row.get("throughput_fps") is not None else None,
                     f"{ratio:.2f}" if ratio is not None else None, raw(row.get("p50_ms")), raw(row.get("p90_ms")),
                     row.get("requests")])
    payload = bundle.get("payload_bytes_mean")
    head = (f"**{bundle.get('kind')} {bundle.get('model')}** (input {bundle.get('input')}, {bundle.get('precision')}"
            + (f", JPEG payload {payload / 1024:.0f} KB" if payload else "") + "): benchmark_app -hint throughput ")
    head += " / ".join(f"{v:.2f}" for v in ba) + " FPS (before / after the served runs)" if ba else "not measured"
    return [head, "", table(SERVED_HEAD, rows), ""]


def goal_cases(runs: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any], bool, Optional[float]]]:
    """(run number, bundle, dynamic batching, served / benchmark_app) at each bundle's most clients."""
    cases = []
    for i, run in enumerate(runs, 1):
        for b in run.get("bundles") or []:
            served = b.get("served") or []
            if not served:
                continue
            top = max(r.get("clients") or 0 for r in served)
            for row in served:
                if row.get("clients") == top:
                    cases.append((i, b, bool(row.get("dynamic_batching")), served_ratio(b, row)))
    return cases


def _goal(runs: list[dict[str, Any]]) -> list[str]:
    cases = goal_cases(runs)
    if not cases:
        return []
    clients = max(r.get("clients") or 0 for _, b, _, _ in cases for r in b.get("served") or [])
    rows = [[f"run {i}" if len(runs) > 1 else "", f"{b.get('kind')} {b.get('model')}", "on" if db else "off", ratio,
             verdict(ratio, SERVE_GOAL, True)] for i, b, db, ratio in cases]
    if len(runs) == 1:
        rows = [r[1:] for r in rows]
    summary = []
    for i in sorted({c[0] for c in cases}):
        mine = [c for c in cases if c[0] == i and c[3] is not None]
        met = [c for c in mine if c[3] >= SERVE_GOAL]
        missed = [c for c in mine if c[3] < SERVE_GOAL]
        who = f"run {i}" if len(runs) > 1 else "the run"
        if not missed and met:
            summary.append(f"{who} meets it in every case ({min(c[3] for c in met):.2f}-{max(c[3] for c in met):.2f})")
        elif mine:
            summary.append(f"{who} meets it in {len(met)} of {len(mine)} cases and misses it for " + _and(
                [f"the {b.get('kind')} {'with' if db else 'without'} dynamic batching ({r:.2f})" for _, b, db, r in missed]))
    head = ["run"] if len(runs) > 1 else []
    text = "; ".join(summary)
    return [f"**Goal at {clients} clients, served throughput >= {SERVE_GOAL:g} x benchmark_app's**: "
            + (text + "." if text else "not measured."), "",
            table(head + ["bundle", "dynamic batching", f"served / benchmark_app at {clients} clients", "result"], rows),
            ""]


def wire_rows(wire: dict[str, Any]) -> list[list[Any]]:
    return [[r.get("wire"), raw(r.get("kb_per_frame")), raw(r.get("encode_ms")), raw(r.get("server_decode_ms")),
             raw(r.get("mask_iou_vs_float32")), raw(r.get("crack_iou_vs_gt")),
             " / ".join(str(v) for v in (r.get("uplink_ms") or {}).values())] for r in wire.get("rows") or []]


def _choice(wire: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    """The default wire (crackedge.runtime.options.RemoteOptions) against the others, from the wire table."""
    from crackedge.runtime.options import RemoteOptions

    kind, quality = (RemoteOptions.model_fields[k].default for k in ("wire", "jpeg_quality"))
    rows = {r.get("wire"): r for r in wire.get("rows") or []}
    name = f"JPEG q{quality}" if kind == "jpeg" else f"{kind} tensor"
    chosen, u8, f32 = rows.get(name), rows.get("uint8 tensor"), rows.get("float32 tensor")
    if not chosen:
        return []
    kb = chosen["kb_per_frame"]
    text = f"**Choice: {name} of the network-size image** (`remote.wire: {kind}`, the default): {kb:.0f} KB per {wire.get('input')} frame"
    if u8 and f32 and kind != "uint8":
        text += f" (about {u8['kb_per_frame'] / kb:.0f}x less than the uint8 tensor, {f32['kb_per_frame'] / kb:.0f}x less than float32"
        served = [b["payload_bytes_mean"] for r in runs for b in r.get("bundles") or [] if b.get("payload_bytes_mean")]
        inputs = {b.get("input") for r in runs for b in r.get("bundles") or []}
        if served and len(inputs) == 1:
            text += f"; ~{served[0] / 1024:.0f} KB at {next(iter(inputs)).split('x')[0]} in the served runs"
        text += ")"
    text += f", {chosen['encode_ms']:g} ms to encode here"
    ref = (f32 or {}).get("crack_iou_vs_gt")
    if chosen.get("crack_iou_vs_gt") is not None and ref is not None:
        others = [f"{w.replace('JPEG ', '')}: {r['crack_iou_vs_gt'] - ref:+.4f}" for w, r in rows.items()
                  if w.startswith("JPEG") and w != name and r.get("crack_iou_vs_gt") is not None]
        text += (f", and the crack IoU against ground truth moves by {abs(chosen['crack_iou_vs_gt'] - ref):.3f} "
                 f"({chosen['crack_iou_vs_gt']} vs {ref}" + ("; " + "; ".join(others) if others else "") + ")")
    text += f". The masks agree with the float path at IoU {chosen['mask_iou_vs_float32']:.2f}."
    up = chosen.get("uplink_ms") or {}
    if up and u8 and f32:
        slow = min(up, key=float)
        sec = lambda r: f"{r['uplink_ms'][slow] / 1000:.2g} s"  # noqa: E731
        text += (f" At {slow} Mbit/s uplink float32 needs {sec(f32)} per frame and uint8 {sec(u8)}; "
                 f"{name} needs {sec(chosen)}.")
    return [text, ""]


def _wire(doc: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    wire = doc.get("wire")
    if not wire:
        return ["_wire formats not measured: run `python -m workflows.serve.bench --wire-bundle TRAINED_BUNDLE "
                "--wire-images IMAGES`_", ""]
    speeds = list((next(iter(wire.get("rows") or []), {}).get("uplink_ms") or {}).keys())
    gt = any(r.get("crack_iou_vs_gt") is not None for r in wire.get("rows") or [])
    return _notes(doc, "wire") + [
        f"Wire formats (`--wire-bundle`), on `{wire.get('bundle')}` ({wire.get('model')}, input {wire.get('input')}), "
        f"{wire.get('frames')}: each payload decoded as the server does, run through the same IR locally, masks compared "
        f"with the float32 path{' and with the ground truth' if gt else ''}:", "",
        table(["payload", "KB/frame", "client encode ms", "server decode ms", "mask IoU vs float32",
               "crack IoU vs ground truth", f"at {' / '.join(speeds)} Mbit/s uplink, ms"], wire_rows(wire)), "",
    ] + _choice(wire, runs) + _notes(doc, "choice")


def serve_title(doc: Optional[dict[str, Any]]) -> str:
    clients = sorted({r.get("clients") for run in serve_runs(doc or {}) for b in run.get("bundles") or []
                      for r in b.get("served") or [] if r.get("clients")})
    if len(clients) < 2:
        return SECTION_TITLES["serve"]
    return f"7. Serving: bundles under Triton, {clients[0]}-{clients[-1]} simulated vehicles, beside benchmark_app"


def serve_lines(doc: Optional[dict[str, Any]]) -> list[str]:
    lines = [f"## {serve_title(doc)}", ""]
    if not doc:
        return lines + [not_measured(HOW_TO_MEASURE["serve"]), ""]
    runs = [r for r in serve_runs(doc) if r.get("bundles")]
    if not runs:
        return lines + [f"_served runs not measured: run `{SERVE_COMMAND}`_", ""] + _wire(doc, runs)
    lines += [_method(doc, runs), ""] + _notes(doc, "setup")
    for i, run in enumerate(runs, 1):
        if len(runs) > 1:
            load = (run.get("machine") or {}).get("loadavg")
            lines += [f"Run {i}" + (f" (load average when it ended, 1 / 5 / 15 min: "
                                    f"{' / '.join(f'{v:.2f}' for v in load)})" if load else "") + ":", ""]
        for b in run.get("bundles") or []:
            lines += bundle_lines(b)
    return lines + _goal(runs) + _notes(doc, "goal") + _wire(doc, runs)
