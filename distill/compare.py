"""`distill compare`: does distillation help? The same student trained twice on the same budget.

One run learns from the ground truth and the teacher (CWD, teacher logits read from a cache so
the run does not pay for the teacher), the other from the ground truth only (`--teacher none`).
Everything else is identical: data, augmentation views, sampling order, seed, initial weights,
steps, batch, learning-rate schedule, loss weights. Both students are exported to bundles and the
BUNDLES are scored with `distill eval`'s loop on the test split for every noise case; the teacher
is scored by the same loop (torch, f32) for reference.

    OUT/teacher_cache/     teacher logits (unless --teacher-cache is given)
    OUT/teacher_eval/      metrics.yaml, metrics.txt, overlays/
    OUT/kd/, OUT/none/     distill train output + run.yaml (steps, wall time) + bundle/ + eval/ [+ eval_int8/]
    OUT/compare.yaml, OUT/compare.md   the side-by-side table

Every stage reuses what an earlier (possibly crashed) compare left: a finished run (run.yaml),
an unfinished one (last.pt: resumed), a bundle, an evaluation of that bundle.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import yaml

from crackedge.errors import ConfigError
from crackedge.fileio import atomic_write_text

if TYPE_CHECKING:
    from distill.export.bundle_export import ExportOptions

log = logging.getLogger(__name__)

RUNS = ("kd", "none")  # student + CWD, student alone
RUN_YAML = "run.yaml"
MAX_AUTO_VARIANTS = 8


@dataclass
class CompareOptions:
    data: Path
    out: Path
    teacher_checkpoint: Optional[Path] = None
    sam_checkpoint: Optional[Path] = None
    teacher_cache: Optional[Path] = None
    online_teacher: bool = False  # run the teacher on every batch instead of caching its logits
    student: str = "hrnet_w18"
    backbone_weights: Optional[Path] = None
    size: int = 448
    steps: int = 200
    max_minutes: Optional[float] = None  # per run: a run that hits it stops early (its steps are reported)
    batch_size: int = 8
    lr: float = 1e-3
    warmup_steps: Optional[int] = None  # default: steps // 10
    eval_every: Optional[int] = None  # default: steps // 4
    seed: int = 0
    variants: Optional[int] = None  # augmentation views per image; default: what the budget covers (<= 8)
    cwd_weight: float = 5.0
    temperature: float = 3.0
    int8: bool = False
    int8_full_bias_correction: bool = False  # NNCF full bias correction (slower; see docs/distill.md)
    int8_ranges: str = "histogram"  # INT8 activation ranges (distill.export.openvino_export.ACTIVATION_RANGES)
    calib_images: int = 20
    parity_images: int = 8
    split: str = "test"
    noise: tuple[str, ...] = ("clean", "dim", "blurry")
    limit: Optional[int] = None  # evaluate the first N test images only
    threads: Optional[int] = None
    device: str = "cpu"
    workers: int = 0
    progress: bool = True


@dataclass
class RunRecord:
    """What one training run did (OUT/<run>/run.yaml)."""

    name: str
    teacher: Optional[str]
    steps: int
    batch_size: int
    wall_s: float
    best_val_iou: float
    best_step: int
    stopped_by_budget: bool
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CompareResult:
    runs: dict[str, RunRecord]
    bundles: dict[str, Path]
    metrics: dict[str, dict[str, dict[str, float]]]  # row label -> noise case -> metrics
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # row label -> description
    table: str = ""


def _check(opts: CompareOptions) -> None:
    if opts.teacher_checkpoint is None and opts.teacher_cache is None:
        raise ConfigError("distill compare needs a teacher: --teacher-checkpoint PATH (its logits are cached once) "
                          "or --teacher-cache DIR (from `teacher cache-logits`)")
    if opts.online_teacher and opts.teacher_checkpoint is None:
        raise ConfigError("--online-teacher runs the teacher on every batch: pass --teacher-checkpoint PATH")
    if opts.size % 32:
        raise ConfigError(f"--size {opts.size} must be a multiple of 32 (the students' total stride)")
    if opts.steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {opts.steps}")


def _n_train(data: Path) -> int:
    from crackedge.data.layout import CrackDataset

    return len(CrackDataset.open(data).names("train"))


def auto_variants(steps: int, batch_size: int, n_train: int) -> int:
    """Augmentation views per image: one per epoch the budget covers, at most MAX_AUTO_VARIANTS."""
    return max(1, min(MAX_AUTO_VARIANTS, math.ceil(steps * batch_size / max(1, n_train))))


def prepare_teacher_cache(opts: CompareOptions, variants: int) -> tuple[Optional[Path], str]:
    """(cache folder, or None for an online teacher; teacher name). The teacher's logits are cached
    into OUT/teacher_cache once (reused when that cache fits this comparison)."""
    from crackedge.data.logit_cache import LogitCache
    from distill.logit_cache_setup import ensure_logit_cache, load_checked_teacher

    if opts.teacher_cache is not None:
        return Path(opts.teacher_cache), str(LogitCache.open(opts.teacher_cache).meta["teacher"])
    model, name = load_checked_teacher(opts.teacher_checkpoint, opts.sam_checkpoint, opts.size, opts.device)
    if opts.online_teacher:
        return None, name
    cache = ensure_logit_cache(model, opts.teacher_checkpoint, opts.data, opts.size, opts.seed, variants,
                               Path(opts.out) / "teacher_cache", opts.device, opts.workers, opts.progress)
    return cache, name


def _cache_variants(cache_dir: Path) -> int:
    from crackedge.data.logit_cache import LogitCache

    return int(LogitCache.open(cache_dir).meta["variants"])


def train_config(opts: CompareOptions, run: str, teacher_name: Optional[str], cache: Optional[Path], variants: int):
    """The DistillTrainConfig of run `kd` or `none`: identical except for the teacher section."""
    from distill.logit_cache_setup import teacher_kind
    from distill.train_config import DistillTrainConfig

    teacher: dict[str, Any] = {"kind": "none"}
    if run == "kd":
        teacher = {"kind": teacher_kind(teacher_name or ""),
                   "checkpoint": str(opts.teacher_checkpoint) if opts.teacher_checkpoint else None,
                   "sam_checkpoint": str(opts.sam_checkpoint) if opts.sam_checkpoint else None,
                   "cache": str(cache) if cache else None}
    return DistillTrainConfig.model_validate({
        "student": {"name": opts.student, "size": opts.size,
                    "weights": str(opts.backbone_weights) if opts.backbone_weights else None},
        "teacher": teacher,
        "data": {"root": str(opts.data), "seed": opts.seed, "variants": variants, "augment": True},
        "loss": {"cwd_weight": opts.cwd_weight, "temperature": opts.temperature},
        "optim": {"steps": opts.steps, "batch_size": opts.batch_size, "lr": opts.lr,
                  "warmup_steps": opts.warmup_steps if opts.warmup_steps is not None else opts.steps // 10,
                  "eval_every": opts.eval_every or max(1, opts.steps // 4), "max_minutes": opts.max_minutes,
                  "workers": opts.workers},
        "device": opts.device,
    })


def train_run(opts: CompareOptions, run: str, cfg) -> RunRecord:
    """Train one run into OUT/<run> (or reuse a finished one; resume an unfinished one)."""
    from distill.train import train_student

    run_dir = Path(opts.out) / run
    _check_same_config(run_dir, cfg)
    done = run_dir / RUN_YAML
    if done.is_file() and (run_dir / "best.pt").is_file():
        record = RunRecord(**yaml.safe_load(done.read_text(encoding="utf-8")))
        log.info("run %s: reusing %s (%d steps)", run, run_dir, record.steps)
        return record
    resume = (run_dir / "last.pt").is_file()
    t0 = time.monotonic()
    result = train_student(cfg, run_dir, resume=resume, progress=opts.progress)
    record = RunRecord(name=run, teacher=cfg.teacher.kind if cfg.teacher.kind != "none" else None,
                       steps=result.last_step, batch_size=cfg.optim.batch_size,
                       wall_s=round(time.monotonic() - t0, 1), best_val_iou=round(float(result.best_iou), 4),
                       best_step=result.best_step, stopped_by_budget=result.stopped_by_budget, resumed=resume)
    _write_yaml(done, record.to_dict())
    return record


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_same_config(run_dir: Path, cfg) -> None:
    """ConfigError when run_dir holds a run made with another configuration (it would be reused or resumed)."""
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        return
    saved = _flatten(yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {})
    wanted = _flatten(cfg.model_dump(mode="json"))
    differ = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    if differ:
        details = ", ".join(f"{k}: {saved.get(k)!r} there, {wanted.get(k)!r} now" for k in differ)
        raise ConfigError(f"{run_dir} holds a run with other settings ({details}); "
                          "pass another --out, or delete that folder to train again")


def _bundle_matches(bundle: Path, checkpoint: Path, export: ExportOptions) -> bool:
    """True when `bundle` verifies, was exported from `checkpoint` (SHA-256 in its notes) and has INT8
    made with the same settings when `export.int8` asks for it."""
    from crackedge.fileio import sha256_file
    from crackedge.runtime.metadata import BundleError, load_metadata, verify_files
    from distill.export.bundle_export import int8_settings

    if not (bundle / "metadata.yaml").is_file():
        return False
    try:
        meta = load_metadata(bundle)
        verify_files(bundle, meta)
    except BundleError as err:
        log.warning("bundle %s unusable (%s); exporting again", bundle, err)
        return False
    from_checkpoint = sha256_file(checkpoint) in meta.notes.get("checkpoint", "")
    same_int8 = "ir_int8" in meta.models and meta.notes.get("int8", "").startswith(int8_settings(export) + ",")
    return from_checkpoint and (not export.int8 or same_int8)


def export_run(opts: CompareOptions, run: str) -> Path:
    """OUT/<run>/bundle from OUT/<run>/best.pt (reused when it exists, its files verify and its INT8
    settings are the asked ones)."""
    from distill.export.bundle_export import ExportOptions, export_bundle

    run_dir = Path(opts.out) / run
    bundle = run_dir / "bundle"
    export = ExportOptions(
        int8=opts.int8, int8_fast_bias_correction=not opts.int8_full_bias_correction,
        int8_activation_ranges=opts.int8_ranges, calib_data=Path(opts.data), parity_data=Path(opts.data),
        parity_split=opts.split, calib_images=opts.calib_images, parity_images=opts.parity_images,
        input_size=(opts.size, opts.size), threads=opts.threads or 2, force=True, progress=opts.progress)
    if _bundle_matches(bundle, run_dir / "best.pt", export):
        log.info("run %s: reusing bundle %s", run, bundle)
        return bundle
    export_bundle(run_dir / "best.pt", bundle, export)
    return bundle


def _reusable(metrics_yaml: Path, opts: CompareOptions, **expect: Any) -> Optional[dict[str, dict[str, float]]]:
    """The metrics of an earlier evaluation when it was made with the same split, cases, limit and `expect`."""
    if not metrics_yaml.is_file():
        return None
    saved = yaml.safe_load(metrics_yaml.read_text(encoding="utf-8")) or {}
    metrics = saved.get("metrics") or {}
    same = (saved.get("split") == opts.split and all(c in metrics for c in opts.noise)
            and saved.get("limit") == opts.limit and all(saved.get(k) == v for k, v in expect.items()))
    return {c: metrics[c] for c in opts.noise} if same else None


def _eval_options(opts: CompareOptions, out: Path):
    from crackedge.evaluation import EvalOptions

    return EvalOptions(split=opts.split, noise=tuple(opts.noise), out_dir=out, limit=opts.limit, progress=opts.progress)


def evaluate_run(opts: CompareOptions, run: str, bundle: Path, model: str = "ir_fp16") -> dict[str, dict[str, float]]:
    """The bundle scored on the test split, every noise case, into OUT/<run>/eval[_int8] (as `distill eval`)."""
    from crackedge.evaluation.bundle import evaluate_bundle
    from crackedge.runtime.metadata import load_metadata
    from crackedge.runtime.options import RuntimeOptions

    out = Path(opts.out) / run / ("eval" if model == "ir_fp16" else "eval_int8")
    created = load_metadata(bundle).created
    saved = _reusable(out / "metrics.yaml", opts, bundle_created=created, model_file=_model_file(bundle, model))
    if saved is not None:
        log.info("run %s: reusing %s", run, out / "metrics.yaml")
        return saved
    runtime = RuntimeOptions(model=model, threads=opts.threads, performance_hint="LATENCY", num_requests=1)
    return evaluate_bundle(bundle, opts.data, _eval_options(opts, out), runtime).metrics


def _model_file(bundle: Path, model: str) -> str:
    from crackedge.runtime.metadata import load_metadata

    return load_metadata(bundle).models.get(model, "")


def evaluate_teacher(opts: CompareOptions) -> Optional[dict[str, dict[str, float]]]:
    """The teacher scored like a bundle (same evaluator, torch f32) into OUT/teacher_eval; None without a checkpoint."""
    import torch

    from crackedge.evaluation.loop import evaluate
    from crackedge.fileio import sha256_file
    from teacher.api import load_teacher
    from teacher.predictor import TeacherPredictor

    if opts.teacher_checkpoint is None:
        log.info("no --teacher-checkpoint: the teacher row is left out (a cache holds train-split logits only)")
        return None
    out = Path(opts.out) / "teacher_eval"
    sha = sha256_file(Path(opts.teacher_checkpoint))
    saved = _reusable(out / "metrics.yaml", opts, checkpoint_sha256=sha)
    if saved is not None:
        log.info("reusing %s", out / "metrics.yaml")
        return saved
    if opts.threads:
        torch.set_num_threads(opts.threads)
    model = load_teacher(opts.teacher_checkpoint, opts.sam_checkpoint, "cpu")
    source = {"checkpoint": str(opts.teacher_checkpoint), "checkpoint_sha256": sha, "runtime": "torch f32"}
    return evaluate(TeacherPredictor(model), opts.data, _eval_options(opts, out), source).metrics


def _write_yaml(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def run_compare(opts: CompareOptions) -> CompareResult:
    """Cache (once), train both runs, export both, evaluate both bundles and the teacher, write the report."""
    import torch

    from distill.compare_report import build_rows, format_markdown, report_dict

    _check(opts)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    if opts.teacher_cache is not None:
        variants = _cache_variants(opts.teacher_cache)
    else:
        variants = opts.variants or auto_variants(opts.steps, opts.batch_size, _n_train(opts.data))
    cache, teacher_name = prepare_teacher_cache(opts, variants)

    runs: dict[str, RunRecord] = {}
    bundles: dict[str, Path] = {}
    for run in RUNS:
        runs[run] = train_run(opts, run, train_config(opts, run, teacher_name, cache, variants))
        bundles[run] = export_run(opts, run)
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    teacher_metrics = evaluate_teacher(opts)
    if teacher_metrics is not None:
        metrics["teacher"] = teacher_metrics
    for run in RUNS:
        metrics[run] = evaluate_run(opts, run, bundles[run])
        if opts.int8:
            metrics[f"{run}_int8"] = evaluate_run(opts, run, bundles[run], "ir_int8")

    rows = build_rows(teacher_name, opts, bundles, runs)
    report = report_dict(opts, teacher_name, variants, cache, runs, bundles, metrics, rows)
    _write_yaml(out / "compare.yaml", report)
    table = format_markdown(report)
    atomic_write_text(out / "compare.md", table)
    return CompareResult(runs=runs, bundles=bundles, metrics=metrics, rows=rows, table=table)
