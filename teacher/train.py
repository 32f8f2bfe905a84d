"""`teacher train` for CrackSAM: the config, the task the shared loop drives, and `train_teacher`.

The loop itself (optimiser, warm-up + poly schedule, mixed precision, evaluation, best/last
checkpoints, resume, curves) is `crackedge.training.loop.fit`; this file contributes the model
side. `best.pt` is a teacher checkpoint (`teacher.checkpoints`) that `load_teacher` reads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from pydantic import Field

from crackedge.config import StrictModel
from crackedge.errors import ConfigError
from teacher.models.sam_config import CrackSAMConfig
from teacher.models.sam_loader import SAM_FILES

log = logging.getLogger(__name__)


class TrainDataConfig(StrictModel):
    root: str = Field(description="canonical dataset folder (crackedge prepare / crackedge synth)")
    train_split: str = "train"
    val_split: Optional[str] = Field("val", description="null: no validation (best.pt = last weights)")
    augment: bool = True
    seed: int = Field(0, description="augmentation, sampling and initialisation seed")


class TrainOptimConfig(StrictModel):
    lr: float = Field(4e-4, gt=0)
    warmup_steps: int = Field(300, ge=0)
    power: float = Field(6.0, ge=0, description="poly decay exponent after warm-up")
    weight_decay: float = Field(0.01, ge=0)
    batch_size: int = Field(4, ge=1)
    epochs: float = Field(20.0, gt=0, description="used when `steps` is null")
    steps: Optional[int] = Field(None, ge=1)
    eval_every: int = Field(200, ge=1)
    amp: bool = Field(True, description="mixed precision on CUDA (bf16 where supported); no effect on CPU")
    grad_clip: Optional[float] = Field(None, gt=0)
    max_minutes: Optional[float] = Field(None, ge=0)
    workers: int = Field(0, ge=0)
    ce_weight: float = Field(0.2, ge=0)
    dice_weight: float = Field(0.8, ge=0)


class TeacherTrainConfig(StrictModel):
    """`teacher train --config FILE` (YAML); command-line options override it."""

    model: CrackSAMConfig = Field(default_factory=CrackSAMConfig)
    sam_checkpoint: Optional[str] = Field(None, description="original SAM weights file for model.backbone")
    data: TrainDataConfig
    optim: TrainOptimConfig = Field(default_factory=TrainOptimConfig)
    device: str = "auto"


def check_train_config(cfg: TeacherTrainConfig) -> None:
    """ConfigError for combinations that would train nothing useful."""
    if cfg.sam_checkpoint is None and cfg.model.backbone != "tiny":
        raise ConfigError(
            f"training CrackSAM {cfg.model.backbone} needs the SAM weights: pass --sam-checkpoint "
            f"PATH/{SAM_FILES.get(cfg.model.backbone, 'sam.pth')} (only the tiny backbone trains from scratch)"
        )
    if cfg.sam_checkpoint is None and cfg.model.freeze_image_encoder:
        raise ConfigError(
            "no --sam-checkpoint and a frozen image encoder: a random frozen encoder learns nothing useful. "
            "Pass --sam-checkpoint, or --train-encoder to train the tiny model from scratch"
        )


class CrackSAMTask:
    """The model side of `crackedge.training.loop.fit` (see its TrainTask protocol)."""

    def __init__(self, model: Any, device: Any, ce_weight: float = 0.2, dice_weight: float = 0.8) -> None:
        self.model = model.to(device)
        self.device = device
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight

    def trainable_parameters(self) -> List[Any]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def train_step(self, batch: Dict[str, Any]) -> Tuple[Any, Dict[str, float]]:
        """0.2 CE + 0.8 Dice on the full-resolution logits N x 2 x S x S against masks N x S x S."""
        import torch.nn.functional as F

        from crackedge.training.losses import dice_loss

        x = batch["image"].to(self.device, non_blocking=True)
        y = batch["mask"].to(self.device, non_blocking=True)
        logits = self.model(x)["logits"].float()
        ce = F.cross_entropy(logits, y)
        dice = dice_loss(logits, y)
        loss = self.ce_weight * ce + self.dice_weight * dice
        return loss, {"ce": float(ce.detach()), "dice": float(dice.detach())}

    def predict(self, batch: Dict[str, Any]) -> Any:
        """Crack probability N x S x S."""
        import torch

        x = batch["image"].to(self.device, non_blocking=True)
        return torch.softmax(self.model(x)["logits"].float(), dim=1)[:, 1]

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    def state_for_checkpoint(self) -> Dict[str, Any]:
        from teacher.checkpoints import checkpoint_dict

        return checkpoint_dict(self.model)

    def load_training_state(self, state: Dict[str, Any]) -> None:
        from teacher.checkpoints import apply_checkpoint_weights

        apply_checkpoint_weights(self.model, state, Path("last.pt"))


def _datasets(cfg: TeacherTrainConfig) -> Tuple[Any, Optional[Any]]:
    from crackedge.data.layout import CrackDataset
    from crackedge.data.torch_dataset import CrackSegDataset

    data = CrackDataset.open(cfg.data.root)
    size = (cfg.model.img_size, cfg.model.img_size)
    train = CrackSegDataset(data, cfg.data.train_split, size, augment=cfg.data.augment, seed=cfg.data.seed)
    val = None
    if cfg.data.val_split is not None:
        if cfg.data.val_split not in data.splits:
            raise ConfigError(
                f"dataset {data.root} has no split {cfg.data.val_split!r} (available: {', '.join(data.splits) or 'none'}); "
                "pass --val-split NAME, or --val-split none to train without validation"
            )
        val = CrackSegDataset(data, cfg.data.val_split, size, augment=False, seed=cfg.data.seed)
    return train, val


def train_teacher(cfg: TeacherTrainConfig, out_dir: Path, resume: bool = False, progress: bool = True) -> Any:
    """Train CrackSAM as `cfg` says; writes config.yaml, best.pt, last.pt, history.jsonl, curves.png
    to `out_dir` and returns the loop's FitResult."""
    from crackedge.config import dump_config
    from crackedge.training.loop import LoopConfig, fit, steps_for_epochs
    from crackedge.training.runtime import pick_device, seed_everything
    from teacher.models.cracksam import build_cracksam_from_config
    from teacher.params import count_parameters

    check_train_config(cfg)
    out_dir = Path(out_dir)
    train_set, val_set = _datasets(cfg)
    device = pick_device(cfg.device)
    seed_everything(cfg.data.seed)
    sam_file = Path(cfg.sam_checkpoint) if cfg.sam_checkpoint else None
    model = build_cracksam_from_config(cfg.model, sam_file)
    total, trainable = count_parameters(model)
    log.info("%s: %.2f M parameters, %.2f M trainable", model.teacher_name, total / 1e6, trainable / 1e6)
    out_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out_dir / "config.yaml")

    opt = cfg.optim
    steps = opt.steps or steps_for_epochs(len(train_set), opt.batch_size, opt.epochs)
    loop_cfg = LoopConfig(
        out_dir=out_dir,
        max_steps=steps,
        lr=opt.lr,
        warmup_steps=opt.warmup_steps,
        power=opt.power,
        weight_decay=opt.weight_decay,
        batch_size=opt.batch_size,
        num_workers=opt.workers,
        eval_every=opt.eval_every,
        amp=opt.amp,
        grad_clip=opt.grad_clip,
        max_minutes=opt.max_minutes,
        seed=cfg.data.seed,
        resume=resume,
        title=model.teacher_name,
        progress=progress,
    )
    task = CrackSAMTask(model, device, opt.ce_weight, opt.dice_weight)
    return fit(task, train_set, val_set, loop_cfg)
