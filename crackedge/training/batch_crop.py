"""Random square windows cut from a whole training batch on the fly, the same window per sample for
the image, its mask and the teacher's logits.

A fully convolutional student learns thin cracks from their neighbourhood, not from the whole
frame, so a step on crop x crop windows of the (cached) views teaches nearly what a step on the full
views does, at (crop / size)^2 of the cost; validation and export stay at the full size. Like
`batch_dihedral`, a crop moves pixels without resampling, so cached teacher logits stay exact. Each
sample's window is drawn from (seed, step, sample index), so a resumed run sees the same batches.

Teacher logits cached at another resolution than the student's input (a cache made at 448 for a
student trained at 224) are cut from the same region of the view: the window scaled by the ratio of
the sizes, its corner drawn on a grid where the scaled corner is a whole pixel (every 2nd position
for a cache at half the input size; every position for one at 2x). A ratio that leaves no whole
window is refused before training (`check_crop_scales`).
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm
from typing import Optional, Sequence

import torch

from crackedge.errors import ConfigError


def check_crop_fits(crop: Optional[int], size: int) -> None:
    """ConfigError naming --crop and --size when a crop is larger than the training input side `size`."""
    if crop is not None and crop > size:
        raise ConfigError(f"--crop {crop} is larger than the training input --size {size}; pass a crop of at most "
                          f"{size} (or leave --crop out to train on whole images)")


def crop_offsets(n: int, height: int, width: int, crop: int, seed: int, step: int,
                 grid: tuple[int, int] = (1, 1)) -> list[tuple[int, int]]:
    """(top, left) of a crop x crop window for each of n samples of height x width, uniform over the
    positions that are multiples of `grid` (rows, columns)."""
    if crop > height or crop > width:
        raise ValueError(f"crop {crop} is larger than the {height}x{width} training input")
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step) + 7)
    tops = (torch.randint(0, (height - crop) // grid[0] + 1, (n,), generator=g) * grid[0]).tolist()
    lefts = (torch.randint(0, (width - crop) // grid[1] + 1, (n,), generator=g) * grid[1]).tolist()
    return list(zip(tops, lefts))


def _window_grid(base: tuple[int, int], sizes: Sequence[tuple[int, int]], crop: int) -> tuple[int, int]:
    """The corner grid (rows, columns) on which a crop x crop window of a `base`-sized input maps to a
    whole window of every size in `sizes`; ValueError naming the sizes when there is none."""
    grid = []
    for axis in (0, 1):
        step = 1
        for size in sizes:
            ratio = Fraction(size[axis], base[axis])
            if (crop * ratio).denominator != 1:
                raise ValueError(f"a {crop}-pixel crop of the {base[0]}x{base[1]} input is not a whole window of the "
                                 f"{size[0]}x{size[1]} teacher logits; cache the teacher at the input size or an integer "
                                 "multiple of it, or choose a crop that the size ratio divides")
            step = lcm(step, ratio.denominator)
        grid.append(step)
    return grid[0], grid[1]


def check_crop_scales(crop: Optional[int], size: tuple[int, int], teacher_size: Optional[tuple[int, int]]) -> None:
    """ConfigError before training when teacher logits of `teacher_size` cannot be cut with --crop at `size`."""
    if crop is None or teacher_size is None or tuple(teacher_size) == tuple(size):
        return
    try:
        _window_grid(tuple(size), [tuple(teacher_size)], crop)
    except ValueError as err:
        raise ConfigError(f"--crop {crop}: {err}") from None


def random_crop(tensors: Sequence[Optional[torch.Tensor]], crop: int, seed: int,
                step: int) -> list[Optional[torch.Tensor]]:
    """The same random crop x crop window per sample cut from every tensor (N x ... x H x W; None passes
    through). The first tensor sets the input size H x W and gets N x ... x crop x crop; a tensor of
    another size (teacher logits cached at another resolution) gets the same region, the window scaled
    by its size ratio. Contiguous."""
    present = [t for t in tensors if t is not None]
    h, w = present[0].shape[-2:]
    if crop == h and crop == w:
        return list(tensors)
    sizes = [tuple(t.shape[-2:]) for t in present]
    grid = _window_grid((h, w), sizes, crop)
    offsets = crop_offsets(present[0].shape[0], h, w, crop, seed, step, grid)
    out: list[Optional[torch.Tensor]] = []
    for t in tensors:
        if t is None:
            out.append(None)
            continue
        fy, fx = Fraction(t.shape[-2], h), Fraction(t.shape[-1], w)
        ch, cw = int(crop * fy), int(crop * fx)
        out.append(torch.stack([t[i, ..., int(y * fy):int(y * fy) + ch, int(x * fx):int(x * fx) + cw]
                                for i, (y, x) in enumerate(offsets)]).contiguous())
    return out
