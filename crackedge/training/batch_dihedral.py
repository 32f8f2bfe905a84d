"""Random symmetries of the square applied to a whole training batch on the fly, identically to the
image, its mask and the teacher's logits of each sample.

A cached teacher logit map is only valid for the exact pixels it was computed on; a rotation by a
multiple of 90 degrees or a flip moves every pixel without resampling, so image, mask and logits
stay aligned exactly. Cached augmentation views x 8 symmetries gives the student many more distinct
inputs at no teacher cost. Each sample's transform is drawn from (seed, step, sample index), so a
resumed run sees the same batches.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch


def dihedral_codes(n: int, seed: int, step: int, square: bool = True) -> list[tuple[int, bool]]:
    """(quarter turns k, horizontal flip) for each of n samples; k in {0, 2} for non-square inputs."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
    draws = torch.randint(0, 8, (n,), generator=g).tolist()
    codes = [(d % 4, d >= 4) for d in draws]
    return [((k if square else (k // 2) * 2), flip) for k, flip in codes]


def apply_dihedral(t: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """One sample's tensor (... x H x W) turned k quarter turns after an optional horizontal flip."""
    t = torch.flip(t, dims=(-1,)) if flip else t
    return torch.rot90(t, k, dims=(-2, -1)) if k else t


def random_dihedral(tensors: Sequence[Optional[torch.Tensor]], seed: int, step: int) -> list[Optional[torch.Tensor]]:
    """The same random symmetry per sample applied to every tensor (N x ... x H x W; None passes through)."""
    first = next(t for t in tensors if t is not None)
    square = first.shape[-1] == first.shape[-2]
    codes = dihedral_codes(first.shape[0], seed, step, square)
    out: list[Optional[torch.Tensor]] = []
    for t in tensors:
        if t is None:
            out.append(None)
            continue
        out.append(torch.stack([apply_dihedral(t[i], k, f) for i, (k, f) in enumerate(codes)]).contiguous())
    return out
