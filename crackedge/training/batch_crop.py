"""Random square windows cut from a whole training batch on the fly, the same window per sample for
the image, its mask and the teacher's logits.

A fully convolutional student learns thin cracks from their neighbourhood, not from the whole
frame, so a step on crop x crop windows of the (cached) views teaches nearly what a step on the full
views does, at (crop / size)^2 of the cost; validation and export stay at the full size. Like
`batch_dihedral`, a crop moves pixels without resampling, so cached teacher logits stay exact. Each
sample's window is drawn from (seed, step, sample index), so a resumed run sees the same batches.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from crackedge.errors import ConfigError


def check_crop_fits(crop: Optional[int], size: int) -> None:
    """ConfigError naming --crop and --size when a crop is larger than the training input side `size`."""
    if crop is not None and crop > size:
        raise ConfigError(f"--crop {crop} is larger than the training input --size {size}; pass a crop of at most "
                          f"{size} (or leave --crop out to train on whole images)")


def crop_offsets(n: int, height: int, width: int, crop: int, seed: int, step: int) -> list[tuple[int, int]]:
    """(top, left) of a crop x crop window for each of n samples of height x width, uniform over positions."""
    if crop > height or crop > width:
        raise ValueError(f"crop {crop} is larger than the {height}x{width} training input")
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step) + 7)
    tops = torch.randint(0, height - crop + 1, (n,), generator=g).tolist()
    lefts = torch.randint(0, width - crop + 1, (n,), generator=g).tolist()
    return list(zip(tops, lefts))


def random_crop(tensors: Sequence[Optional[torch.Tensor]], crop: int, seed: int,
                step: int) -> list[Optional[torch.Tensor]]:
    """The same random crop x crop window per sample cut from every tensor (N x ... x H x W, all of the
    same H x W; None passes through): N x ... x crop x crop, contiguous."""
    present = [t for t in tensors if t is not None]
    h, w = present[0].shape[-2:]
    for t in present:
        if tuple(t.shape[-2:]) != (h, w):
            raise ValueError(f"random_crop needs tensors of one size, got {tuple(t.shape[-2:])} and {(h, w)}")
    if crop == h and crop == w:
        return list(tensors)
    offsets = crop_offsets(present[0].shape[0], h, w, crop, seed, step)
    out: list[Optional[torch.Tensor]] = []
    for t in tensors:
        if t is None:
            out.append(None)
            continue
        out.append(torch.stack([t[i, ..., y:y + crop, x:x + crop] for i, (y, x) in enumerate(offsets)]).contiguous())
    return out
