"""A training loop you can read top to bottom, shared by the teachers and the students.

The model-specific parts live in a `TrainTask` (forward + loss, prediction, what to checkpoint);
this module owns the optimiser step, schedule, mixed precision, evaluation, best/last
checkpoints, resumption, the history file and the curves PNG.

Files written to `out_dir`: last.pt (resume state), best.pt (best validation IoU),
history.jsonl, curves.png.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from crackedge.fileio import atomic_write_text
from crackedge.training.checkpoint import load_checkpoint, save_checkpoint
from crackedge.training.curves import plot_curves
from crackedge.training.runtime import DistInfo, autocast, barrier, grad_scaler
from crackedge.training.sampler import ResumableSampler
from crackedge.training.schedule import warmup_poly
from crackedge.training.validation import validation_metrics

log = logging.getLogger(__name__)


class TrainTask(Protocol):
    """What a model contributes to the loop."""

    device: torch.device

    def trainable_parameters(self) -> list[torch.nn.Parameter]: ...

    def train_step(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Forward + loss on a training batch (called under autocast). Returns (loss, parts)."""

    def predict(self, batch: dict) -> torch.Tensor:
        """Crack probability NxHxW at the batch masks' resolution (eval mode, no grad, unwrapped model)."""

    def train(self, mode: bool = True) -> None: ...

    def state_for_checkpoint(self) -> dict[str, Any]:
        """Everything needed to rebuild the trained model (weights + config)."""

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what state_for_checkpoint saved (for resuming)."""


@dataclass
class LoopConfig:
    out_dir: Path
    max_steps: int
    lr: float = 4e-4
    warmup_steps: int = 300
    power: float = 6.0
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = 4
    num_workers: int = 0
    eval_every: int = 200
    log_every: int = 10
    amp: bool = True
    grad_clip: float | None = None
    max_minutes: float | None = None  # wall-clock budget; the run evaluates and saves when it runs out
    seed: int = 0
    resume: bool = False
    title: str = ""
    progress: bool = True
    val_basis: str = "input"  # crackedge.training.validation: "input" (training size) or "image" (as the test)


@dataclass
class FitResult:
    best_iou: float
    best_step: int
    last_step: int
    best_metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    out_dir: Path | None = None
    stopped_by_budget: bool = False


def _make_loader(ds: Dataset, sampler, cfg: LoopConfig, shuffle_batches: bool) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.num_workers,
        drop_last=shuffle_batches,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
    )


def _save_history(out_dir: Path, history: list[dict], title: str) -> None:
    atomic_write_text(out_dir / "history.jsonl", "".join(json.dumps(h) + "\n" for h in history), fsync=False)
    plot_curves(history, out_dir / "curves.png", title)


BUDGET_NAME = "budget.yaml"


def _save_budget(cfg: LoopConfig, steps: int, seconds: float, stopped_by_budget: bool) -> None:
    """OUT/budget.yaml: the steps asked for and done, and whether the minute safety net cut the run
    (what the demo summary and `distill compare` report). `wall_s` is the run's training time over
    all its sessions (a --resume adds to it); --max-minutes bounds each session."""
    import yaml

    doc = {"planned_steps": cfg.max_steps, "steps": steps, "stopped_by_budget": stopped_by_budget,
           "max_minutes": cfg.max_minutes, "wall_s": round(seconds, 1)}
    atomic_write_text(cfg.out_dir / BUDGET_NAME, yaml.safe_dump(doc, sort_keys=False), fsync=False)


def read_budget(out_dir: Path) -> dict[str, Any]:
    """OUT/budget.yaml of a finished training run ({} when absent)."""
    import yaml

    path = Path(out_dir) / BUDGET_NAME
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


def budget_warning(out_dir: Path) -> str | None:
    """A loud line when the run in out_dir was cut by --max-minutes, else None."""
    b = read_budget(out_dir)
    if not b.get("stopped_by_budget"):
        return None
    return (f"WARNING: {out_dir} stopped at step {b['steps']} of {b['planned_steps']}: the --max-minutes safety net "
            f"({b['max_minutes']:g} min) cut it, so its result depends on the machine's speed")


def _resume_state(cfg: LoopConfig) -> dict | None:
    last = cfg.out_dir / "last.pt"
    if not cfg.resume:
        return None
    if not last.is_file():
        log.info("no %s to resume from; starting fresh", last)
        return None
    return load_checkpoint(last, "resume checkpoint")


def train_one_step(task, batch, optimizer, scheduler, scaler, cfg: LoopConfig) -> tuple[float, dict[str, float]]:
    """One optimiser step: forward under autocast, scaled backward, optional clipping, schedule."""
    optimizer.zero_grad(set_to_none=True)
    with autocast(task.device, cfg.amp):
        loss, parts = task.train_step(batch)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {loss.item()} (non-finite); lower --lr or disable --amp")
    scaler.scale(loss).backward()
    if cfg.grad_clip:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(task.trainable_parameters(), cfg.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    return float(loss.detach()), parts


def _budget_spent(start: float, max_minutes: float, device: torch.device, dist: DistInfo) -> bool:
    """True when the wall-clock budget is spent. Under DDP every rank must stop at the same step (or the
    others wait forever in the next collective), so rank 0's clock decides and is broadcast to all."""
    spent = (time.monotonic() - start) / 60 > max_minutes
    if not dist.enabled:
        return spent
    import torch.distributed

    flag = torch.tensor([int(spent)], device=device if device.type == "cuda" else "cpu")
    torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())


def fit(task: TrainTask, train_set: Dataset, val_set: Dataset | None, cfg: LoopConfig, dist: DistInfo = DistInfo(),
        batch_sampler: Any = None) -> FitResult:
    """Train `task` for cfg.max_steps optimiser steps (or until cfg.max_minutes), evaluating every
    cfg.eval_every steps on `val_set` (on cfg.val_basis: crackedge.training.validation); keeps best.pt
    by validation IoU and last.pt for resuming.

    `batch_sampler` (optional, e.g. crackedge.training.mixed_sampler.MixedBatchSampler) composes the
    batches instead of a shuffled pass over `train_set`; it must offer `set_epoch(epoch, skip_samples)`
    and `batches_per_epoch()` like the default sampler does.
    """
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    params = task.trainable_parameters()
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    scheduler = warmup_poly(optimizer, cfg.max_steps, cfg.warmup_steps, cfg.power)
    scaler = grad_scaler(task.device, cfg.amp)
    if batch_sampler is not None:
        sampler = batch_sampler
        loader = DataLoader(train_set, batch_sampler=batch_sampler, num_workers=cfg.num_workers,
                            pin_memory=torch.cuda.is_available())
        steps_per_epoch = batch_sampler.batches_per_epoch()
    else:
        sampler = ResumableSampler(len(train_set), shuffle=True, seed=cfg.seed, rank=dist.rank,
                                   world_size=dist.world_size)
        loader = _make_loader(train_set, sampler, cfg, shuffle_batches=True)
        steps_per_epoch = len(sampler) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"the training set has {len(train_set)} items, fewer than one batch of {cfg.batch_size}")
    val_loader = (
        DataLoader(val_set, batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.num_workers) if val_set is not None else None
    )

    step, best_iou, best_step, best_metrics, history = 0, -1.0, -1, {}, []
    earlier_s = 0.0  # training time of the sessions before a --resume
    state = _resume_state(cfg)
    if state is not None:
        task.load_training_state(state["task"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        elif scaler.is_enabled():  # started on a CPU, with bf16 or without AMP: no loss scale to carry over
            log.info("resuming with a fresh fp16 loss scale (%s holds none)", cfg.out_dir / "last.pt")
        step, best_iou, best_step = state["step"], state["best_iou"], state["best_step"]
        earlier_s = float(state.get("elapsed_s", 0.0))
        best_metrics, history = state.get("best_metrics", {}), state.get("history", [])
        log.info("resumed from %s at step %d (best val IoU %.4f at step %d)", cfg.out_dir / "last.pt", step, best_iou, best_step)

    def checkpoint_last() -> None:
        if dist.is_main:
            save_checkpoint(cfg.out_dir / "last.pt", {
                "task": task.state_for_checkpoint(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "step": step,
                "best_iou": best_iou, "best_step": best_step, "best_metrics": best_metrics, "history": history,
                "elapsed_s": earlier_s + time.monotonic() - start,
            })

    last_eval_step = -1

    def run_eval() -> None:
        nonlocal best_iou, best_step, best_metrics, last_eval_step
        last_eval_step = step
        if dist.is_main and val_loader is None:  # nothing to select by: the latest weights are the best
            best_step = step
            save_checkpoint(cfg.out_dir / "best.pt", {**task.state_for_checkpoint(), "step": step, "val_metrics": {}})
        if dist.is_main and val_loader is not None:
            metrics = validation_metrics(task, cfg.val_basis, val_set, val_loader, progress=cfg.progress)
            history.append({"step": step, "val_iou": metrics["iou"], "val_f1": metrics["f1"], "val_ods_f": metrics["ods_f"]})
            if metrics["iou"] > best_iou:
                best_iou, best_step, best_metrics = metrics["iou"], step, metrics
                save_checkpoint(cfg.out_dir / "best.pt", {**task.state_for_checkpoint(), "step": step, "val_metrics": metrics})
            log.info("step %d: val IoU %.4f F1 %.4f (best %.4f at step %d; scored %s)", step, metrics["iou"], metrics["f1"],
                     best_iou, best_step, "at each image's own size" if cfg.val_basis == "image" else "at the training size")
            _save_history(cfg.out_dir, history, cfg.title)
        checkpoint_last()
        barrier(dist)

    start = time.monotonic()
    stopped_by_budget = False
    bar = tqdm(total=cfg.max_steps, initial=step, desc=cfg.title or "train", disable=not (cfg.progress and dist.is_main), unit="step")
    task.train(True)
    while step < cfg.max_steps and not stopped_by_budget:
        epoch, done_in_epoch = divmod(step, steps_per_epoch)
        sampler.set_epoch(epoch, skip_samples=done_in_epoch * cfg.batch_size)
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        for batch in loader:
            if hasattr(task, "set_step"):  # e.g. a loss weight that warms up over the first steps
                task.set_step(step)
            loss, parts = train_one_step(task, batch, optimizer, scheduler, scaler, cfg)
            step += 1
            if step % cfg.log_every == 0 or step == 1:
                history.append({"step": step, "loss": loss, "lr": scheduler.get_last_lr()[0], **{f"loss_{k}": v for k, v in parts.items()}})
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", best_iou=f"{max(best_iou, 0):.3f}")
            if cfg.max_minutes is not None and step < cfg.max_steps and _budget_spent(start, cfg.max_minutes, task.device, dist):
                stopped_by_budget = True
                log.warning("!!! the --max-minutes safety net (%g min) stopped training at step %d of %d: this run is "
                            "shorter than asked and its result depends on the machine's speed; budget in steps and "
                            "raise or drop --max-minutes", cfg.max_minutes, step, cfg.max_steps)
            if step % cfg.eval_every == 0 or step >= cfg.max_steps or stopped_by_budget:
                run_eval()
            if step >= cfg.max_steps or stopped_by_budget:
                break
    bar.close()
    if last_eval_step != step:
        run_eval()
    if dist.is_main:
        _save_budget(cfg, step, earlier_s + time.monotonic() - start, stopped_by_budget)
    return FitResult(best_iou=best_iou, best_step=best_step, last_step=step, best_metrics=best_metrics,
                     history=history, out_dir=cfg.out_dir, stopped_by_budget=stopped_by_budget)


def steps_for_epochs(n_items: int, batch_size: int, epochs: float, world_size: int = 1) -> int:
    """Optimiser steps in `epochs` passes over `n_items` (drop_last batches, split over ranks)."""
    per_epoch = max(1, math.ceil(n_items / world_size) // batch_size)
    return max(1, int(round(per_epoch * epochs)))
