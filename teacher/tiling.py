"""Sliding-window inference: large images as overlapping tiles at the model's native scale, blended
with a smooth window so that no seams show.

    plan = plan_tiles(height, width, tile=448, overlap=0.25)   # where the tiles go, their weights
    prob = tiled_probability(prob_fn, image, tile=448)          # H x W crack probability

Tiles are `tile` x `tile` (the model's input size), consecutive tiles overlap by about `overlap * tile`
pixels and the last tile in each direction is flush with the image border. Each tile's prediction is
weighted by a window that is 1 in its middle and falls off as a raised cosine (Hann) over the overlap
on every side that another tile overlaps (sides on the image border keep weight 1), so neighbouring
tiles cross-fade; every pixel's weights are normalised to sum to one. An image smaller than the tile
in a direction is padded (with zeros in normalised units, i.e. the ImageNet mean colour, as PARNet and
SAM pad) and the padding is cropped off the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Tuple

import numpy as np

DEFAULT_OVERLAP = 0.25
AUTO_TILE_FACTOR = 1.5  # mode "auto" tiles an image more than 1.5x the input size in either direction
MODES = ("auto", "tile", "resize")


def tile_starts(length: int, tile: int, overlap_px: int) -> List[int]:
    """Start offsets of tiles of size `tile` covering [0, length) with at least `overlap_px` overlap;
    the last tile ends exactly at `length`. length <= tile: one tile at 0."""
    if tile < 1 or not 0 <= overlap_px < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got tile {tile}, overlap {overlap_px}")
    if length <= tile:
        return [0]
    stride = tile - overlap_px
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def ramp(length: int, taper: int, left: bool, right: bool) -> np.ndarray:
    """1-D window of `length` samples: 1 in the middle, a raised-cosine rise over the first `taper`
    samples (if `left`) and fall over the last `taper` (if `right`). Values in (0, 1]."""
    w = np.ones(length, dtype=np.float64)
    taper = min(taper, length // 2)
    if taper > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(taper) + 0.5) / taper)  # strictly positive
        if left:
            w[:taper] = rise
        if right:
            w[length - taper:] = rise[::-1]
    return w


@dataclass(frozen=True)
class TilePlan:
    """Tiles covering a `height` x `width` canvas (at least `tile` in each direction)."""

    height: int
    width: int
    tile: int
    origins: Tuple[Tuple[int, int], ...]  # (y0, x0) of each tile
    windows: np.ndarray  # T x tile x tile raw blend weights, > 0

    def weight_sum(self) -> np.ndarray:
        """H x W: the sum of the raw windows over the tiles covering each pixel (> 0 everywhere)."""
        total = np.zeros((self.height, self.width), dtype=np.float64)
        for (y, x), w in zip(self.origins, self.windows):
            total[y:y + self.tile, x:x + self.tile] += w
        return total

    def blend(self, tiles: np.ndarray) -> np.ndarray:
        """T x tile x tile predictions -> H x W weighted mean (the normalised weights sum to one)."""
        acc = np.zeros((self.height, self.width), dtype=np.float64)
        for (y, x), w, t in zip(self.origins, self.windows, tiles):
            acc[y:y + self.tile, x:x + self.tile] += w * t
        return acc / self.weight_sum()


def plan_tiles(height: int, width: int, tile: int, overlap: float = DEFAULT_OVERLAP) -> TilePlan:
    """Tile origins and blend windows for a canvas of at least `tile` x `tile` pixels.

    overlap: fraction of the tile that consecutive tiles share (0 <= overlap < 1; default 0.25).
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if height < tile or width < tile:
        raise ValueError(f"canvas {height}x{width} is smaller than the tile {tile}; pad it first")
    overlap_px = int(round(overlap * tile))
    ys = tile_starts(height, tile, overlap_px)
    xs = tile_starts(width, tile, overlap_px)
    origins, windows = [], []
    for iy, y in enumerate(ys):
        wy = ramp(tile, overlap_px, left=iy > 0, right=iy < len(ys) - 1)
        for ix, x in enumerate(xs):
            wx = ramp(tile, overlap_px, left=ix > 0, right=ix < len(xs) - 1)
            origins.append((y, x))
            windows.append(np.outer(wy, wx))
    return TilePlan(height, width, tile, tuple(origins), np.stack(windows))


def choose_mode(height: int, width: int, tile: int, mode: str = "auto") -> str:
    """"tile" or "resize" for an image of height x width: `auto` tiles when either side exceeds
    AUTO_TILE_FACTOR x the model input `tile`, else resizes the whole image to the input size."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    return "tile" if max(height, width) > AUTO_TILE_FACTOR * tile else "resize"


def tiled_probability(
    prob_fn: Callable[[Any], Any], image: Any, tile: int, overlap: float = DEFAULT_OVERLAP, batch_size: int = 4
) -> Any:
    """Crack probability of a whole image from tiles.

    prob_fn: float32 N x 3 x tile x tile (normalised) -> N x tile x tile probabilities (any device);
    image: float32 3 x H x W normalised (torch). Returns float32 H x W on the CPU. Tiles go through
    `prob_fn` `batch_size` at a time.
    """
    import torch
    import torch.nn.functional as F

    _, height, width = image.shape
    pad_h, pad_w = max(0, tile - height), max(0, tile - width)
    canvas = F.pad(image, (0, pad_w, 0, pad_h)) if pad_h or pad_w else image
    plan = plan_tiles(canvas.shape[1], canvas.shape[2], tile, overlap)
    windows = torch.from_numpy(plan.windows).float()
    acc = torch.zeros(canvas.shape[1:], dtype=torch.float32)
    weight = torch.from_numpy(plan.weight_sum()).float()
    for start in range(0, len(plan.origins), batch_size):
        origins = plan.origins[start:start + batch_size]
        batch = torch.stack([canvas[:, y:y + tile, x:x + tile] for y, x in origins])
        probs = prob_fn(batch).float().cpu()
        for (y, x), w, p in zip(origins, windows[start:start + batch_size], probs):
            acc[y:y + tile, x:x + tile] += w * p
    return (acc / weight)[:height, :width]
