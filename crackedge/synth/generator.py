"""Seeded synthetic crack images with exact masks: the built-in default for the demo and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from crackedge.synth.cracks import paint_cracks, random_crack, render_coverage
from crackedge.synth.distractors import DISTRACTORS, lighting
from crackedge.synth.texture import SURFACES


MIN_CRACK_PIXELS = 30


@dataclass(frozen=True)
class SynthConfig:
    p_concrete: float = 0.4  # else asphalt
    p_no_crack: float = 0.1  # crack-free images keep the empty-vs-empty case in every split
    max_cracks: int = 3
    max_branches: int = 4
    p_shadow: float = 0.35
    p_stain: float = 0.3
    p_lane_marking: float = 0.25
    p_joint: float = 0.3


def generate_sample(seed: int, size: tuple[int, int] = (448, 448), cfg: SynthConfig = SynthConfig()) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic image and its exact crack mask.

    Returns (image HxWx3 uint8 RGB, mask HxW uint8 in {0, 1}) for size=(H, W). Same seed, same output.
    """
    rng = np.random.default_rng([int(seed), 0xC7AC])
    h, w = size
    surface = "concrete" if rng.random() < cfg.p_concrete else "asphalt"
    image = SURFACES[surface](rng, (h, w))
    probs = {"shadow": cfg.p_shadow, "stain": cfg.p_stain, "lane_marking": cfg.p_lane_marking, "joint": cfg.p_joint}
    # markings, joints and stains lie on the surface under the cracks; shadows fall over everything
    for name in ("lane_marking", "joint", "stain"):
        if rng.random() < probs[name]:
            image = DISTRACTORS[name](image, rng)
    coverage = np.zeros((h, w), np.float32)
    if rng.random() >= cfg.p_no_crack:
        for _ in range(int(rng.integers(1, cfg.max_cracks + 1))):
            for _attempt in range(8):  # a random walk may leave the frame: redraw until it is visible
                crack = render_coverage(random_crack(rng, (h, w), cfg.max_branches), (h, w))
                if np.count_nonzero(crack >= 0.5) >= MIN_CRACK_PIXELS:
                    break
            coverage = np.maximum(coverage, crack)
    image = paint_cracks(image, coverage, rng)
    if rng.random() < probs["shadow"]:
        image = DISTRACTORS["shadow"](image, rng)
    image = lighting(image, rng)
    mask = (coverage >= 0.5).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def write_synthetic_dataset(
    out: str | Path,
    n_train: int = 64,
    n_val: int = 16,
    n_test: int = 16,
    size: tuple[int, int] = (448, 448),
    seed: int = 0,
    cfg: SynthConfig = SynthConfig(),
    progress: bool = True,
):
    """Write a canonical dataset of synthetic images (PNG) to `out` and return it opened.

    Sample i of the whole set uses seed `seed * 1_000_003 + i`, so the splits never share an image.
    """
    from crackedge.data.writer import DatasetWriter

    writer = DatasetWriter(Path(out))
    jobs = [("train", n_train), ("val", n_val), ("test", n_test)]
    total = sum(n for _, n in jobs)
    bar = tqdm(total=total, desc="synthetic images", disable=not progress, unit="img")
    i = 0
    for split, n in jobs:
        for _ in range(n):
            image, mask = generate_sample(seed * 1_000_003 + i, size, cfg)
            writer.add_array(f"synth_{i:05d}", image, mask, split)
            i += 1
            bar.update(1)
    bar.close()
    return writer.finish(
        {"format": "synthetic", "generator": "crackedge.synth", "seed": seed, "size": list(size), "config": cfg.__dict__}
    )
