"""`distill train`: a student learns from ground truth (0.2 CE + 0.8 Dice) and from a teacher (CWD and/or KL).

The loop (AdamW, warm-up + poly, mixed precision, progress bar, evaluation, best.pt by
validation IoU, last.pt for resuming, history.jsonl, curves.png, budget.yaml) is
`crackedge.training.loop.fit`; this file contributes the student side (`StudentTask`) and wires
data, teacher and student. Labeled items get the hard loss and the soft loss; unlabeled items
(`data.unlabeled` images, and the split's items beyond `data.labeled_fraction`) the soft loss
only; `data.unlabeled_share` of every batch is unlabeled. `best.pt` is a student checkpoint
(`distill.checkpoints`) that `distill export` reads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import torch

from crackedge.errors import ConfigError
from crackedge.training.batch_crop import check_crop_scales
from crackedge.training.runtime import to_training_device
from distill.train_config import DistillTrainConfig, check_crop, check_train_config

log = logging.getLogger(__name__)


class StudentTask:
    """The model side of `crackedge.training.loop.fit` (its TrainTask protocol) for a student."""

    def __init__(self, model: torch.nn.Module, teacher: Any, device: torch.device, cfg: DistillTrainConfig,
                 train_set: Any):
        self.model = to_training_device(model, device)
        self.teacher = teacher
        self.device = device
        self.cfg = cfg
        self.train_set = train_set
        self.step = 0

    def set_step(self, step: int) -> None:
        self.step = step

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def train_step(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Hard loss on the labeled items' masks + the soft loss against the teacher's logits on every item."""
        from distill.losses import distillation_loss, soft_weight_at

        x = batch["image"].to(self.device, non_blocking=True)
        y = batch["mask"].to(self.device, non_blocking=True)
        teacher_logits = self.teacher.logits(batch, x)  # no gradient: computed under no_grad or read from disk
        if self.cfg.data.crop is not None:
            from crackedge.training.batch_crop import random_crop

            x, y, teacher_logits = random_crop([x, y, teacher_logits], self.cfg.data.crop, self.cfg.run_seed, self.step)
        if self.cfg.data.augment and self.cfg.data.batch_dihedral:
            from crackedge.training.batch_dihedral import random_dihedral

            x, y, teacher_logits = random_dihedral([x, y, teacher_logits], self.cfg.run_seed, self.step)
        loss = self.cfg.loss
        out = distillation_loss(self.model(x), y, teacher_logits, loss.cwd_weight, loss.temperature, loss.soft,
                                loss.kl_weight, batch.get("labeled"), soft_weight_at(self.step, loss.soft_warmup_steps),
                                loss.soft_on, loss.pseudo_weight)
        return out["loss"], {"hard": float(out["hard"]), "cwd": float(out["cwd"]), "kl": float(out["kl"]),
                             "pseudo": float(out["pseudo"])}

    def predict(self, batch: dict) -> torch.Tensor:
        """Crack probability N x H x W at the masks' resolution (logits upsampled bilinearly)."""
        from distill.losses import align_to

        x = batch["image"].to(self.device, non_blocking=True)
        logits = align_to(self.model(x).float(), tuple(batch["mask"].shape[-2:]))
        return torch.softmax(logits, dim=1)[:, 1]

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    def state_for_checkpoint(self) -> dict[str, Any]:
        """A student checkpoint (distill.checkpoints); the loop adds "step" and "val_metrics"."""
        from distill.checkpoints import StudentCheckpoint

        ckpt = StudentCheckpoint(
            student=self.model.spec.name,
            model={k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            config=self.cfg.model_dump(mode="json"),
            training_data=training_data_note(self.cfg, self.train_set, self.teacher.name is not None),
            teacher=self.teacher.name,
            epoch=int(getattr(self.train_set, "epoch", 0)),
        )
        return ckpt.to_dict()

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"], strict=True)


def training_data_note(cfg: DistillTrainConfig, train_set: Any, has_teacher: bool) -> str:
    """What the student learned from, as the checkpoint and the bundle record it."""
    d = cfg.data
    labeled = len(train_set.labeled_indices())
    note = f"{d.root} (split {d.train_split}: {labeled} labeled"
    hidden = train_set.n_split - labeled
    if hidden:
        use = "used without masks" if has_teacher else "left out (their masks are hidden and there is no teacher)"
        note += f", {hidden} {use} (labeled fraction {d.labeled_fraction:g})"
    extra = len(train_set) - train_set.n_split
    if extra:
        note += f"; {extra} unlabeled images from {', '.join(d.unlabeled)}"
    if d.photometric:
        note += f"; {d.photometric:.0%} of training inputs noised in colour and sharpness"
    return note + ")"


def unlabeled_files(cfg: DistillTrainConfig) -> list[Path]:
    """The image files of `data.unlabeled` (folders searched; an edge run folder gives its raw frames)."""
    if not cfg.data.unlabeled:
        return []
    from crackedge.data.unlabeled import list_unlabeled_images

    return list_unlabeled_images([Path(p) for p in cfg.data.unlabeled])


def make_datasets(cfg: DistillTrainConfig, size: tuple[int, int], variants: Optional[int]):
    """(train set: MixedSegDataset at `size`, val set: CrackSegDataset or None)."""
    from crackedge.data.layout import CrackDataset
    from crackedge.data.label_record import labeled_subset
    from crackedge.data.torch_dataset import CrackSegDataset, MixedSegDataset

    data = CrackDataset.open(cfg.data.root)
    names = data.names(cfg.data.train_split)
    train = MixedSegDataset(data, cfg.data.train_split, size, augment=cfg.data.augment, seed=cfg.data.seed,
                            variants=variants if cfg.data.augment else None, unlabeled=unlabeled_files(cfg),
                            labeled=labeled_subset(names, cfg.data.labeled_fraction, cfg.data.seed),
                            photometric=cfg.data.photometric)
    train.keep_clean = cfg.teacher.cache is None and cfg.teacher.checkpoint is not None  # a live teacher: clean views
    if cfg.data.val_split is None:
        return train, None
    if cfg.data.val_split not in data.splits:
        raise ConfigError(
            f"dataset {data.root} has no split {cfg.data.val_split!r} (available: {', '.join(data.splits) or 'none'}); "
            "pass --val-split NAME, or --val-split none to train without validation"
        )
    return train, CrackSegDataset(data, cfg.data.val_split, size, augment=False, seed=cfg.data.seed)


def batch_sampler(cfg: DistillTrainConfig, train_set: Any, has_teacher: bool):
    """Labeled and (with a teacher) unlabeled items mixed at data.unlabeled_share of each batch."""
    from crackedge.training.mixed_sampler import MixedBatchSampler

    unlabeled = train_set.unlabeled_indices() if has_teacher else []
    labeled = train_set.labeled_indices()
    sampler = MixedBatchSampler(labeled, unlabeled, cfg.optim.batch_size, cfg.data.unlabeled_share, cfg.run_seed)
    if sampler.batches_per_epoch() == 0:
        raise ConfigError(f"{len(labeled)} labeled training items are fewer than the {sampler.n_labeled} labeled "
                          "items of one batch; lower --batch-size or raise --labeled-fraction")
    return sampler


def _cache_meta(cfg: DistillTrainConfig) -> dict:
    import yaml

    from crackedge.data.logit_cache import INDEX_NAME

    index = Path(cfg.teacher.cache) / INDEX_NAME if cfg.teacher.cache else None
    return (yaml.safe_load(index.read_text(encoding="utf-8")) or {}) if index and index.is_file() else {}


def _cache_variants(cfg: DistillTrainConfig) -> Optional[int]:
    """Augmentation views per image: the config's, else the teacher cache's (None: a new view every epoch)."""
    if cfg.teacher.kind == "none" or cfg.teacher.cache is None:
        return cfg.data.variants
    meta = _cache_meta(cfg)
    if not meta:
        return cfg.data.variants  # LogitCache.open reports the problem
    if bool(meta.get("augment", True)) != cfg.data.augment:
        raise ConfigError(
            f"logit cache {cfg.teacher.cache} was made with augment={meta.get('augment')}, this run has "
            f"augment={cfg.data.augment}; use the same setting (--no-augment) or re-cache"
        )
    return cfg.data.variants or int(meta.get("variants", 1))


def resolve_teacher_kind(cfg: DistillTrainConfig) -> DistillTrainConfig:
    """teacher.kind filled in when not given: the cache's teacher, else the checkpoint's, else none."""
    t = cfg.teacher
    if t.kind is not None:
        return cfg
    from distill.logit_cache_setup import teacher_kind

    if t.cache is not None:
        name = str(_cache_meta(cfg).get("teacher", ""))
        kind = teacher_kind(name) if name else "cracksam"  # an unreadable cache is reported when opened
    elif t.checkpoint is not None:
        from teacher.checkpoints import peek_teacher_name

        kind = teacher_kind(peek_teacher_name(Path(t.checkpoint)))
    else:
        kind = "none"
    return cfg.model_copy(update={"teacher": t.model_copy(update={"kind": kind})})


def make_teacher_source(cfg: DistillTrainConfig, device: torch.device, size: tuple[int, int], train_set: Any):
    from distill.teacher_source import NoTeacher, open_cached_teacher, open_live_teacher

    t = cfg.teacher
    if t.kind == "none":
        return NoTeacher()
    if t.cache is not None:
        source = open_cached_teacher(Path(t.cache), t.kind, Path(t.checkpoint) if t.checkpoint else None, device)
        source.cache.check_matches(train_set.names, size, cfg.data.seed, train_set.variants)
        return source
    return open_live_teacher(Path(t.checkpoint), Path(t.sam_checkpoint) if t.sam_checkpoint else None, t.kind,
                             device, size, t.amp)


def train_student(cfg: DistillTrainConfig, out_dir: Path, resume: bool = False, progress: bool = True) -> Any:
    """Train the student as `cfg` says; writes config.yaml, best.pt, last.pt, history.jsonl, curves.png
    and budget.yaml to `out_dir` and returns the loop's FitResult."""
    from crackedge.config import dump_config
    from crackedge.training.loop import LoopConfig, fit, steps_for_epochs
    from crackedge.training.runtime import pick_device, seed_everything
    from distill.students import build_student
    from distill.students.segmentor import count_parameters

    cfg = resolve_teacher_kind(cfg)
    check_train_config(cfg)
    out_dir = Path(out_dir)
    device = pick_device(cfg.device)
    seed_everything(cfg.run_seed)
    model = build_student(cfg.student.name, Path(cfg.student.weights) if cfg.student.weights else None)
    side = cfg.student.size or model.spec.input_size[0]
    check_crop(cfg, side)
    size = (side, side)
    train_set, val_set = make_datasets(cfg, size, _cache_variants(cfg))
    teacher = make_teacher_source(cfg, device, size, train_set)
    from distill.teacher_labels import check_teacher_labels, log_teacher_labels

    log_teacher_labels(check_teacher_labels(cfg, train_set.names[: train_set.n_split]), teacher.name or "")
    check_crop_scales(cfg.data.crop, size, getattr(teacher, "size", None))  # a cache at another resolution
    sampler = batch_sampler(cfg, train_set, teacher.name is not None)
    crop = f" (trained on random {cfg.data.crop}x{cfg.data.crop} windows)" if cfg.data.crop else ""
    loss = ("hard loss only" if teacher.name is None else
            f"soft loss {cfg.loss.soft} (CWD weight {cfg.loss.cwd_weight:g}, KL weight {cfg.loss.kl_weight:g}, "
            f"pseudo-label weight {cfg.loss.pseudo_weight:g}, T {cfg.loss.temperature:g})")
    log.info("student %s (%.2f M parameters) at %dx%d%s, teacher %s, %s; %d labeled + %d unlabeled items, "
             "%d unlabeled per batch of %d", cfg.student.name, count_parameters(model) / 1e6, side, side, crop,
             teacher.name or "none", loss, len(sampler.labeled), len(sampler.unlabeled), sampler.n_unlabeled,
             cfg.optim.batch_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out_dir / "config.yaml")

    opt = cfg.optim
    loop_cfg = LoopConfig(
        out_dir=out_dir,
        max_steps=opt.steps or steps_for_epochs(len(sampler.labeled), opt.batch_size - sampler.n_unlabeled, opt.epochs),
        seed=cfg.run_seed,
        resume=resume,
        title=f"{cfg.student.name} <- {teacher.name or 'ground truth'}",
        progress=progress,
        **opt.loop_settings(),
    )
    return fit(StudentTask(model, teacher, device, cfg, train_set), train_set, val_set, loop_cfg,
               batch_sampler=sampler)
