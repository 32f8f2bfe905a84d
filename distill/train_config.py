"""`distill train` configuration (YAML via crackedge.config; command-line options override it)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from crackedge.config import StrictModel
from crackedge.training.optim_config import OptimConfig
from crackedge.errors import ConfigError

TeacherKind = Literal["cracksam", "parnet", "ensemble", "none"]
SoftLoss = Literal["cwd", "kl", "cwd+kl", "pseudo", "kl+pseudo", "cwd+pseudo", "cwd+kl+pseudo"]
SOFT_TERMS = ("cwd", "kl", "pseudo")


def soft_terms(kind: str) -> tuple[str, ...]:
    """The terms of a soft-loss name: "kl+pseudo" -> ("kl", "pseudo"); ValueError naming a term that is none."""
    terms = tuple(kind.split("+"))
    bad = [t for t in terms if t not in SOFT_TERMS]
    if bad or not terms:
        raise ValueError(f"unknown soft loss {kind!r}; its terms are {', '.join(SOFT_TERMS)} joined by '+'")
    return terms


def soft_loss_text(loss: dict) -> str:
    """"CWD x5 + KL x0.5" from a loss config as a dict (DistillLossConfig.model_dump() or a checkpoint's)."""
    names = {"cwd": ("CWD", "cwd_weight"), "kl": ("KL", "kl_weight"), "pseudo": ("pseudo-label", "pseudo_weight")}
    defaults = {"cwd_weight": 5.0, "kl_weight": 1.0, "pseudo_weight": 1.0}
    parts = []
    for term in soft_terms(loss.get("soft", "cwd")):
        label, key = names[term]
        parts.append(f"{label} x{float(loss.get(key, defaults[key])):g}")
    return " + ".join(parts)


class StudentConfig(StrictModel):
    name: str = Field("hrnet_w18", description="registered student (distill students)")
    weights: Optional[str] = Field(None, description="timm classification state-dict file for the backbone")
    size: Optional[int] = Field(None, ge=32, multiple_of=32,
                                description="square training input side, a multiple of 32; default: the student's (448)")


class TeacherConfig(StrictModel):
    kind: Optional[TeacherKind] = Field(
        None, description="cracksam | parnet | ensemble | none (hard loss only); default: the cache's or the "
        "checkpoint's teacher, none without either")
    checkpoint: Optional[str] = Field(None, description="teacher checkpoint (teacher train's best.pt)")
    sam_checkpoint: Optional[str] = Field(None, description="SAM weights a CrackSAM delta checkpoint was trained on")
    cache: Optional[str] = Field(None, description="teacher-logit cache (teacher cache-logits); the teacher never runs")
    amp: bool = Field(True, description="run a live teacher under mixed precision on CUDA")


class DistillLossConfig(StrictModel):
    soft: SoftLoss = Field("cwd", description="soft loss against the teacher: cwd (channel-wise, Shu et al.), "
                           "kl (pixel-wise, Hinton), pseudo (the hard loss against the teacher's own mask: "
                           "self-training's pseudo-labels), or several joined by '+' (cwd+kl, kl+pseudo, ...)")
    cwd_weight: float = Field(5.0, ge=0, description="weight of the channel-wise distillation loss")
    kl_weight: float = Field(1.0, ge=0, description="weight of the pixel-wise KL loss")
    pseudo_weight: float = Field(1.0, ge=0, description="weight of the pseudo-label loss (0.2 CE + 0.8 Dice against "
                                 "the teacher's argmax mask)")
    temperature: float = Field(3.0, gt=0, description="softmax temperature of the soft loss")
    soft_warmup_steps: int = Field(0, ge=0, description="ramp the soft-loss weight linearly from 0 over these steps")
    soft_on: Literal["all", "unlabeled"] = Field(
        "all", description="items that get the soft loss: all (labeled ones hard + soft), or unlabeled only (labeled "
        "ones learn from their masks alone: for a teacher no better than the labels, e.g. on synthetic data)")


class DistillDataConfig(StrictModel):
    root: str = Field(description="canonical dataset folder")
    train_split: str = Field("train", description="training split")
    val_split: Optional[str] = Field("val", description="null: no validation (best.pt = last weights)")
    augment: bool = True
    batch_dihedral: bool = Field(True, description="also turn/flip each training sample at random on the fly "
                                 "(image, mask and teacher logits alike: more views at no teacher cost)")
    variants: Optional[int] = Field(None, ge=1, description="augmentation views per image; default: the cache's")
    crop: Optional[int] = Field(None, ge=32, multiple_of=32, description="train on a random crop x crop window of "
                                "each sample (image, mask and teacher logits alike), a multiple of 32 no larger than "
                                "--size: steps cost about (crop/size)^2; validation and export stay at the full size")
    photometric: float = Field(0.0, ge=0, le=1, description="share of training images whose colours and sharpness "
                               "are noised for the student only (contrast, brightness, gamma, saturation, blur, "
                               "sensor noise); masks and the teacher's cached logits stay those of the clean view "
                               "(Noisy Student)")
    seed: int = Field(0, description="augmentation views and labeled subset (what a logit cache is made for)")
    labeled_fraction: float = Field(1.0, gt=0, le=1, description="share of the training split that keeps its "
                                    "masks (a seeded choice); the rest become unlabeled items")
    unlabeled: list[str] = Field(default_factory=list, description="folders or files of unlabeled images (an "
                                 "`edge run` output folder: its raw frames); they get the soft loss only")
    unlabeled_share: float = Field(0.5, ge=0, lt=1, description="share of each batch drawn from the unlabeled "
                                   "items, when there are any")


class DistillOptimConfig(OptimConfig):
    """Student defaults: 1e-3, 300 warm-up steps, poly power 0.9 (mmseg's), batch 8, 50 epochs."""

    lr: float = Field(1e-3, gt=0, description="peak learning rate")
    power: float = Field(0.9, ge=0, description="poly decay exponent after warm-up (mmseg's 0.9)")
    batch_size: int = Field(8, ge=1, description="images per step")
    epochs: float = Field(50.0, gt=0, description="used when `steps` is null")


class DistillTrainConfig(StrictModel):
    """`distill train --config FILE`."""

    student: StudentConfig = Field(default_factory=StudentConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    data: DistillDataConfig
    loss: DistillLossConfig = Field(default_factory=DistillLossConfig)
    optim: DistillOptimConfig = Field(default_factory=DistillOptimConfig)
    device: str = Field("auto", description="where torch trains: auto, cpu, cuda or cuda:N")
    seed: Optional[int] = Field(None, description="initial weights and batch order (default: data.seed); runs that "
                                "differ only in it measure the spread of a result")

    @property
    def run_seed(self) -> int:
        return self.data.seed if self.seed is None else self.seed


def check_train_config(cfg: DistillTrainConfig) -> None:
    """ConfigError for combinations that cannot work, naming the option to change."""
    t = cfg.teacher
    if t.kind == "none":
        given = [opt for opt, v in (("--teacher-checkpoint", t.checkpoint), ("--teacher-cache", t.cache)) if v]
        if given:
            raise ConfigError(f"--teacher none trains on the hard loss only, but {', '.join(given)} was given; "
                              "drop it or pass --teacher cracksam|parnet|ensemble")
        if cfg.data.unlabeled:
            raise ConfigError("--unlabeled images have no masks: they need a teacher (--teacher-cache DIR made with "
                              "`teacher cache-logits --unlabeled ...`, or --teacher-checkpoint PATH)")
        return
    if t.kind is not None and t.checkpoint is None and t.cache is None:
        raise ConfigError(f"--teacher {t.kind} needs --teacher-checkpoint PATH (run the teacher live) "
                          "or --teacher-cache DIR (logits from `teacher cache-logits`)")
    weights = {"cwd": cfg.loss.cwd_weight, "kl": cfg.loss.kl_weight, "pseudo": cfg.loss.pseudo_weight}
    soft_weight = sum(weights[t] for t in soft_terms(cfg.loss.soft))
    if soft_weight == 0:
        raise ConfigError(f"the soft loss {cfg.loss.soft} has weight 0, which ignores the teacher; "
                          "pass --teacher none instead")


def check_crop(cfg: DistillTrainConfig, size: int) -> None:
    """ConfigError when data.crop is larger than the training input side `size`."""
    from crackedge.training.batch_crop import check_crop_fits

    check_crop_fits(cfg.data.crop, size)
