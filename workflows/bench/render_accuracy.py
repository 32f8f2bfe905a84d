"""Section 4 of BENCHMARKS.md: accuracy, read from `distill compare` (see accuracy.py).

Per evaluation set and noise case one table: the teacher, the distilled student and the student alone
(mean ± sd over the seeds), their paired difference distilled - alone (per seed, then mean ± sd) and
the teacher's margin over the student alone (compare.yaml of 2026-12-01 on); INT8 bundles in the same
table when compare exported them.
"""

from __future__ import annotations

import statistics
from typing import Any, Optional

from distill.compare_report import teacher_labels_line
from workflows.bench.markdown import not_measured, table
from workflows.bench.render_accuracy_old import is_old_format, old_accuracy_lines
from workflows.bench.sections import HOW_TO_MEASURE, SECTION_TITLES

# (key in compare.yaml's summary and metrics, column title)
METRIC_COLUMNS = (("iou", "IoU"), ("f1", "F1"), ("ods_f", "ODS F"), ("miou", "mIoU"))
# (summary key, runtime label, row suffix)
SUMMARIES = (("summary", "OpenVINO, FP16 IR", ""), ("summary_int8", "OpenVINO, INT8 IR", ", INT8"))


def _seeds(section: dict[str, Any]) -> list[int]:
    return list((section.get("budget") or {}).get("seeds") or [])


def mean_sd(spread: Optional[dict[str, Any]], n_seeds: int, signed: bool = False) -> Optional[str]:
    """'0.6000 ± 0.0100' ('+0.0500 ± ...' when signed); the mean alone for one seed; None when absent."""
    if not spread or spread.get("mean") is None:
        return None
    mean = f"{spread['mean']:+.4f}" if signed else f"{spread['mean']:.4f}"
    return mean if n_seeds < 2 else f"{mean} ± {spread['sd']:.4f}"


def accuracy_rows(section: dict[str, Any], set_name: str, case: str) -> list[list[Any]]:
    """[model, runtime, IoU, F1, ODS F, mIoU] rows of one evaluation set and noise case."""
    n = len(_seeds(section))
    student = section.get("student")
    out: list[list[Any]] = []
    teacher = ((section.get("teacher_metrics") or {}).get(set_name) or {}).get(case)
    if teacher:
        out.append([f"teacher {section.get('teacher')}", "torch f32"] + [teacher.get(k) for k, _ in METRIC_COLUMNS])
    for key, runtime, suffix in SUMMARIES:
        summ = ((section.get(key) or {}).get(set_name) or {}).get(case)
        if not summ:
            continue
        for run, title in (("kd", "distilled"), ("alone", "alone")):
            out.append([f"{student} {title}{suffix}, {n} seed{'s' if n != 1 else ''}", runtime]
                       + [mean_sd((summ.get(k) or {}).get(run), n) for k, _ in METRIC_COLUMNS])
        out.append([f"**distilled - alone**{suffix} (paired)", runtime]
                   + [mean_sd((summ.get(k) or {}).get("kd - alone"), n, signed=True) for k, _ in METRIC_COLUMNS])
        if all((summ.get(k) or {}).get("teacher - alone") for k, _ in METRIC_COLUMNS):
            out.append([f"teacher - alone{suffix} (the teacher's margin)", runtime]
                       + [mean_sd(summ[k]["teacher - alone"], n, signed=True) for k, _ in METRIC_COLUMNS])
    return out


def _per_seed(section: dict[str, Any], set_name: str, case: str) -> list[str]:
    iou = ((((section.get("summary") or {}).get(set_name) or {}).get(case) or {}).get("iou") or {})
    values = (iou.get("kd - alone") or {}).get("values")
    if not values:
        return []
    seeds = ", ".join(map(str, _seeds(section)))
    return [f"IoU distilled - alone per seed ({seeds}): {', '.join(f'{v:+.4f}' for v in values)}", ""]


def _budget_text(section: dict[str, Any]) -> str:
    b = section.get("budget") or {}
    unlabeled = b.get("unlabeled") or []
    lines = [f"**{b.get('steps')} steps x batch {b.get('batch_size')}** for every run (AdamW lr {b.get('lr')}, "
             f"{b.get('warmup_steps')} warm-up steps)",
             f"labeled fraction {b.get('labeled_fraction', 1.0):g}",
             f"unlabeled images: {', '.join(map(str, unlabeled))}" if unlabeled else "unlabeled images: none"]
    if unlabeled or (b.get("labeled_fraction") or 1.0) < 1:
        lines.append(f"unlabeled share of a distilled batch {b.get('unlabeled_share', 0.5):g}")
    lines.append(f"data seed {b.get('data_seed')} ({b.get('variants')} augmentation views per image)")
    lines += [sentence for _, sentence in _input_settings(b)]
    if b.get("max_minutes"):
        lines.append(f"safety net --max-minutes {b['max_minutes']:g} per run")
    return "; ".join(lines)


def _wall_minutes(section: dict[str, Any], run: str) -> Optional[float]:
    walls = [r.get("wall_s") for key, r in (section.get("runs") or {}).items()
             if key.endswith(f"/{run}") and r.get("wall_s") is not None]
    return statistics.fmean(walls) / 60 if walls else None


def _intro(section: dict[str, Any]) -> list[str]:
    seeds = _seeds(section)
    n = len(seeds)
    walls = ", ".join(f"{title} {m:.1f} min" for run, title in (("kd", "distilled"), ("alone", "alone"))
                      if (m := _wall_minutes(section, run)) is not None)
    size = section.get("size")
    lines = [
        f"From `distill compare` ({section['source']}): {section.get('student')}"
        + (f" at {size}x{size}" if size else "") + f", trained on `{section.get('data')}` twice per seed: "
        f"**distilled** (hard loss on the labeled items + soft loss {section.get('soft_loss')} against the teacher "
        f"{section.get('teacher')}, {section.get('teacher_signal')}) and **alone** (the hard loss on the same "
        "labeled items, no teacher). "
        f"**{n} seed{'s' if n != 1 else ''}** ({', '.join(map(str, seeds))}); the two runs of a seed share data, "
        "labeled subset, augmentation, initial weights and batch order.",
        "",
        f"Budget: {_budget_text(section)}."
        + (f" Wall time per run, mean over the seeds (with the periodic validation): {walls}." if walls else ""),
        "",
    ]
    if n == 1:
        lines += ["_One seed: no spread is given, and a difference of a few hundredths may be seed noise._", ""]
    cache_val = section.get("teacher_cache_val_iou") or {}
    if cache_val:
        lines += ["Teacher validation IoU recorded in its logit cache: "
                  + "; ".join(f"{k} {v:.4f}" for k, v in cache_val.items()) + ".", ""]
    labels_line = teacher_labels_line(section.get("teacher_labels"))
    return lines + ([labels_line, ""] if labels_line else [])


def _training_details(section: dict[str, Any]) -> list[str]:
    rows = [[key, f"{r.get('steps')} / {r.get('planned_steps')} x {r.get('batch_size')}"
             + (" **cut by --max-minutes**" if r.get("stopped_by_budget") else ""),
             None if r.get("wall_s") is None else f"{r['wall_s'] / 60:.1f}", r.get("best_val_iou"), r.get("best_step")]
            for key, r in (section.get("runs") or {}).items()]
    if not rows:
        return []
    return ["<details><summary>Training runs</summary>", "",
            table(["run", "steps done / asked x batch", "wall time (min)", "best val IoU", "at step"], rows, digits=4),
            "", "</details>", ""]


def accuracy_lines(section: Optional[dict[str, Any]], plots: dict[str, str]) -> list[str]:
    lines = [f"## {SECTION_TITLES['accuracy']}", ""]
    if not section:
        return lines + [not_measured(HOW_TO_MEASURE["accuracy"]), ""]
    if is_old_format(section):
        return lines + old_accuracy_lines(section, plots)
    if "summary" not in section:
        return lines + [not_measured(HOW_TO_MEASURE["accuracy"], "the cached result is in the old single-seed "
                                     "`distill compare` format"), ""]
    lines += [section["note"], ""] if section.get("note") else []
    lines += _cut_warning(section) + _intro(section)
    lines += ["IoU and F1: CrackSAM convention (crack class, threshold 0.5, mean over images). ODS F, mIoU: DeepCrack "
              "convention (threshold sweep; mIoU of crack and background at the ODS threshold). Students: their "
              "bundles on OpenVINO; the teacher in torch f32. mean ± sd: over the seeds (sample standard deviation); "
              "distilled - alone: the difference within each seed, then mean ± sd.", ""]
    lines += _tables(section) + _training_details(section)
    if plots.get("accuracy"):
        lines += [f"![crack IoU per noise case, mean ± sd over the seeds]({plots['accuracy']})", ""]
    fig = section.get("figure") or {}
    if plots.get("accuracy_masks"):
        seed = fig.get("seed", _seeds(section)[0] if _seeds(section) else 0)
        lines += [f"![images of {fig.get('eval_set')}: image, ground truth, distilled (seed {seed}), alone (seed {seed})]"
                  f"({plots['accuracy_masks']})", ""]
    elif fig.get("reason"):
        lines += [f"_mask figure not drawn: {fig['reason']}_", ""]
    for i, more in enumerate(section.get("more") or [], start=1):
        lines += more_lines(more, i)
    return lines


def _tables(section: dict[str, Any]) -> list[str]:
    """One table per evaluation set and noise case, each followed by the per-seed differences."""
    lines: list[str] = []
    for s in section.get("eval_sets") or []:
        for case in section.get("noise") or []:
            lines += [f"Evaluation set `{s.get('name')}` ({s.get('path')}, split `{s.get('split')}`, {s.get('images')} "
                      f"images), noise `{case}`:", "",
                      table(["model", "runtime"] + [t for _, t in METRIC_COLUMNS], accuracy_rows(section, s["name"], case),
                            digits=4), "", *_per_seed(section, s["name"], case)]
    return lines


def _input_settings(budget: dict[str, Any]) -> list[tuple[str, str]]:
    """The settings both runs of a seed share that a heading must name, when set (photometric noise, random crop,
    validation at each image's own size), as (short label for a heading, sentence for the budget line)."""
    out = []
    if budget.get("photometric"):
        short = f"{budget['photometric']:.0%} of the training inputs noised in colour and sharpness"
        out.append((short, f"**{short}** (`--photometric`; masks and teacher logits those of the clean view)"))
    if budget.get("crop"):
        short = f"random {budget['crop']} px crops"
        out.append((short, f"{short} (`--crop`)"))
    if budget.get("val_basis") == "image":
        short = "best.pt by validation at each image's own size (`--val-basis image`)"
        out.append((short, "best.pt picked by validation at each image's own size, as the test scores it "
                           "(`--val-basis image`)"))
    return out


def more_lines(section: dict[str, Any], index: int) -> list[str]:
    """A further comparison (`bench-report --compare A B ...`: B, ...) as subsection 4.<index>: its setup, tables
    and training runs, no figure. A hand-written `note` in the section (what the compare record cannot say: the
    machine, the commit, runs reused from another comparison) follows the heading."""
    b = section.get("budget") or {}
    fraction = b.get("labeled_fraction", 1.0) or 1.0
    labels = "all labels" if fraction >= 1 else f"{fraction:.0%} of the labels, the rest unlabeled"
    seeds = b.get("seeds") or []
    labels += f", {len(seeds)} seed{'s' * (len(seeds) != 1)}" if seeds else ""  # 3 or 5 seeds of one setting differ
    teacher = f", teacher {section.get('teacher')} ({section['teacher_signal']})" if section.get("teacher_signal") else ""
    inputs = "".join(f", {short}" for short, _ in _input_settings(b))
    size = section.get("size")
    student = f"{section.get('student')} at {size}x{size}, " if section.get("student") and size else ""  # 224 vs 288 runs
    lines = [f"### 4.{index} {student}{labels}{teacher}, soft loss {section.get('soft_loss')}{inputs}", ""]
    lines += [section["note"], ""] if section.get("note") else []
    return lines + _cut_warning(section) + _intro(section) + _tables(section) + _training_details(section)


def _cut_warning(section: dict[str, Any]) -> list[str]:
    """The loud line when the --max-minutes safety net cut a run of this comparison (none otherwise)."""
    cut = section.get("cut_by_max_minutes") or []
    if not cut:
        return []
    return ["**WARNING: the --max-minutes safety net cut " + "; ".join(cut) + ". These runs are shorter than "
            "asked: the comparison is not on equal budgets and depends on the machine's speed.**", ""]
