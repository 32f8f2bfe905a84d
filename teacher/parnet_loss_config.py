"""`ParnetLossConfig`: the weights of PARNet's deeply supervised loss (torch-free, so that configs and
the CLI can name it without importing torch; the loss itself is `teacher.losses_parnet`)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from crackedge.config import StrictModel


class ParnetLossConfig(StrictModel):
    """Weights of the deeply supervised PARNet loss (the terms are explained in `teacher.losses_parnet`)."""

    kind: Literal["bce", "ce_dice"] = "bce"
    side_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    fuse_weight: float = Field(1.0, ge=0.0)
    pos_weight: Optional[float] = Field(None, gt=0.0, description="BCE weight of crack pixels; null = 1")
    dice_weight: float = Field(0.0, ge=0.0, description="weight of a soft Dice term added to each BCE")
    dice_smooth: float = Field(1.0, gt=0.0)

    @model_validator(mode="after")
    def _bce_options_only_for_bce(self) -> "ParnetLossConfig":
        if self.kind == "ce_dice" and (self.pos_weight is not None or self.dice_weight):
            raise ValueError("pos_weight and dice_weight apply to kind 'bce' only; 'ce_dice' is the fixed 0.2 CE + 0.8 Dice")
        return self
