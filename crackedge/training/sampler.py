"""A deterministic, resumable sampler: epoch e's order depends only on (seed, e), so a resumed run
skips exactly the batches it already trained on and sees the same data afterwards. Under DDP each
rank takes every world_size-th index of the same permutation."""

from __future__ import annotations

import math

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    def __init__(self, n: int, shuffle: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip_samples: int = 0) -> None:
        """Select epoch `epoch` and drop its first `skip_samples` samples (of this rank)."""
        self.epoch, self.skip = epoch, skip_samples

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        per_rank = math.ceil(self.n / self.world_size)
        order += order[: per_rank * self.world_size - self.n]  # pad so every rank has as many
        return order[self.rank :: self.world_size][self.skip :]

    def __iter__(self):
        return iter(self._indices())

    def __len__(self) -> int:
        return max(0, math.ceil(self.n / self.world_size) - self.skip)
