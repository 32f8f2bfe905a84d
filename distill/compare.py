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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import yaml

from crackedge.errors import ConfigError
from crackedge.fileio import atomic_write_text

if TYPE_CHECKING:
    from distill.train_config import DistillTrainConfig

log = logging.getLogger(__name__)

RUNS = ("kd", "alone")
MAX_AUTO_VARIANTS = 8


@dataclass(frozen=True)
class EvalSet:
    """A canonical dataset the bundles are scored on: `name` labels it in the report and in OUT."""

    path: Path
    split: Optional[str]  # None: every image
    name: str


def parse_eval_set(text: str, default_split: Optional[str], taken: set[str]) -> EvalSet:
    """`DIR` (its `default_split` when it has one, else every image) or `DIR:SPLIT` (`DIR:all`)."""
    from crackedge.data.layout import CrackDataset

    path_text, _, split = str(text).rpartition(":") if ":" in str(text) and not Path(text).exists() else (text, "", "")
    path = Path(path_text)
    ds = CrackDataset.open(path)
    if not split:
        split = default_split if default_split in ds.splits else "all"
    if split != "all" and split not in ds.splits:
        raise ConfigError(f"--eval-data {text}: {path} has no split {split!r} (it has: {', '.join(ds.splits) or 'none'})")
    name = path.name or "data"
    while name in taken:
        name += "_"
    return EvalSet(path, None if split == "all" else split, name)


@dataclass
class CompareOptions:
    train: "DistillTrainConfig"  # the distilled run; the alone run is derived from it
    out: Path
    seeds: tuple[int, ...] = (0,)
    eval_sets: list[EvalSet] = field(default_factory=list)  # default: the training data's test split
    split: str = "test"
    noise: tuple[str, ...] = ("clean", "dim", "blurry")
    online_teacher: bool = False
    int8: bool = False
    int8_full_bias_correction: bool = False
    int8_ranges: str = "histogram"
    calib_images: int = 20
    parity_images: int = 8
    limit: Optional[int] = None
    threads: Optional[int] = None
    progress: bool = True


@dataclass
class RunRecord:
    """What one training run did (from its budget.yaml and best.pt)."""

    name: str
    seed: int
    teacher: Optional[str]
    planned_steps: int
    steps: int
    batch_size: int
    wall_s: float
    best_val_iou: float
    best_step: int
    stopped_by_budget: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CompareResult:
    runs: dict[str, RunRecord]  # "seed0/kd" -> record
    metrics: dict[str, dict[str, dict[str, dict[str, float]]]]  # row -> eval set -> noise case -> metrics
    report: dict[str, Any] = field(default_factory=dict)
    table: str = ""


def auto_variants(steps: int, batch_size: int, n_train: int) -> int:
    """Augmentation views per image: one per epoch the budget covers, at most MAX_AUTO_VARIANTS."""
    return max(1, min(MAX_AUTO_VARIANTS, math.ceil(steps * batch_size / max(1, n_train))))


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
    from distill.compare_runs import evaluate_run, evaluate_teacher, export_run, prepare_teacher, train_run

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
    report = report_dict(opts, base, cache, teacher, runs, metrics)
    _write_yaml(out / "compare.yaml", report)
    table = format_markdown(report)
    atomic_write_text(out / "compare.md", table)
    return CompareResult(runs=runs, metrics=metrics, report=report, table=table)


def _write_yaml(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
