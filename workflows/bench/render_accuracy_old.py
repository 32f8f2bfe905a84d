"""Section 4 of BENCHMARKS.md from a result cached in the old single-seed `distill compare` format
(a `rows` list, no `summary`): rendered as it was before the multi-seed compare (d8c52f6), with a line
saying so, so that re-rendering the report does not drop measured figures."""

from __future__ import annotations

from typing import Any

from workflows.bench.markdown import table
from workflows.bench.sections import HOW_TO_MEASURE

METRIC_COLUMNS = (("iou", "IoU"), ("f1", "F1"), ("ods_f", "ODS F"), ("ois_f", "OIS F"), ("miou", "mIoU"))


def is_old_format(section: dict[str, Any]) -> bool:
    """A `rows` list with metrics and no multi-seed `summary`."""
    return "summary" not in section and any(isinstance(r, dict) and r.get("metrics") for r in section.get("rows") or [])


def old_accuracy_rows(section: dict[str, Any], case: str) -> list[list[Any]]:
    out = []
    for r in section["rows"]:
        m = (r.get("metrics") or {}).get(case)
        if m is not None:
            out.append([r.get("model"), r.get("runtime")] + [m.get(k) for k, _ in METRIC_COLUMNS])
    by_key = {r.get("key"): r.get("metrics") or {} for r in section["rows"]}
    if case in by_key.get("kd", {}) and case in by_key.get("none", {}):
        kd, alone = by_key["kd"][case], by_key["none"][case]
        out.append(["CWD - alone", ""] + [(kd.get(k) - alone.get(k)) if kd.get(k) is not None and alone.get(k) is not None
                                          else None for k, _ in METRIC_COLUMNS])
    return out


def old_accuracy_lines(section: dict[str, Any], plots: dict[str, str]) -> list[str]:
    b = section.get("budget") or {}
    runs = section.get("runs") or {}
    walls = ", ".join(f"{name} {r.get('steps')} steps in {r.get('wall_s', 0) / 60:.1f} min" for name, r in runs.items())
    lines = [
        f"_One seed, from the old single-seed `distill compare` (cached {str(section.get('started', ''))[:10]}); "
        f"the multi-seed comparison: `{HOW_TO_MEASURE['accuracy']}`._",
        "",
        f"From `distill compare` ({section.get('source')}): {section.get('student')} trained with CWD from "
        f"{section.get('teacher')} ({section.get('teacher_signal')}) and without a teacher, on the same CPU budget: "
        f"{b.get('steps')} steps x batch {b.get('batch_size')}"
        + (f", at most {b['max_minutes']} min per run" if b.get("max_minutes") else "")
        + f" ({walls}). Input {section.get('size')}px; scored on `{section.get('data')}` split `{section.get('split')}` "
        f"({section.get('test_images')} images) with the bundles on OpenVINO, the teacher in torch f32.",
        "",
        "IoU and F1: CrackSAM convention (crack class, threshold 0.5, mean over images). ODS F, OIS F, mIoU: DeepCrack "
        "convention (threshold sweep; mIoU of crack and background at the ODS threshold).",
        "",
    ]
    for case in section.get("noise") or []:
        lines += [f"Noise case `{case}`:", "", table(["model", "runtime"] + [t for _, t in METRIC_COLUMNS],
                                                      old_accuracy_rows(section, case), digits=4), ""]
    if plots.get("accuracy"):
        lines += [f"![crack IoU per noise case]({plots['accuracy']})", ""]
    fig = section.get("figure") or {}
    if plots.get("accuracy_masks"):
        lines += [f"![test images: image, ground truth, student + CWD, student alone]({plots['accuracy_masks']})", ""]
    elif fig.get("reason"):
        lines += [f"_mask figure not drawn: {fig['reason']}_", ""]
    return lines
