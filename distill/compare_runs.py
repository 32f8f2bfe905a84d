"""The stages of `distill compare`, each reusing what an earlier compare left in OUT."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import yaml

from crackedge.errors import ConfigError

if TYPE_CHECKING:
    from distill.compare_options import CompareOptions, EvalSet, RunRecord
    from distill.train_config import DistillTrainConfig

log = logging.getLogger(__name__)


@dataclass
class TeacherInfo:
    """The teacher as the report names it, and how to score it (when its checkpoints can be found)."""

    name: str
    signal: str  # "logit cache DIR" or "online"
    checkpoints: list[Path] = field(default_factory=list)
    sam_checkpoint: Optional[Path] = None
    tta_views: int = 1
    cache_val: dict[str, float] = field(default_factory=dict)  # the cache's recorded validation IoUs


def _cached_teacher_info(cache_dir: Path) -> TeacherInfo:
    """The teacher a logit cache was made from: its checkpoints (when they still hash the same), TTA, val IoUs."""
    from crackedge.data.logit_cache import LogitCache
    from crackedge.fileio import sha256_file

    meta = LogitCache.open(cache_dir).meta
    paths = [Path(p) for p in meta.get("checkpoint_paths") or []]
    hashes = meta.get("checkpoints_sha256") or []
    found = [p for p, h in zip(paths, hashes) if p.is_file() and sha256_file(p) == h]
    if len(found) != len(paths) or not paths:
        log.warning("the teacher checkpoints of cache %s are not all where it recorded them; the teacher row is "
                    "left out", cache_dir)
        found = []
    sam = meta.get("sam_checkpoint")
    return TeacherInfo(str(meta["teacher"]), f"logit cache {cache_dir}", found, Path(sam) if sam else None,
                       int(meta.get("tta_views", 1)), dict((meta.get("teacher_val") or {}).get("crack_iou") or {}))


def prepare_teacher(opts: "CompareOptions") -> tuple["DistillTrainConfig", Optional[Path], TeacherInfo]:
    """(base config with teacher.kind resolved, cache folder or None when online, teacher info). A cache is
    made into OUT/teacher_cache once from --teacher-checkpoint, and reused when it fits."""
    from distill.compare_options import auto_variants
    from distill.logit_cache_setup import ensure_logit_cache, load_checked_teacher
    from distill.train import resolve_teacher_kind, unlabeled_files

    base = resolve_teacher_kind(opts.train)
    t, d = base.teacher, base.data
    size = base.student.size or 448
    if t.cache is not None:  # both runs see the cache's augmentation views (the alone run included)
        from crackedge.data.logit_cache import LogitCache

        variants = d.variants or int(LogitCache.open(t.cache).meta["variants"])
        base = base.model_copy(update={"data": d.model_copy(update={"variants": variants})})
        return base, Path(t.cache), _cached_teacher_info(Path(t.cache))
    checkpoint = Path(t.checkpoint)  # type: ignore[arg-type]
    sam = Path(t.sam_checkpoint) if t.sam_checkpoint else None
    model, name = load_checked_teacher(checkpoint, sam, size, "cpu")
    info = TeacherInfo(name, "online (the teacher runs on every batch)", [checkpoint], sam)
    if opts.online_teacher:
        return base, None, info
    from crackedge.data.layout import CrackDataset

    n_train = len(CrackDataset.open(d.root).names(d.train_split))
    variants = d.variants or auto_variants(base.optim.steps or 1, base.optim.batch_size, n_train)
    base = base.model_copy(update={"data": d.model_copy(update={"variants": variants})})
    cache = ensure_logit_cache(model, checkpoint, Path(d.root), size, d.seed, variants, Path(opts.out) / "teacher_cache",
                               "cpu", base.optim.workers, opts.progress, unlabeled=unlabeled_files(base),
                               split=d.train_split)
    info.signal = f"logit cache {cache}"
    return base, cache, info


def _reusable(metrics_yaml: Path, opts: "CompareOptions", eval_set: "EvalSet", **expect: Any) -> Optional[dict]:
    """The metrics of an earlier evaluation when it was made with the same split, cases, limit and `expect`."""
    if not metrics_yaml.is_file():
        return None
    saved = yaml.safe_load(metrics_yaml.read_text(encoding="utf-8")) or {}
    metrics = saved.get("metrics") or {}
    same = (saved.get("split") == (eval_set.split or "all") and all(c in metrics for c in opts.noise)
            and saved.get("limit") == opts.limit and saved.get("data") == str(eval_set.path)
            and all(saved.get(k) == v for k, v in expect.items()))
    return {c: metrics[c] for c in opts.noise} if same else None


def _eval_options(opts: "CompareOptions", out: Path, eval_set: "EvalSet"):
    from crackedge.evaluation import EvalOptions

    return EvalOptions(split=eval_set.split, noise=tuple(opts.noise), out_dir=out, limit=opts.limit,
                       progress=opts.progress, overlays=4)


def evaluate_teacher(opts: "CompareOptions", teacher: TeacherInfo) -> dict[str, dict[str, dict[str, float]]]:
    """The teacher (ensemble, TTA as cached) scored like the bundles into OUT/teacher_eval/<set>; {} when its
    checkpoints are unknown."""
    from crackedge.evaluation.loop import evaluate
    from crackedge.fileio import sha256_file
    from teacher.api import load_teacher
    from teacher.predictor import TeacherPredictor

    if not teacher.checkpoints:
        return {}
    hashes = [sha256_file(c) for c in teacher.checkpoints]
    results: dict[str, dict[str, dict[str, float]]] = {}
    predictor = None
    for s in opts.eval_sets:
        out = Path(opts.out) / "teacher_eval" / s.name
        saved = _reusable(out / "metrics.yaml", opts, s, checkpoints_sha256=hashes, tta_views=teacher.tta_views)
        if saved is not None:
            results[s.name] = saved
            continue
        if predictor is None:
            models = [load_teacher(c, teacher.sam_checkpoint, "cpu") for c in teacher.checkpoints]
            predictor = TeacherPredictor(models, "cpu", tta_views=teacher.tta_views)
        source = {"checkpoints": [str(c) for c in teacher.checkpoints], "checkpoints_sha256": hashes,
                  "tta_views": teacher.tta_views, "runtime": "torch f32"}
        results[s.name] = evaluate(predictor, s.path, _eval_options(opts, out, s), source).metrics
    return results


def train_run(cfg: "DistillTrainConfig", run_dir: Path, name: str, progress: bool) -> "RunRecord":
    """Train into run_dir (or reuse a finished run; resume an unfinished one) and return its record."""
    from crackedge.training.loop import read_budget
    from distill.checkpoints import load_student_checkpoint
    from distill.compare_options import RunRecord
    from distill.train import train_student

    _check_same_config(run_dir, cfg)
    budget = read_budget(run_dir)
    if not (budget and (run_dir / "best.pt").is_file()):
        train_student(cfg, run_dir, resume=(run_dir / "last.pt").is_file(), progress=progress)
        budget = read_budget(run_dir)
    else:
        log.info("run %s: reusing %s (%d steps)", name, run_dir, budget["steps"])
    best = load_student_checkpoint(run_dir / "best.pt")
    return RunRecord(name=name, seed=cfg.run_seed, teacher=best.teacher, planned_steps=int(budget["planned_steps"]),
                     steps=int(budget["steps"]), batch_size=cfg.optim.batch_size, wall_s=float(budget["wall_s"]),
                     best_val_iou=round(float(best.validation_metrics.get("iou", float("nan"))), 4),
                     best_step=int(best.step), stopped_by_budget=bool(budget["stopped_by_budget"]))


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_same_config(run_dir: Path, cfg: "DistillTrainConfig") -> None:
    """ConfigError when run_dir holds a run made with another configuration (it would be reused or resumed)."""
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        return
    raw = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
    try:  # a setting added after that run was made reads as its default, which is what the run did
        raw = type(cfg).model_validate(raw).model_dump(mode="json")
    except ValueError:
        pass  # unknown or invalid keys: compared as they are, and named below
    saved = _flatten(raw)
    wanted = _flatten(cfg.model_dump(mode="json"))
    differ = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    if differ:
        details = ", ".join(f"{k}: {saved.get(k)!r} there, {wanted.get(k)!r} now" for k in differ)
        raise ConfigError(f"{run_dir} holds a run with other settings ({details}); "
                          "pass another --out, or delete that folder to train again")


def _export_options(opts: "CompareOptions"):
    from distill.export.bundle_export import ExportOptions

    data = Path(opts.train.data.root)
    size = opts.train.student.size
    return ExportOptions(
        int8=opts.int8, int8_fast_bias_correction=not opts.int8_full_bias_correction,
        int8_activation_ranges=opts.int8_ranges, calib_data=data, parity_data=data, parity_split=opts.split,
        calib_images=opts.calib_images, parity_images=opts.parity_images,
        input_size=(size, size) if size else None, threads=opts.threads or 2, force=True, progress=opts.progress)


def _bundle_matches(bundle: Path, checkpoint: Path, export: Any) -> bool:
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


def export_run(opts: "CompareOptions", run_dir: Path) -> Path:
    """run_dir/bundle from run_dir/best.pt (reused when it exists, verifies and has the asked INT8 settings)."""
    from distill.export.bundle_export import export_bundle

    bundle = run_dir / "bundle"
    export = _export_options(opts)
    if _bundle_matches(bundle, run_dir / "best.pt", export):
        log.info("reusing bundle %s", bundle)
        return bundle
    export_bundle(run_dir / "best.pt", bundle, export)
    return bundle


def evaluate_run(opts: "CompareOptions", bundle: Path, out: Path, eval_set: "EvalSet",
                 model: str = "ir_fp16") -> dict[str, dict[str, float]]:
    """The bundle scored on `eval_set` for every noise case into `out` (as `distill eval` does)."""
    from crackedge.evaluation.bundle import evaluate_bundle
    from crackedge.runtime.metadata import load_metadata
    from crackedge.runtime.options import RuntimeOptions

    meta = load_metadata(bundle)
    saved = _reusable(out / "metrics.yaml", opts, eval_set, bundle_created=meta.created,
                      model_file=meta.models.get(model, ""))
    if saved is not None:
        log.info("reusing %s", out / "metrics.yaml")
        return saved
    if model not in meta.models:
        raise ConfigError(f"bundle {bundle} has no {model} model; pass --int8 when it is exported")
    runtime = RuntimeOptions(model=model, threads=opts.threads, performance_hint="LATENCY", num_requests=1)
    return evaluate_bundle(bundle, eval_set.path, _eval_options(opts, out, eval_set), runtime).metrics
