"""`distill compare`'s report: compare.yaml (everything measured) and compare.md (the tables)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from distill.compare import CompareOptions, RunRecord

# (key in MetricReport.to_dict(), column title)
COLUMNS = (("iou", "IoU"), ("f1", "F1"), ("ods_f", "ODS"), ("ois_f", "OIS"), ("miou", "mIoU"))
CONVENTIONS = ("IoU, F1: CrackSAM convention (crack class, threshold 0.5, per-image mean). "
               "ODS, OIS, mIoU: DeepCrack convention (threshold sweep; mIoU of crack and background at the "
               "ODS threshold).")


def _precision(bundle: Path) -> str:
    from crackedge.runtime.metadata import load_metadata

    return load_metadata(bundle).inference_precision


def build_rows(teacher_name: str, opts: "CompareOptions", bundles: dict[str, Path],
               runs: dict[str, "RunRecord"]) -> dict[str, dict[str, Any]]:
    """Row key -> {"model", "runtime", "steps", "wall_s"} for every row the table can have."""
    rows: dict[str, dict[str, Any]] = {
        "teacher": {"model": f"teacher {teacher_name}", "runtime": f"torch f32, {opts.size}px"},
    }
    titles = {"kd": f"{opts.student} + CWD", "none": f"{opts.student} alone"}
    for run, title in titles.items():
        if run not in bundles:
            continue
        precision = _precision(bundles[run])
        rec = runs[run]
        common = {"steps": rec.steps, "wall_s": rec.wall_s}
        rows[run] = {"model": title, "runtime": f"bundle IR FP16 at {precision}", **common}
        rows[f"{run}_int8"] = {"model": f"{title} INT8", "runtime": f"bundle IR INT8 at {precision}", **common}
    return rows


def report_dict(opts: "CompareOptions", teacher_name: str, variants: int, cache: Optional[Path],
                runs: dict[str, "RunRecord"], bundles: dict[str, Path],
                metrics: dict[str, dict[str, dict[str, float]]], rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Everything compare.yaml holds: setup, the two runs, the bundles, and the metrics of every row."""
    n_images = next((int(m["n_images"]) for by_case in metrics.values() for m in by_case.values()), 0)
    return {
        "data": str(opts.data),
        "split": opts.split,
        "test_images": n_images,
        "noise": list(opts.noise),
        "student": opts.student,
        "size": opts.size,
        "teacher": teacher_name,
        "teacher_checkpoint": str(opts.teacher_checkpoint) if opts.teacher_checkpoint else None,
        "teacher_signal": "online (teacher runs every batch)" if cache is None else f"logit cache {cache}",
        "budget": {"steps": opts.steps, "batch_size": opts.batch_size, "max_minutes": opts.max_minutes,
                   "lr": opts.lr, "seed": opts.seed, "variants": variants,
                   "cwd_weight": opts.cwd_weight, "temperature": opts.temperature},
        "runs": {name: rec.to_dict() for name, rec in runs.items()},
        "bundles": {name: str(path) for name, path in bundles.items()},
        "rows": {key: {**rows[key], "metrics": metrics[key]} for key in rows if key in metrics},
    }


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _training_table(report: dict[str, Any]) -> list[str]:
    lines = ["| run | teacher signal | steps x batch | wall time | s/step | best val IoU (step) | resumed |",
             "|---|---|---|---|---|---|---|"]
    for name, title in (("kd", "student + CWD"), ("none", "student alone")):
        rec = report["runs"].get(name)
        if rec is None:
            continue
        signal = report["teacher_signal"] if name == "kd" else "none (hard loss only)"
        per_step = rec["wall_s"] / max(1, rec["steps"])
        budget = " (stopped by --max-minutes)" if rec["stopped_by_budget"] else ""
        lines.append(f"| {title} | {signal} | {rec['steps']} x {rec['batch_size']}{budget} | {_minutes(rec['wall_s'])} "
                     f"| {per_step:.2f} | {rec['best_val_iou']:.4f} ({rec['best_step']}) | {'yes' if rec['resumed'] else 'no'} |")
    return lines


def _metric_table(report: dict[str, Any], case: str) -> list[str]:
    head = "| model | runtime | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [head, "|---|---|" + "---|" * len(COLUMNS)]
    for row in report["rows"].values():
        m = row["metrics"].get(case)
        if m is None:
            continue
        values = " | ".join(f"{m[key]:.4f}" for key, _ in COLUMNS)
        lines.append(f"| {row['model']} | {row['runtime']} | {values} |")
    rows = report["rows"]
    if "kd" in rows and "none" in rows and case in rows["kd"]["metrics"] and case in rows["none"]["metrics"]:
        kd, alone = rows["kd"]["metrics"][case], rows["none"]["metrics"][case]
        diffs = " | ".join(f"{kd[key] - alone[key]:+.4f}" for key, _ in COLUMNS)
        lines.append(f"| CWD - alone | | {diffs} |")
    return lines


def format_markdown(report: dict[str, Any]) -> str:
    """compare.md: setup, the training table, one metric table per noise case."""
    b = report["budget"]
    lines = [
        f"# distill compare: {report['student']} + CWD from {report['teacher']} vs {report['student']} alone",
        "",
        f"Data {report['data']}, scored on split `{report['split']}` ({report['test_images']} images, each at its "
        f"own resolution); input {report['size']}x{report['size']}. Same budget for both runs: {b['steps']} steps x "
        f"batch {b['batch_size']}" + (f" (at most {b['max_minutes']} min each)" if b["max_minutes"] else "")
        + f", AdamW lr {b['lr']}, seed {b['seed']}, {b['variants']} augmentation view(s) per image, "
        f"CWD weight {b['cwd_weight']}, T {b['temperature']}.",
        "",
        "## Training",
        "",
        *_training_table(report),
        "",
        "Wall time includes the periodic validation.",
    ]
    for case in report["noise"]:
        lines += ["", f"## Test split, noise `{case}`", "", *_metric_table(report, case)]
    lines += ["", CONVENTIONS, ""]
    return "\n".join(lines)
