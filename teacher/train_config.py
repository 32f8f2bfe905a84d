"""`TeacherTrainConfig`: what `teacher train` reads from `--config` (YAML) and its options.

    model        CrackSAMConfig (model: cracksam, the default) or ParnetConfig (model: parnet),
                 chosen by the `model` key; the same config a teacher checkpoint stores
    sam_checkpoint  CrackSAM only: the original SAM weights file for model.backbone
    parnet_loss  PARNet only: the deep-supervision loss (teacher.losses_parnet.ParnetLossConfig)
    data, optim, device

Optimiser defaults depend on the model (`OPTIM_DEFAULTS`): keys that `optim` does not set are filled
from the chosen model's defaults before validation, so the written config.yaml shows the values used.
"""

from __future__ import annotations

from typing import Annotated, Any, Dict, Optional, Union

from pydantic import Field, model_validator

from crackedge.config import StrictModel
from crackedge.training.optim_config import OptimConfig
from teacher.parnet_loss_config import ParnetLossConfig
from teacher.models.parnet_config import ParnetConfig
from teacher.models.sam_config import CrackSAMConfig

MODEL_NAMES = ("cracksam", "parnet")

# Both: AdamW (0.9, 0.999), weight decay 0.01, linear warm-up then poly decay (crackedge.training.schedule).
# CrackSAM: the paper's 4e-4, 300 warm-up iterations, power 6. PARNet's paper gives no schedule we could
# read; ours: 3e-4 (AdamW range for a from-scratch CNN + Swin), a short 100-step warm-up, and the usual
# segmentation poly power 0.9, so the rate stays useful for most of a short run (docs/parnet.md).
OPTIM_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "cracksam": {"lr": 4e-4, "warmup_steps": 300, "power": 6.0},
    "parnet": {"lr": 3e-4, "warmup_steps": 100, "power": 0.9},
}
# PARNet's training loss when `parnet_loss` is not given: the project's hard loss (0.2 CE + 0.8 Dice, as
# CrackSAM and the students) on the fused output and each of the four side outputs. The loss module's own
# default (kind "bce": DeepCrack's plain BCE) predicts background everywhere for a long time on ~8 % crack
# pixels; set `parnet_loss: {kind: bce}` for DeepCrack's formulation.
PARNET_TRAIN_LOSS: Dict[str, Any] = {"kind": "ce_dice"}


class TrainDataConfig(StrictModel):
    root: str = Field(description="canonical dataset folder (crackedge prepare / crackedge synth)")
    train_split: str = Field("train", description="training split")
    val_split: Optional[str] = Field("val", description="null: no validation (best.pt = last weights)")
    augment: bool = True
    seed: int = Field(0, description="augmentation, sampling and initialisation seed")
    labeled_fraction: float = Field(1.0, gt=0, le=1, description="train on this share of the training split only "
                                    "(the seeded choice `distill train --labeled-fraction` makes)")
    pseudo_labels: Optional[str] = Field(None, description="teacher-logit cache (`teacher cache-logits` of a teacher "
                                         "trained on the same labels, this --data/--seed) whose masks label the "
                                         "items beyond --labeled-fraction: self-training")
    crop: Optional[int] = Field(None, ge=32, multiple_of=32, description="PARNet: train on a random crop x crop "
                                "window of each image (and its mask), a multiple of 32 no larger than --size: steps "
                                "cost about (crop/size)^2; validation stays at the full size")
    photometric: float = Field(0.0, ge=0, le=1, description="share of training images noised in colour and "
                               "sharpness (contrast, brightness, gamma, saturation, blur, sensor noise); masks and "
                               "pseudo-labels stay those of the clean view (Noisy Student)")


class TrainOptimConfig(OptimConfig):
    """Teacher defaults: CrackSAM's paper schedule (4e-4, 300 warm-up, power 6, batch 4); per-model
    defaults come from OPTIM_DEFAULTS."""

    ce_weight: float = Field(0.2, ge=0, description="CrackSAM loss: CE weight (PARNet: see parnet_loss)")
    dice_weight: float = Field(0.8, ge=0, description="CrackSAM loss: Dice weight (PARNet: see parnet_loss)")


ModelConfig = Annotated[Union[CrackSAMConfig, ParnetConfig], Field(discriminator="model")]


class TeacherTrainConfig(StrictModel):
    """`teacher train --config FILE` (YAML); command-line options override it."""

    model: ModelConfig = Field(default_factory=CrackSAMConfig)
    sam_checkpoint: Optional[str] = Field(None, description="CrackSAM: original SAM weights file for model.backbone")
    parnet_loss: Optional[ParnetLossConfig] = Field(None, description="PARNet: deep-supervision loss (default filled in)")
    data: TrainDataConfig
    optim: TrainOptimConfig = Field(default_factory=TrainOptimConfig)
    device: str = Field("auto", description="where torch trains: auto, cpu, cuda or cuda:N (under torchrun each process takes cuda:LOCAL_RANK)")

    @model_validator(mode="before")
    @classmethod
    def _model_defaults(cls, data: Any) -> Any:
        """`model` without a `model` key is CrackSAM (configs written before PARNet); fill the chosen
        model's optimiser defaults and PARNet's default loss."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        model = data.get("model")
        if isinstance(model, dict) and "model" not in model:
            data["model"] = model = {"model": "cracksam", **model}
        name = model.get("model") if isinstance(model, dict) else getattr(model, "model", "cracksam")
        if name is None:
            name = "cracksam"
        optim = data.get("optim")
        if isinstance(optim, dict) and name in OPTIM_DEFAULTS:
            data["optim"] = {**OPTIM_DEFAULTS[name], **optim}
        elif optim is None and name in OPTIM_DEFAULTS:
            data["optim"] = dict(OPTIM_DEFAULTS[name])
        if name == "parnet" and data.get("parnet_loss") is None:
            data["parnet_loss"] = dict(PARNET_TRAIN_LOSS)
        return data

    @model_validator(mode="after")
    def _sections_match_the_model(self) -> "TeacherTrainConfig":
        if self.model.model == "parnet" and self.sam_checkpoint is not None:
            raise ValueError(
                "sam_checkpoint (--sam-checkpoint) is for CrackSAM; PARNet's pretrained Swin weights go in "
                "model.swin.checkpoint (--swin-checkpoint)"
            )
        if self.model.model == "cracksam" and self.parnet_loss is not None:
            raise ValueError("parnet_loss applies to model parnet only; CrackSAM's loss is optim.ce_weight / optim.dice_weight")
        return self
