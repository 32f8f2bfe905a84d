"""Section 4 of BENCHMARKS.md: accuracy, read from `distill compare` (see accuracy.py)."""

from __future__ import annotations

from typing import Any, Optional

from workflows.bench.markdown import not_measured, table
from workflows.bench.sections import HOW_TO_MEASURE, SECTION_TITLES

METRIC_COLUMNS = (("iou", "IoU"), ("f1", "F1"), ("ods_f", "ODS F"), ("ois_f", "OIS F"), ("miou", "mIoU"))


def accuracy_rows(section: dict[str, Any], case: str) -> list[list[Any]]:
    out = []
    for r in section["rows"]:
        m = r["metrics"].get(case)
        if m is not None:
            out.append([r["model"], r.get("runtime")] + [m.get(k) for k, _ in METRIC_COLUMNS])
    by_key = {r["key"]: r for r in section["rows"]}
    if "kd" in by_key and "none" in by_key and case in by_key["kd"]["metrics"] and case in by_key["none"]["metrics"]:
        kd, alone = by_key["kd"]["metrics"][case], by_key["none"]["metrics"][case]
        out.append(["CWD - alone", ""] + [(kd.get(k) - alone.get(k)) if kd.get(k) is not None and alone.get(k) is not None
                                          else None for k, _ in METRIC_COLUMNS])
    return out


def accuracy_lines(section: Optional[dict[str, Any]], plots: dict[str, str]) -> list[str]:
    lines = [f"## {SECTION_TITLES['accuracy']}", ""]
    if not section:
        return lines + [not_measured(HOW_TO_MEASURE["accuracy"]), ""]
    b = section.get("budget") or {}
    runs = section.get("runs") or {}
    walls = ", ".join(f"{name} {r.get('steps')} steps in {r.get('wall_s', 0) / 60:.1f} min" for name, r in runs.items())
    lines += [
        f"From `distill compare` ({section['source']}): {section.get('student')} trained with CWD from "
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
                                                      accuracy_rows(section, case), digits=4), ""]
    if plots.get("accuracy"):
        lines += [f"![crack IoU per noise case]({plots['accuracy']})", ""]
    fig = section.get("figure") or {}
    if plots.get("accuracy_masks"):
        lines += [f"![test images: image, ground truth, student + CWD, student alone]({plots['accuracy_masks']})", ""]
    elif fig.get("reason"):
        lines += [f"_mask figure not drawn: {fig['reason']}_", ""]
    return lines

