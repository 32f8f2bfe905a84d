"""Batches that mix labeled and unlabeled items in a fixed share, deterministic and resumable.

Every batch holds `batch_size - n_unlabeled` labeled items and `n_unlabeled = round(batch_size *
share)` unlabeled ones. An epoch is one pass over the labeled items; the unlabeled items are drawn
from their own permutations, one after another, so every unlabeled item is used before any repeats.
Both orders depend only on (seed, epoch), so a resumed run continues with the batches it would have
seen (`set_epoch(epoch, skip_samples)`, the interface of ResumableSampler).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def unlabeled_per_batch(batch_size: int, share: float) -> int:
    """Unlabeled items in a batch: round(batch_size * share), keeping at least one labeled item."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"the unlabeled share of a batch must lie in [0, 1), got {share}")
    return min(batch_size - 1, int(round(batch_size * share)))


class MixedBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices: labeled ones from `labeled`, unlabeled ones from `unlabeled`."""

    def __init__(self, labeled: Sequence[int], unlabeled: Sequence[int], batch_size: int, share: float,
                 seed: int = 0) -> None:
        if not labeled:
            raise ValueError("a mixed batch needs labeled items; none were given")
        self.labeled, self.unlabeled = list(labeled), list(unlabeled)
        self.n_unlabeled = unlabeled_per_batch(batch_size, share) if self.unlabeled else 0
        self.n_labeled = batch_size - self.n_unlabeled
        self.batch_size, self.seed = batch_size, seed
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_samples: int = 0) -> None:
        """Select `epoch` and drop its first batches covering `skip_samples` samples."""
        self.epoch, self.skip_batches = int(epoch), int(skip_samples) // self.batch_size

    def _perm(self, n: int, stream: int, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed((self.seed * 100_003 + epoch) * 4 + stream)
        return torch.randperm(n, generator=g).tolist()

    def batches_per_epoch(self) -> int:
        return len(self.labeled) // self.n_labeled

    def _unlabeled_stream(self) -> Iterator[int]:
        """Unlabeled indices continuing across epochs: the permutations 0, 1, 2 ... concatenated."""
        per_epoch = self.batches_per_epoch() * self.n_unlabeled
        start = self.epoch * per_epoch
        k, offset = divmod(start, len(self.unlabeled)) if self.unlabeled else (0, 0)
        while True:
            perm = self._perm(len(self.unlabeled), 1, k)
            for i in perm[offset:]:
                yield self.unlabeled[i]
            k, offset = k + 1, 0

    def __iter__(self) -> Iterator[list[int]]:
        lab = [self.labeled[i] for i in self._perm(len(self.labeled), 0, self.epoch)]
        unl = self._unlabeled_stream() if self.n_unlabeled else iter(())
        for b in range(self.batches_per_epoch()):
            batch = lab[b * self.n_labeled:(b + 1) * self.n_labeled] + [next(unl) for _ in range(self.n_unlabeled)]
            if b >= self.skip_batches:
                yield batch

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.skip_batches)
