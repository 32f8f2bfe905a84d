"""The model side of `crackedge.training.loop.fit` for each teacher (its `TrainTask` protocol).

`TeacherTask` holds the model twice: `self.model`, the plain module (prediction, checkpoints,
resuming; what rank 0 evaluates and saves), and `self.net`, what the training forward calls: the same
module, or its `DistributedDataParallel` wrapper under torchrun. Subclasses only define the loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from crackedge.training.runtime import DistInfo, to_training_device


def wrap_for_distributed(model: Any, device: Any, dist: DistInfo) -> Any:
    """`model` itself for one process; under torchrun a DistributedDataParallel wrapper (gradients
    all-reduced in backward, BatchNorm buffers broadcast from rank 0 at each forward).

    `static_graph=True`: the set of parameters that receive gradients is the same every step, but not
    all trainable parameters do (CrackSAM's IoU head and point embeddings are never used by the loss);
    a static graph lets DDP skip them without the per-step search of `find_unused_parameters`.
    """
    if not dist.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index if device.index is not None else dist.local_rank] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, static_graph=True)


class TeacherTask:
    """Shared parts of the teacher tasks (see the module docstring); subclasses implement `loss`."""

    def __init__(self, model: Any, device: Any, dist: DistInfo = DistInfo(), crop: Optional[int] = None,
                 seed: int = 0) -> None:
        self.model = to_training_device(model, device)
        self.device = device
        self.dist = dist
        self.net = wrap_for_distributed(self.model, device, dist)
        self.crop, self.seed, self.step = crop, seed, 0

    def set_step(self, step: int) -> None:
        self.step = step

    def loss(self, output: Dict[str, Any], target: Any) -> Tuple[Any, Dict[str, float]]:
        """(scalar loss, named loss parts for the history) of a training forward's output."""
        raise NotImplementedError

    def trainable_parameters(self) -> List[Any]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def train_step(self, batch: Dict[str, Any]) -> Tuple[Any, Dict[str, float]]:
        """Forward of images N x 3 x S x S (through the DDP wrapper when distributed) + loss against
        masks N x S x S; with `crop` C, of the same random C x C window of each (N x 3 x C x C, N x C x C)."""
        x = batch["image"].to(self.device, non_blocking=True)
        y = batch["mask"].to(self.device, non_blocking=True)
        if self.crop is not None:
            from crackedge.training.batch_crop import random_crop

            x, y = random_crop([x, y], self.crop, self.seed + 1000 * self.dist.rank, self.step)
        return self.loss(self.net(x), y)

    def predict(self, batch: Dict[str, Any]) -> Any:
        """Crack probability N x S x S from the plain module (rank 0 evaluates alone: no DDP collectives)."""
        import torch

        x = batch["image"].to(self.device, non_blocking=True)
        return torch.softmax(self.model(x)["logits"].float(), dim=1)[:, 1]

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    training_labels: Optional[Dict[str, Any]] = None  # crackedge.data.label_record.label_record, set by train_teacher

    def checkpoint_meta(self) -> Dict[str, Any]:
        """What the checkpoint records beside the weights: the masks the run trained on."""
        return {"training_labels": self.training_labels} if self.training_labels is not None else {}

    def state_for_checkpoint(self) -> Dict[str, Any]:
        """A teacher checkpoint dict of the plain module (`teacher.checkpoints`)."""
        from teacher.checkpoints import checkpoint_dict

        return checkpoint_dict(self.model, meta=self.checkpoint_meta())

    def load_training_state(self, state: Dict[str, Any]) -> None:
        from teacher.checkpoints import apply_checkpoint_weights

        apply_checkpoint_weights(self.model, state, Path("last.pt"))


class CrackSAMTask(TeacherTask):
    """CrackSAM: ce_weight * CE + dice_weight * Dice (0.2 / 0.8) on the full-resolution logits."""

    def __init__(self, model: Any, device: Any, ce_weight: float = 0.2, dice_weight: float = 0.8,
                 dist: DistInfo = DistInfo()) -> None:
        super().__init__(model, device, dist)
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight

    def loss(self, output: Dict[str, Any], target: Any) -> Tuple[Any, Dict[str, float]]:
        """logits N x 2 x S x S (float32 for the loss), target N x S x S int64."""
        import torch.nn.functional as F

        from crackedge.training.losses import dice_loss

        logits = output["logits"].float()
        ce = F.cross_entropy(logits, target)
        dice = dice_loss(logits, target)
        loss = self.ce_weight * ce + self.dice_weight * dice
        return loss, {"ce": float(ce.detach()), "dice": float(dice.detach())}


class ParnetTask(TeacherTask):
    """PARNet: the deep-supervised loss of `teacher.losses_parnet` on the fused output and the four
    side outputs; the weighted terms (fuse, side1..side4) are the logged loss parts."""

    def __init__(self, model: Any, device: Any, loss_cfg: Optional[Any] = None, dist: DistInfo = DistInfo(),
                 crop: Optional[int] = None, seed: int = 0) -> None:
        from teacher.losses_parnet import ParnetLossConfig

        super().__init__(model, device, dist, crop, seed)
        self.loss_cfg = loss_cfg if loss_cfg is not None else ParnetLossConfig()

    def loss(self, output: Dict[str, Any], target: Any) -> Tuple[Any, Dict[str, float]]:
        """output: {"logits": N x 2 x S x S, "aux": 4 x N x 2 x S x S}; target N x S x S."""
        from teacher.losses_parnet import parnet_loss_terms

        terms = parnet_loss_terms(output, target, self.loss_cfg)
        total = terms.pop("total")
        return total, {name: float(value.detach()) for name, value in terms.items()}

    def checkpoint_meta(self) -> Dict[str, Any]:
        """Where the Swin started from (a file name, for the record; the checkpoint config has none)."""
        source = self.model.cfg.swin.checkpoint
        return {**super().checkpoint_meta(), "swin_init": Path(source).name if source else None}
