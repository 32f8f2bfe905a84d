"""`distill train` configuration (YAML via crackedge.config; command-line options override it)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from crackedge.config import StrictModel
from crackedge.training.optim_config import OptimConfig
from crackedge.errors import ConfigError

TeacherKind = Literal["cracksam", "parnet", "none"]


class StudentConfig(StrictModel):
    name: str = Field("hrnet_w18", description="registered student (distill students)")
    weights: Optional[str] = Field(None, description="timm classification state-dict file for the backbone")
    size: Optional[int] = Field(None, ge=32, multiple_of=32,
                                description="square training input side, a multiple of 32; default: the student's (448)")


class TeacherConfig(StrictModel):
    kind: TeacherKind = Field("none", description="cracksam | parnet | none (hard loss only)")
    checkpoint: Optional[str] = Field(None, description="teacher checkpoint (teacher train's best.pt)")
    sam_checkpoint: Optional[str] = Field(None, description="SAM weights a CrackSAM delta checkpoint was trained on")
    cache: Optional[str] = Field(None, description="teacher-logit cache (teacher cache-logits); the teacher never runs")
    amp: bool = Field(True, description="run a live teacher under mixed precision on CUDA")


class DistillLossConfig(StrictModel):
    cwd_weight: float = Field(5.0, ge=0, description="weight of the channel-wise distillation loss")
    temperature: float = Field(3.0, gt=0, description="CWD softmax temperature")


class DistillDataConfig(StrictModel):
    root: str = Field(description="canonical dataset folder")
    train_split: str = "train"
    val_split: Optional[str] = Field("val", description="null: no validation (best.pt = last weights)")
    augment: bool = True
    variants: Optional[int] = Field(None, ge=1, description="augmentation views per image; default: the cache's")
    seed: int = Field(0, description="augmentation, sampling and initialisation seed")


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
    device: str = "auto"


def check_train_config(cfg: DistillTrainConfig) -> None:
    """ConfigError for combinations that cannot work, naming the option to change."""
    t = cfg.teacher
    if t.kind == "none":
        given = [opt for opt, v in (("--teacher-checkpoint", t.checkpoint), ("--teacher-cache", t.cache)) if v]
        if given:
            raise ConfigError(f"--teacher none trains on the hard loss only, but {', '.join(given)} was given; "
                              "drop it or pass --teacher cracksam|parnet")
        return
    if t.checkpoint is None and t.cache is None:
        raise ConfigError(f"--teacher {t.kind} needs --teacher-checkpoint PATH (run the teacher live) "
                          "or --teacher-cache DIR (logits from `teacher cache-logits`)")
    if cfg.loss.cwd_weight == 0:
        raise ConfigError(f"--teacher {t.kind} with --cwd-weight 0 ignores the teacher; pass --teacher none instead")
