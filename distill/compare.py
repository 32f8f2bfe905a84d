"""`distill compare`: does distillation pay? The same student trained with and without the teacher, on
several seeds, every run exported to a bundle and the BUNDLES scored on every evaluation set.

For each seed S of `seeds` two runs share everything but the teacher: data, labeled subset and
augmentation views (the data seed), steps, batch, schedule, and S itself (initial weights, batch order):

    kd      hard loss on the labeled items + the soft loss against the teacher on every item: labeled,
            label-hidden (beyond --labeled-fraction) and --unlabeled images
    alone   the hard loss on the same labeled items only; nothing else is used

The teacher signal is a logit cache (made once into OUT/teacher_cache from --teacher-checkpoint, or
given with --teacher-cache), or the teacher run online. The teacher itself is scored by the same
evaluator (torch f32) where its checkpoint(s) can be found.

    OUT/teacher_cache/                     teacher logits (unless --teacher-cache is given)
    OUT/teacher_eval/<set>/                metrics.yaml, metrics.txt, overlays
    OUT/seed<S>/kd/, OUT/seed<S>/alone/    distill train output (budget.yaml: steps asked and done)
                                           + bundle/ + eval/<set>/ [+ eval_int8/<set>/]
    OUT/compare.yaml, OUT/compare.md       per-seed figures, mean ± spread, paired differences

Every stage reuses what an earlier (possibly crashed) compare left: a finished run, an unfinished one
(resumed), a bundle, an evaluation of that bundle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import yaml

from crackedge.errors import ConfigError
from crackedge.fileio import atomic_write_text
from distill.compare_options import (
    CompareOptions,
    RunRecord,
    parse_eval_set,
)

if TYPE_CHECKING:
    from distill.train_config import DistillTrainConfig

log = logging.getLogger(__name__)

RUNS = ("kd", "alone")


@dataclass
class CompareResult:
    runs: dict[str, RunRecord]  # "seed0/kd" -> record
    metrics: dict[str, dict[str, dict[str, dict[str, float]]]]  # row -> eval set -> noise case -> metrics
    report: dict[str, Any] = field(default_factory=dict)
    table: str = ""


def _check(opts: CompareOptions) -> None:
    t = opts.train.teacher
    if t.checkpoint is None and t.cache is None:
        raise ConfigError("distill compare needs a teacher: --teacher-checkpoint PATH (its logits are cached once) "
                          "or --teacher-cache DIR (from `teacher cache-logits`)")
    if opts.online_teacher and t.checkpoint is None:
        raise ConfigError("--online-teacher runs the teacher on every batch: pass --teacher-checkpoint PATH")
    if not opts.train.optim.steps:
        raise ConfigError("distill compare budgets in steps: pass --steps N (the same for every run)")
    if not opts.seeds:
        raise ConfigError("pass at least one seed (--seeds 0 1 2)")


def run_config(base: "DistillTrainConfig", run: str, seed: int, cache: Optional[Path]) -> "DistillTrainConfig":
    """The config of run `kd` or `alone` for `seed`: identical but for the teacher (and, alone, the
    items it cannot use without one)."""
    update: dict[str, Any] = {"seed": seed}
    if run == "kd":
        update["teacher"] = base.teacher.model_copy(update={"cache": str(cache) if cache else None})
    else:  # the soft-loss settings mean nothing without a teacher: defaults, so one alone run serves every variant
        from distill.train_config import DistillLossConfig

        update["teacher"] = base.teacher.model_copy(update={"kind": "none", "checkpoint": None, "cache": None,
                                                            "sam_checkpoint": None})
        update["data"] = base.data.model_copy(update={"unlabeled": []})
        update["loss"] = DistillLossConfig()
    return base.model_copy(update=update)


def run_compare(opts: CompareOptions) -> CompareResult:
    """Cache (once), train every seed's two runs, export, score bundles and teacher, write the report."""
    import torch

    from distill.compare_report import format_markdown, report_dict
    from distill.compare_runs import (
        evaluate_run,
        evaluate_teacher,
        export_run,
        prepare_teacher,
        train_run,
    )

    _check(opts)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    if not opts.eval_sets:
        opts.eval_sets = [parse_eval_set(opts.train.data.root, opts.split, set())]
    base, cache, teacher = prepare_teacher(opts)
    runs: dict[str, RunRecord] = {}
    metrics: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    teacher_metrics = evaluate_teacher(opts, teacher)
    if teacher_metrics:
        metrics["teacher"] = teacher_metrics
    for seed in opts.seeds:
        for run in RUNS:
            key = f"seed{seed}/{run}"
            run_dir = out / f"seed{seed}" / run
            runs[key] = train_run(run_config(base, run, seed, cache), run_dir, run, opts.progress)
            bundle = export_run(opts, run_dir)
            metrics[key] = {s.name: evaluate_run(opts, bundle, run_dir / "eval" / s.name, s) for s in opts.eval_sets}
            if opts.int8:
                metrics[f"{key}/int8"] = {s.name: evaluate_run(opts, bundle, run_dir / "eval_int8" / s.name, s, "ir_int8")
                                          for s in opts.eval_sets}
    report = report_dict(opts, base, cache, teacher, runs, metrics, teacher_labels_note(base, cache, teacher.name))
    _write_yaml(out / "compare.yaml", report)
    table = format_markdown(report)
    atomic_write_text(out / "compare.md", table)
    return CompareResult(runs=runs, metrics=metrics, report=report, table=table)


def teacher_labels_note(base: "DistillTrainConfig", cache: Optional[Path], teacher: str) -> Optional[dict[str, Any]]:
    """compare.yaml's `teacher_labels`: whether the teacher trained on the masks --labeled-fraction hides
    (None when nothing is hidden)."""
    from crackedge.data.layout import CrackDataset
    from distill.teacher_labels import check_teacher_labels, log_teacher_labels

    names = CrackDataset.open(base.data.root).names(base.data.train_split)
    check = check_teacher_labels(run_config(base, "kd", base.seed or 0, cache), names)
    log_teacher_labels(check, teacher)
    return None if check is None else {**check.as_dict(), "text": check.text(teacher)}


def _write_yaml(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
