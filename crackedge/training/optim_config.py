"""The optimiser/schedule settings `teacher train` and `distill train` share (pydantic, torch-free).

Each trainer subclasses `OptimConfig` to set its own defaults (CrackSAM: the paper's 4e-4, 300
warm-up steps, poly power 6; students: 1e-3, power 0.9) or add loss weights.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from crackedge.config import StrictModel


class OptimConfig(StrictModel):
    lr: float = Field(4e-4, gt=0, description="peak learning rate")
    warmup_steps: int = Field(300, ge=0, description="linear warm-up steps")
    power: float = Field(6.0, ge=0, description="poly decay exponent after warm-up")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (betas 0.9, 0.999)")
    batch_size: int = Field(4, ge=1, description="images per step and process (global batch = batch_size x processes)")
    epochs: float = Field(20.0, gt=0, description="used when `steps` is null")
    steps: Optional[int] = Field(None, ge=1, description="optimiser steps (overrides epochs)")
    eval_every: int = Field(200, ge=1, description="validate (and maybe save best.pt) every N steps")
    val_basis: Literal["input", "image"] = Field(
        "input", description="where validation counts pixels: input = images and masks resized to the training "
        "size (fast); image = each image at its own size, as the test scores it (best.pt picked by that figure)")
    amp: bool = Field(True, description="mixed precision on CUDA (bf16 where supported); no effect on CPU")
    grad_clip: Optional[float] = Field(None, gt=0, description="clip the gradient norm to this value")
    max_minutes: Optional[float] = Field(None, ge=0, description="wall-clock budget; the run saves when it runs out")
    workers: int = Field(0, ge=0, description="data-loader worker processes")

    def loop_settings(self) -> dict[str, Any]:
        """The keyword arguments of `crackedge.training.loop.LoopConfig` these settings fill."""
        return {
            "lr": self.lr, "warmup_steps": self.warmup_steps, "power": self.power, "weight_decay": self.weight_decay,
            "batch_size": self.batch_size, "num_workers": self.workers, "eval_every": self.eval_every,
            "val_basis": self.val_basis,
            "amp": self.amp, "grad_clip": self.grad_clip, "max_minutes": self.max_minutes,
        }
