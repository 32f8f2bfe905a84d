"""Device choice, mixed precision and DDP set-up (torchrun) in one place."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from crackedge.errors import CrackedgeError


def pick_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda (this process's LOCAL_RANK under torchrun) if available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CrackedgeError(f"device {name!r} requested but CUDA is not available here; pass --device cpu")
        if name == "cuda" and "LOCAL_RANK" in os.environ:
            name = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    elif name != "cpu":
        raise CrackedgeError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    return torch.device(name)


def to_training_device(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` moved to `device` for training; on a CPU also into the channels-last (NHWC) layout,
    in which oneDNN's convolutions train faster (one thread, batch 4 at 256x256, forward + backward +
    AdamW: HRNet-W18-small-v2 1.02 -> 0.75 s a step, PARNet small 0.56 -> 0.49 s). Only the 4-D
    tensors (convolution weights) change their strides: values, state_dict keys and checkpoints are
    the same, and a model loaded from a checkpoint for export or inference is contiguous as usual."""
    model = model.to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    return model


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA GPUs that support it, else fp16 on CUDA; None (no autocast) on CPU."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device | str, enabled: bool = True):
    """Autocast context for the forward pass: mixed precision on CUDA, a no-op on CPU."""
    dtype = amp_dtype(device)
    if not enabled or dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def grad_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """A GradScaler that is active only for fp16 autocast (bf16 needs none)."""
    return torch.amp.GradScaler("cuda", enabled=enabled and amp_dtype(device) == torch.float16)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistInfo:
    """Initialise torch.distributed when launched by torchrun (WORLD_SIZE > 1), else single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
