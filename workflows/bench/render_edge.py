"""Section 2 of BENCHMARKS.md: the edge pipeline (`edge bench` per bundle), its per-step host cost
breakdown (before/after when benchmarks/results/edge_breakdown_before.json holds an earlier run), and
the JPEG decode costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from crackedge.machine import cpu_label
from workflows.bench.markdown import not_measured, table, verdict
from workflows.bench.sections import HOW_TO_MEASURE, MEMORY_GOAL_MB, PIPELINE_GOAL, SECTION_TITLES, daemon_rss, ms


def _decode_rows(decode: dict[str, Any]) -> list[list[Any]]:
    edge_dec = decode.get("edge_decoder") or {}
    rows = []
    for e in decode.get("entries", []):
        used = e["library"] == edge_dec.get("library") and e["scale"] == edge_dec.get("scale")
        rows.append([e["library"], f"1/{e['scale']}", f"{e['output'][0]}x{e['output'][1]}", ms(e["decode"]),
                     ms(e["decode"], "p90_ms"), ms(e["decode_resize"]),
                     "yes" if e.get("below_model_input") else "", "**edge uses this**" if used else ""])
    return rows


def edge_rows(section: dict[str, Any]) -> list[list[Any]]:
    out = []
    for b in section.get("bundles", []):
        if "error" in b:
            out.append([b.get("bundle"), None, None, None, None, None, "–", None, None, None, None, b["error"]])
            continue
        inf = b.get("inference") or {}
        out.append([b.get("student"), f"{inf.get('precision')}, {inf.get('requests')} req",
                    ms(b.get("single_inference_ms")), b.get("raw_async_fps"), b.get("pipeline_fps"),
                    b.get("pipeline_vs_raw"), verdict(b.get("pipeline_vs_raw"), PIPELINE_GOAL, True),
                    ms(b.get("end_to_end_ms")), b.get("end_to_end_vs_single"), b.get("rss_mb_peak_during_pipeline"),
                    daemon_rss(b), (b.get("daemon") or {}).get("error", "")])
    return out


STEP_LABELS = {
    "decode": "JPEG decode (capture)", "preprocess": "resize/normalise", "submit": "submit (input copy)",
    "wait": "wait for a free request (device busy)", "mask": "decode mask / crack ratio", "measure": "measure (calib)",
    "overlay": "overlay", "encode": "JPEG encode (saved frame)", "write": "write (save stage)",
    "preview": "preview (scale + encode)",
}
BEFORE_FILE = Path("benchmarks/results/edge_breakdown_before.json")
MEMORY_BEFORE_FILE = Path("benchmarks/results/edge_memory_before.json")


def _memory_before(path: Path = MEMORY_BEFORE_FILE) -> dict[tuple[str, str], Any]:
    """(model, settings) -> the daemon's peak RSS measured on an earlier code base, when the file exists."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {(r["model"], r["settings"]): r.get("rss_peak_mb") for r in doc.get("rows", [])} | {("label", ""): doc.get("label")}


def memory_lines(runs: list[dict[str, Any]], goal_mb: float, before: Optional[dict[tuple[str, str], Any]] = None,
                 after_label: str = "") -> list[str]:
    """The daemon memory runs of the edge section (`edge bench --daemon-only` per IR and setting)."""
    if not runs:
        return []
    before = _memory_before() if before is None else before
    has_before = any(k != ("label", "") for k in before)
    has_warm = any(r.get("rss_peak_warm_mb") is not None for r in runs)
    has_child = any(r.get("compile_child_peak_mb") is not None for r in runs)
    rows = []
    for r in runs:
        row = [r.get("model"), r.get("settings")]
        if has_before:
            row.append(before.get((r.get("model"), r.get("settings"))))
        row.append(r.get("rss_peak_mb"))
        if has_warm:
            row.append(r.get("rss_peak_warm_mb"))
        if has_child:
            row.append(r.get("compile_child_peak_mb"))
        row += [r.get("infer_fps"), verdict(r.get("rss_peak_mb"), goal_mb, False), r.get("error") or ""]
        rows.append(row)
    head = ["model", "settings"] + (["before (MB)"] if has_before else []) + ["daemon RSS peak (MB)"] + (
        ["later starts, from the model cache (MB)"] if has_warm else []) + (
        ["compiling child process, first start (MB)"] if has_child else []) + [
        "daemon infer FPS", f"goal <= {goal_mb:.0f} MB", "error"]
    student = next((r.get("student") for r in runs if r.get("student")), "")
    text = (f"Daemon memory, {student}: peak resident memory (VmHWM) of `edge run` replaying 100 frames from JPEG "
            "files (saving on, preview off), per IR and OpenVINO setting (`edge bench BUNDLE --daemon-only --model M "
            "--performance-hint H [--num-requests N]`).")
    if has_warm:
        text += (" The daemon peak is the first start (the model is compiled into the compiled-model cache that "
                 "edge.yaml's `model.cache_dir` names) and is the one the goal is judged on; later starts import the "
                 "compiled model from that cache.")
    if has_child:
        text += (" On the first start a short child process compiled the model into the cache and exited before the "
                 "daemon imported it (`model.compile_ahead`, the default): the two never hold memory at the same time, "
                 "and the child's own peak is given beside the daemon's.")
    if has_before and before.get(("label", "")):
        text += f" Before: {before[('label', '')]}."
        if after_label:
            text += f" After: {after_label}."
    return [text, "", table(head, rows), ""]


def _cell(b: Optional[dict[str, Any]], step: str) -> list[Any]:
    if not b:
        return [None, None, None]
    s = (b.get("steps") or {}).get(step) or {}
    share = s.get("share_of_budget")
    return [s.get("cpu_ms_per_frame"), f"{s.get('runs')}/{b.get('frames')}" if s.get("runs") is not None else None,
            None if share is None else f"{100 * share:.1f} %"]


def breakdown_lines(bench: dict[str, Any], before: Optional[dict[str, Any]], after_label: str = "") -> list[str]:
    """The per-step table of one bundle: CPU ms per frame, how many frames ran the step, share of the
    frame budget (1 / raw async FPS), before (an earlier run) and after (this one, measured where
    `after_label` says: the section's own date and machine)."""
    after = bench.get("breakdown")
    if not after:
        return []
    b_before = (before or {}).get("breakdown")
    both = [b_before, after] if b_before else [after]
    head = ["step"]
    if b_before:
        head += ["before: CPU ms/frame", "frames", "of budget"]
    head += ["after: CPU ms/frame", "frames", "of budget"]
    rows = [[label] + sum((_cell(b, step) for b in both), []) for step, label in STEP_LABELS.items()]
    total = ["host total (every step but wait)"]
    budget = ["frame budget (ms) = 1 / raw async FPS"]
    ratio = ["pipeline / raw async FPS"]
    for b, rec in zip(both, ([before] if b_before else []) + [bench]):
        share = b.get("host_share_of_budget")
        total += [b.get("host_cpu_ms_per_frame"), None, None if share is None else f"{100 * share:.1f} %"]
        budget += [b.get("budget_ms"), None, None]
        ratio += [rec.get("pipeline_vs_raw"), None, None]
    rows += [total, budget, ratio]
    saved = bench.get("saved_throughput_runs") or []
    note = (f"Saving: {bench.get('saving', 'default config policy')}; frames saved per round: "
            + ", ".join(str(s.get("frames")) for s in saved) + f" of {bench.get('frames')}.") if saved else ""
    label = f" Before: {before['label']}." if b_before and before.get("label") else ""
    if b_before and after_label:
        label += f" After: {after_label}; compare the per-step costs, not the budgets or the ratios, when the machines differ."
    frames = bench.get("frames")
    if saved and frames and all(x.get("frames") == frames for x in saved):
        m = (after.get("steps") or {}).get("measure") or {}
        host = after.get("host_cpu_ms_per_frame") or 0.0
        share = f"{100 * (m.get('cpu_ms_per_frame') or 0.0) / host:.0f} %" if host else "most"
        note += (f" Every frame crossed `save.min_crack_ratio` (every synthetic frame has a drawn crack "
                 f"that the bundle finds), so every frame was measured, drawn, encoded and written: the "
                 f"saved-frame path bounds this figure, calib's measurement {share} of the host time.")
    return [f"Per-step host cost, {bench.get('student')}: CPU time of the thread running each step, per frame the "
            f"pipeline finished (`edge bench` throughput rounds).{label} {note}", "", table(head, rows), ""]


def no_save_lines(benches: list[dict[str, Any]], before: Optional[dict[str, Any]] = None,
                  after_label: str = "") -> list[str]:
    """The same benchmark with saving off (`edge bench --no-save`): what the pipeline costs for frames that
    are neither saved nor previewed, plus the preview at its own rate."""
    rows = []
    for b in benches:
        if "error" in b:
            rows.append([b.get("bundle"), None, None, None, None, b["error"]])
            continue
        bd = b.get("breakdown") or {}
        share = bd.get("host_share_of_budget")
        rows.append([b.get("student"), b.get("raw_async_fps"), b.get("pipeline_fps"), b.get("pipeline_vs_raw"),
                     bd.get("host_cpu_ms_per_frame"), None if share is None else f"{100 * share:.1f} %", ""])
    if not rows:
        return []
    lines = ["Saving off (`edge bench BUNDLE --no-save`, the same bundles): the per-frame host path alone (decode, "
             "preprocess, submit, crack ratio; the watched preview at its 5 FPS). Not the goal's setting; it shows "
             "what the host side costs for frames that are not saved.", "",
             table(["student", "raw async FPS", "pipeline FPS", "pipeline / raw", "host CPU ms/frame", "of budget",
                    "error"], rows), ""]
    for b in benches:
        prior = (before or {}).get(b.get("student"))
        if "error" not in b and prior:
            lines += breakdown_lines(b, prior, after_label)
    return lines


def load_before(path: Path = BEFORE_FILE, key: str = "bundles") -> dict[str, Any]:
    """student -> an earlier `edge bench` record ({"label", "breakdown", ...}) of the file's `key` list
    ("bundles": the goal's setting, "no_save": saving off), when the file exists."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    label = doc.get(f"{key}_label", doc.get("label", ""))
    return {b["student"]: {**b, "label": label} for b in doc.get(key, []) if b.get("student")}


def after_label(section: dict[str, Any]) -> str:
    """"this run (STARTED), CPU LABEL" from the section's own record ("" when it names no machine or date)."""
    machine = section.get("machine") or {}
    cpu = cpu_label(machine)
    when = section.get("started") or machine.get("date")
    return f"this run ({when}), {cpu}" if cpu and when else ""


def memory_goal_rows(section: Optional[dict[str, Any]], goal_mb: float) -> list[list[Any]]:
    """[goal, what, value, verdict] rows of the edge section's daemon memory runs: the first start (compiles
    the model and writes the compiled-model cache), then, where measured, a start from that cache (what the
    service's daemon does after `edge check-config` filled it, docs/pi-install.md)."""
    rows = []
    for r in (section or {}).get("memory") or []:
        what = f"{r.get('student') or ''} {r.get('model')}, {r.get('settings')}"
        rows.append([f"daemon resident memory <= {goal_mb:.0f} MB", f"{what}, first start",
                     r.get("rss_peak_mb"), verdict(r.get("rss_peak_mb"), goal_mb, False)])
        if r.get("rss_peak_warm_mb") is not None:
            rows.append([f"daemon resident memory <= {goal_mb:.0f} MB", f"{what}, start from the model cache",
                         r.get("rss_peak_warm_mb"), verdict(r.get("rss_peak_warm_mb"), goal_mb, False)])
    return rows


def edge_lines(section: Optional[dict[str, Any]], plots: dict[str, str]) -> list[str]:
    lines = [f"## {SECTION_TITLES['edge']}", ""]
    if not section:
        return lines + [not_measured(HOW_TO_MEASURE["edge"]), ""]
    su, dec = section["setup"], section.get("decode") or {}
    lines += [
        f"`edge bench` in its own process (no torch) on {su['device']}, "
        f"{su['frames']} frames per run, {su['rounds']} alternating raw/pipeline rounds (medians), source: "
        f"{su['source']}, `model.precision: {su['precision']}`. Raw async FPS: the same preprocessed blob "
        "submitted back to back with the optimal number of requests. Pipeline FPS: the daemon's pipeline (JPEG decode "
        "at reduced scale -> preprocess -> async infer -> postprocess -> save, with the saving policy of the default "
        "config (a frame is saved when its crack ratio reaches `save.min_crack_ratio` = 0.002; files fsynced into a "
        "temporary run folder) and a watched preview at the default 5 FPS), dropping nothing. End-to-end latency: capture to postprocessed result with the stream fed as a live camera at half "
        "the pipeline rate. Bench RSS: peak resident memory of the `edge bench` process while the pipeline runs (it "
        "also holds the test frames and every round's results, so it is an upper bound). Daemon RSS: peak resident "
        "memory (VmHWM) of `edge run` on the same bundle and settings, replaying 100 of the frames from JPEG files as "
        "fast as it processes them (saving on, preview off): the vehicle's figure.",
        "",
    ]
    if section.get("bundles"):
        lines += [table(["student", "precision, requests", "single inference (ms)", "raw async FPS", "pipeline FPS",
                         "pipeline / raw", f"goal >= {PIPELINE_GOAL}", "end-to-end (ms)", "e2e / single", "bench RSS peak (MB)",
                         "daemon RSS peak (MB)",
                         "error"], edge_rows(section)), ""]
    else:
        lines += [not_measured(HOW_TO_MEASURE["edge"], "no bundle was benchmarked"), ""]
    before = load_before()
    after = after_label(section)
    for b in section.get("bundles", []):
        if "error" not in b:
            lines += breakdown_lines(b, before.get(b.get("student")), after)
    lines += no_save_lines(section.get("no_save") or [], load_before(key="no_save"), after)
    lines += memory_lines(section.get("memory") or [], MEMORY_GOAL_MB, after_label=after)
    if dec:
        fw, fh = dec["frame"]
        lines += [
            f"JPEG decode of one {fw}x{fh} q{dec['quality']} synthetic road frame ({dec['bytes'] / 1024:.0f} KiB), "
            f"alone and with the linear resize to the {dec['model_input'][0]}x{dec['model_input'][1]} model input. "
            f"Reduced scales use libjpeg's DCT scaling. The daemon picks {dec['edge_decoder']['library']} at "
            f"1/{dec['edge_decoder']['scale']} ({dec['edge_decoder']['rule']}). OpenCV rows include BGR->RGB.",
            "",
            table(["decoder", "scale", "output", "decode (ms)", "p90 (ms)", "decode + resize (ms)",
                   "smaller than model input", ""], _decode_rows(dec)),
            "",
        ]
    if plots.get("decode"):
        lines += [f"![JPEG decode cost]({plots['decode']})", ""]
    return lines

