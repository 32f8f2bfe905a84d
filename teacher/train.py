"""`teacher train`: build the teacher its config names, and drive it with the shared loop.

The loop itself (optimiser, warm-up + poly schedule, mixed precision, evaluation, best/last
checkpoints, resume, curves, the per-rank data split under torchrun) is
`crackedge.training.loop.fit`; the model side is a task of `teacher.tasks` (CrackSAM: 0.2 CE + 0.8
Dice; PARNet: its deep-supervised loss). `best.pt` is a teacher checkpoint (`teacher.checkpoints`)
that `load_teacher` reads. The config is `teacher.train_config.TeacherTrainConfig`.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

from crackedge.errors import ConfigError
from crackedge.training.runtime import DistInfo
from teacher.models.sam_loader import SAM_FILES
from teacher.tasks import CrackSAMTask, ParnetTask
from teacher.train_config import TeacherTrainConfig, TrainDataConfig, TrainOptimConfig

__all__ = [
    "CrackSAMTask", "ParnetTask", "TeacherTrainConfig", "TrainDataConfig", "TrainOptimConfig",
    "check_train_config", "distributed", "train_teacher",
]

log = logging.getLogger(__name__)


def check_train_config(cfg: TeacherTrainConfig) -> None:
    """ConfigError for combinations that would train nothing useful (CrackSAM without SAM weights) or
    cannot run (a crop larger than the input, a crop of CrackSAM's fixed-size encoder input)."""
    crop = cfg.data.crop
    if crop is not None and cfg.model.model == "cracksam":
        raise ConfigError(f"--crop {crop}: CrackSAM's image encoder takes whole {cfg.model.img_size}x"
                          f"{cfg.model.img_size} inputs; leave --crop out (it is for PARNet)")
    from crackedge.training.batch_crop import check_crop_fits

    check_crop_fits(crop, cfg.model.img_size)
    if cfg.model.model != "cracksam":
        return
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


def _datasets(cfg: TeacherTrainConfig) -> Tuple[Any, Optional[Any]]:
    from crackedge.data.layout import CrackDataset
    from crackedge.data.label_record import labeled_subset
    from crackedge.data.torch_dataset import CrackSegDataset

    data = CrackDataset.open(cfg.data.root)
    size = (cfg.model.img_size, cfg.model.img_size)
    if cfg.data.pseudo_labels is not None:
        train = _pseudo_labeled(cfg, data, size)
    else:
        train = CrackSegDataset(data, cfg.data.train_split, size, augment=cfg.data.augment, seed=cfg.data.seed,
                                photometric=cfg.data.photometric)
    if cfg.data.labeled_fraction < 1 and cfg.data.pseudo_labels is None:
        # the same seeded subset `distill train --labeled-fraction` keeps
        keep = labeled_subset(train.names, cfg.data.labeled_fraction, cfg.data.seed)
        train.names = [n for n in train.names if n in keep]
    val = None
    if cfg.data.val_split is not None:
        if cfg.data.val_split not in data.splits:
            raise ConfigError(
                f"dataset {data.root} has no split {cfg.data.val_split!r} (available: {', '.join(data.splits) or 'none'}); "
                "pass --val-split NAME, or --val-split none to train without validation"
            )
        val = CrackSegDataset(data, cfg.data.val_split, size, augment=False, seed=cfg.data.seed)
    return train, val


def _pseudo_labeled(cfg: TeacherTrainConfig, data: Any, size: Tuple[int, int]) -> Any:
    """The whole training split: --labeled-fraction of it with its masks, the rest with the masks of the
    --pseudo-labels cache (self-training)."""
    from crackedge.data.logit_cache import CacheError, LogitCache
    from crackedge.data.pseudo_labeled import PseudoLabeledDataset
    from crackedge.data.label_record import labeled_subset

    d = cfg.data
    if d.labeled_fraction >= 1:
        raise ConfigError("--pseudo-labels labels the items beyond --labeled-fraction, but every item keeps its "
                          "mask (--labeled-fraction 1): pass --labeled-fraction F < 1, or drop --pseudo-labels")
    try:
        cache = LogitCache.open(d.pseudo_labels)
        names = data.names(d.train_split)
        train = PseudoLabeledDataset(data, d.train_split, size, cache, seed=d.seed, augment=d.augment,
                                     labeled=labeled_subset(names, d.labeled_fraction, d.seed),
                                     photometric=d.photometric)
    except CacheError as err:
        raise ConfigError(f"--pseudo-labels {d.pseudo_labels}: {err}") from None
    log.info("self-training: %d labeled items, %d with the masks of %s (%d views each)",
             len(train.labeled_indices()), len(train.unlabeled_indices()), d.pseudo_labels, train.variants or 1)
    return train


@contextlib.contextmanager
def distributed() -> Iterator[DistInfo]:
    """Join the torchrun process group when launched by torchrun (WORLD_SIZE > 1; NCCL on CUDA, gloo on
    CPU), else a single process; leaves the group on exit."""
    from crackedge.training.runtime import init_distributed

    info = init_distributed()
    try:
        yield info
    finally:
        if info.enabled:
            import torch.distributed

            torch.distributed.destroy_process_group()


def training_label_record(cfg: TeacherTrainConfig) -> dict[str, Any]:
    """The masks this run trains on (`crackedge.data.label_record`), for its checkpoints: the labeled share
    of the training split and, when self-training, the records of the teachers behind --pseudo-labels."""
    from crackedge.data.label_record import label_record
    from crackedge.data.layout import CrackDataset
    from crackedge.data.logit_cache import cached_teacher_labels

    d = cfg.data
    names = CrackDataset.open(d.root).names(d.train_split)
    pseudo_from = cached_teacher_labels(d.pseudo_labels) if d.pseudo_labels is not None else None
    return label_record(names, d.train_split, d.labeled_fraction, d.seed, pseudo_from)


def build_teacher_model(cfg: TeacherTrainConfig) -> Any:
    """The network `cfg.model` describes: CrackSAM on the SAM weights (or random for tiny), PARNet
    with its Swin initialised from `model.swin.checkpoint` when set."""
    if cfg.model.model == "parnet":
        from teacher.models.parnet import build_parnet

        return build_parnet(cfg.model)
    from teacher.models.cracksam import build_cracksam_from_config

    return build_cracksam_from_config(cfg.model, Path(cfg.sam_checkpoint) if cfg.sam_checkpoint else None)


def make_task(cfg: TeacherTrainConfig, model: Any, device: Any, dist: DistInfo) -> Any:
    """The TrainTask of `cfg.model`'s family."""
    if cfg.model.model == "parnet":
        return ParnetTask(model, device, cfg.parnet_loss, dist, crop=cfg.data.crop, seed=cfg.data.seed)
    return CrackSAMTask(model, device, cfg.optim.ce_weight, cfg.optim.dice_weight, dist)


def loop_config(cfg: TeacherTrainConfig, out_dir: Path, steps: int, title: str, resume: bool, progress: bool) -> Any:
    """The shared loop's settings from `cfg.optim` / `cfg.data`."""
    from crackedge.training.loop import LoopConfig

    return LoopConfig(out_dir=out_dir, max_steps=steps, seed=cfg.data.seed, resume=resume, title=title,
                      progress=progress, **cfg.optim.loop_settings())


def parameter_digest(model: Any) -> str:
    """SHA-256 over every parameter's name and bytes: equal digests mean bit-identical weights."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_ranks_agree(model: Any, dist: DistInfo) -> bool:
    """Under torchrun: log each process's parameter digest and, on rank 0, whether they all agree
    (DDP keeps them identical; a difference means the processes trained apart). True if they agree."""
    import torch.distributed

    digest = parameter_digest(model)
    log.info("rank %d of %d: parameter sha256 %s", dist.rank, dist.world_size, digest)
    digests: List[Optional[str]] = [None] * dist.world_size
    torch.distributed.all_gather_object(digests, digest)
    agree = len(set(digests)) == 1
    if dist.is_main:
        if agree:
            log.info("all %d processes hold identical weights", dist.world_size)
        else:
            log.error("the processes hold different weights (sha256 per rank: %s); best.pt has rank 0's", digests)
    return agree


def train_teacher(
    cfg: TeacherTrainConfig, out_dir: Path, resume: bool = False, progress: bool = True, dist: DistInfo = DistInfo()
) -> Any:
    """Train the teacher `cfg` describes; writes config.yaml, best.pt, last.pt, history.jsonl, curves.png
    to `out_dir` (rank 0 only under torchrun) and returns the loop's FitResult.

    Under torchrun pass `dist` (see `distributed()`): every process builds the same model (same seed),
    DDP averages the gradients, the sampler gives each rank its share of every epoch, and
    `optim.batch_size` is per process.
    """
    from crackedge.config import dump_config
    from crackedge.training.loop import fit, steps_for_epochs
    from crackedge.training.runtime import pick_device, seed_everything
    from teacher.api import teacher_name
    from teacher.params import count_parameters

    check_train_config(cfg)
    out_dir = Path(out_dir)
    train_set, val_set = _datasets(cfg)
    device = pick_device(cfg.device)
    seed_everything(cfg.data.seed)
    model = build_teacher_model(cfg)
    name = teacher_name(model)
    if dist.is_main:
        total, trainable = count_parameters(model)
        log.info("%s: %.2f M parameters, %.2f M trainable; %d process(es)", name, total / 1e6, trainable / 1e6,
                 dist.world_size)
        out_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, out_dir / "config.yaml")
    steps = cfg.optim.steps or steps_for_epochs(len(train_set), cfg.optim.batch_size, cfg.optim.epochs, dist.world_size)
    task = make_task(cfg, model, device, dist)
    task.training_labels = training_label_record(cfg)
    result = fit(task, train_set, val_set, loop_config(cfg, out_dir, steps, name, resume, progress), dist)
    if dist.enabled:
        check_ranks_agree(task.model, dist)
    return result
