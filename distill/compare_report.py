"""`distill compare`'s report: compare.yaml (everything measured) and compare.md (the tables).

Each figure is given per seed and as mean ± sample standard deviation over the seeds; the
difference distilled - alone is computed per seed (the two runs of a seed share every random
choice but the teacher) and then summarised the same way. Beside it, the teacher's margin over the
student alone (teacher - alone, per seed): the room distillation has to work in. A teacher that is
not above the student alone has nothing to give it, whatever the soft loss.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from distill.compare_options import CompareOptions, RunRecord
    from distill.compare_runs import TeacherInfo
    from distill.train_config import DistillTrainConfig

# (key in MetricReport.to_dict(), column title)
COLUMNS = (("iou", "IoU"), ("f1", "F1"), ("ods_f", "ODS"), ("miou", "mIoU"))
CONVENTIONS = ("IoU, F1: CrackSAM convention (crack class, threshold 0.5, per-image mean), each image scored at its "
               "own size. ODS, mIoU: DeepCrack convention (threshold sweep; mIoU of crack and background at the "
               "ODS threshold). mean ± sd: over the seeds (sample standard deviation); kd - alone: per seed, then "
               "summarised.")
MARGIN_NOTE = ("teacher - alone: the teacher's margin over each seed's student alone, the room distillation works "
               "in; a teacher not above the student alone has nothing to give it.")


def spread(values: list[float]) -> dict[str, Any]:
    """{"mean", "sd", "values"} of a list (sd 0 for one value)."""
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": [round(v, 4) for v in values]}


def summarise(opts: "CompareOptions", metrics: dict[str, dict[str, dict[str, dict[str, float]]]],
              suffix: str = "") -> dict[str, Any]:
    """eval set -> case -> metric -> {"kd", "alone", "kd - alone"[, "teacher - alone"]} spreads over the seeds.

    "teacher - alone" (the teacher's margin over each seed's student alone) is there when the teacher
    was scored on that set and case.
    """
    out: dict[str, Any] = {}
    for s in opts.eval_sets:
        for case in opts.noise:
            teacher = metrics.get("teacher", {}).get(s.name, {}).get(case)
            for key, _ in COLUMNS:
                kd = [metrics[f"seed{seed}/kd{suffix}"][s.name][case][key] for seed in opts.seeds]
                alone = [metrics[f"seed{seed}/alone{suffix}"][s.name][case][key] for seed in opts.seeds]
                entry = {"kd": spread(kd), "alone": spread(alone),
                         "kd - alone": spread([a - b for a, b in zip(kd, alone)])}
                if teacher and key in teacher:
                    entry["teacher - alone"] = spread([teacher[key] - a for a in alone])
                out.setdefault(s.name, {}).setdefault(case, {})[key] = entry
    return out


def _soft_loss(cfg: "DistillTrainConfig") -> str:
    loss = cfg.loss
    from distill.train_config import soft_loss_text

    parts = soft_loss_text(loss.model_dump())
    warm = f", warm-up {loss.soft_warmup_steps} steps" if loss.soft_warmup_steps else ""
    on = ", on unlabeled items only" if loss.soft_on == "unlabeled" else ""
    return f"{parts}, T {loss.temperature:g}{warm}{on}"


def report_dict(opts: "CompareOptions", base: "DistillTrainConfig", cache: Optional[Path], teacher: "TeacherInfo",
                runs: dict[str, "RunRecord"], metrics: dict[str, Any],
                teacher_labels: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Everything compare.yaml holds: setup, budget, the runs, per-seed metrics and the summaries;
    `teacher_labels` (distill.compare.teacher_labels_note): whether the teacher saw the hidden masks."""
    d, o = base.data, base.optim
    cut = [f"{key} at step {r.steps} of {r.planned_steps}" for key, r in runs.items() if r.stopped_by_budget]
    n_images = {s.name: int(next(iter(metrics[f"seed{opts.seeds[0]}/kd"][s.name].values()))["n_images"])
                for s in opts.eval_sets}
    report = {
        "student": base.student.name,
        "size": base.student.size,
        "data": str(d.root),
        "eval_sets": [{"name": s.name, "path": str(s.path), "split": s.split or "all", "images": n_images[s.name]}
                      for s in opts.eval_sets],
        "noise": list(opts.noise),
        "teacher": teacher.name,
        "teacher_signal": teacher.signal,
        "teacher_cache_val_iou": teacher.cache_val,
        "soft_loss": _soft_loss(base),
        "budget": {"steps": o.steps, "batch_size": o.batch_size, "lr": o.lr, "warmup_steps": o.warmup_steps,
                   "max_minutes": o.max_minutes, "seeds": list(opts.seeds), "data_seed": d.seed,
                   "variants": d.variants, "labeled_fraction": d.labeled_fraction, "unlabeled": list(d.unlabeled),
                   "unlabeled_share": d.unlabeled_share, "photometric": d.photometric, "crop": d.crop,
                   "val_basis": o.val_basis},
        "cut_by_max_minutes": cut,
        "teacher_labels": teacher_labels,
        "runs": {key: rec.to_dict() for key, rec in runs.items()},
        "metrics": metrics,
        "summary": summarise(opts, metrics),
    }
    if opts.int8:
        report["summary_int8"] = summarise(opts, metrics, "/int8")
    return report


def _fmt(s: dict[str, Any], signed: bool = False) -> str:
    mean = f"{s['mean']:+.4f}" if signed else f"{s['mean']:.4f}"
    return f"{mean} ± {s['sd']:.4f}"


def _training_table(report: dict[str, Any]) -> list[str]:
    lines = ["| run | seed | teacher | steps done / asked x batch | wall time | best val IoU (step) |",
             "|---|---:|---|---|---:|---|"]
    for key, rec in report["runs"].items():
        cut = " **cut by --max-minutes**" if rec["stopped_by_budget"] else ""
        lines.append(f"| {rec['name']} | {rec['seed']} | {rec['teacher'] or 'none'} | {rec['steps']} / "
                     f"{rec['planned_steps']} x {rec['batch_size']}{cut} | {rec['wall_s'] / 60:.1f} min | "
                     f"{rec['best_val_iou']:.4f} ({rec['best_step']}) |")
    return lines


def _metric_table(report: dict[str, Any], set_name: str, case: str, summary_key: str = "summary") -> list[str]:
    summ = report[summary_key][set_name][case]
    head = "| model | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [head, "|---|" + "---|" * len(COLUMNS)]
    teacher = report["metrics"].get("teacher", {}).get(set_name, {}).get(case)
    if teacher and summary_key == "summary":
        lines.append(f"| teacher {report['teacher']} (torch) | " + " | ".join(f"{teacher[k]:.4f}" for k, _ in COLUMNS) + " |")
    n = len(report["budget"]["seeds"])
    for row, title in (("kd", f"{report['student']} distilled"), ("alone", f"{report['student']} alone")):
        lines.append(f"| {title} (bundle, {n} seeds) | " + " | ".join(_fmt(summ[k][row]) for k, _ in COLUMNS) + " |")
    lines.append("| **distilled - alone** (paired) | " + " | ".join(_fmt(summ[k]["kd - alone"], True) for k, _ in COLUMNS)
                 + " |")
    if all("teacher - alone" in summ[k] for k, _ in COLUMNS):
        lines.append("| teacher - alone (the teacher's margin) | "
                     + " | ".join(_fmt(summ[k]["teacher - alone"], True) for k, _ in COLUMNS) + " |")
    per_seed = ", ".join(f"{v:+.4f}" for v in summ["iou"]["kd - alone"]["values"])
    lines += ["", f"IoU difference per seed: {per_seed}"]
    return lines


def teacher_labels_line(note: Optional[dict[str, Any]]) -> Optional[str]:
    """The line on the teacher's training labels (bold WARNING when it saw hidden masks or cannot tell);
    None when the run hid no masks."""
    if not note:
        return None
    if note["status"] in ("seen", "unknown"):
        return f"**WARNING: {note['text']}.**"
    return note["text"][0].upper() + note["text"][1:] + "."


def format_markdown(report: dict[str, Any]) -> str:
    """compare.md: setup, budget warning (if any), the training table, one metric table per set and case."""
    b = report["budget"]
    signal = report["teacher_signal"]
    data_note = f"labeled fraction {b['labeled_fraction']:g}"
    if b["unlabeled"]:
        data_note += f", unlabeled images from {', '.join(b['unlabeled'])}"
    lines = [
        f"# distill compare: {report['student']} distilled from {report['teacher']} vs {report['student']} alone",
        "",
        f"Trained on {report['data']} ({data_note}) at {report['size']}x{report['size']}: {b['steps']} steps x batch "
        f"{b['batch_size']} for every run, AdamW lr {b['lr']}, {b['warmup_steps']} warm-up steps, data seed "
        f"{b['data_seed']} ({b['variants']} augmentation views per image"
        + (f", {b['photometric']:.0%} of inputs noised in colour and sharpness for the student"
           if b.get("photometric") else "")
        + (f", trained on random {b['crop']}x{b['crop']} windows" if b.get("crop") else "")
        + f"), run seeds {', '.join(map(str, b['seeds']))}. "
        f"Distilled: hard loss on labeled items + {report['soft_loss']} from the {signal}"
        + (f", unlabeled share of a batch {b['unlabeled_share']:g}" if (b["unlabeled"] or b["labeled_fraction"] < 1)
           else "") + ". Alone: the hard loss on the same labeled items.",
    ]
    if report["teacher_cache_val_iou"]:
        vals = "; ".join(f"{k} {v:.4f}" for k, v in report["teacher_cache_val_iou"].items())
        lines += ["", f"Teacher validation IoU recorded in the cache: {vals}."]
    if report["cut_by_max_minutes"]:
        lines += ["", "**WARNING: the --max-minutes safety net cut " + "; ".join(report["cut_by_max_minutes"])
                  + ". These runs are shorter than asked: the comparison is not on equal budgets and depends on "
                  "the machine's speed.**"]
    if labels_line := teacher_labels_line(report.get("teacher_labels")):
        lines += ["", labels_line]
    val_basis = report["budget"].get("val_basis", "input")
    picked = ("each image at its own size, as the test scores it" if val_basis == "image"
              else "images and masks resized to the training size")
    lines += ["", "## Training", "", *_training_table(report), "",
              f"Wall time includes the periodic validation ({picked}: `--val-basis {val_basis}`), which picks best.pt."]
    for s in report["eval_sets"]:
        for case in report["noise"]:
            lines += ["", f"## {s['name']} ({s['split']}, {s['images']} images), noise `{case}`", "",
                      *_metric_table(report, s["name"], case)]
    if "summary_int8" in report:
        for s in report["eval_sets"]:
            case = report["noise"][0]
            lines += ["", f"## INT8 bundles, {s['name']}, noise `{case}`", "",
                      *_metric_table(report, s["name"], case, "summary_int8")]
    has_margin = any("teacher - alone" in metric for cases in report["summary"].values()
                     for metrics in cases.values() for metric in metrics.values())
    lines += ["", CONVENTIONS + (" " + MARGIN_NOTE if has_margin else ""), ""]
    return "\n".join(lines)
