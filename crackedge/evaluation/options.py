"""What an evaluation scores and how: split, noise cases, scoring basis, threshold, overlays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from crackedge.errors import ConfigError
from crackedge.noise import NOISE_CASES

#: image: every prediction is upsampled to the image's own size and scored against the mask as
#: published (the default: teacher and student numbers on one dataset are comparable);
#: input: image and mask are first resized to the model's input size (mask nearest), as a training
#: loop validates.
Basis = Literal["image", "input"]
BASES = ("image", "input")


def describe_basis(basis: str, input_size: Optional[tuple[int, int]]) -> str:
    """One line every report carries: where the pixels were counted."""
    if basis == "input":
        h, w = input_size or (0, 0)
        return f"at the model input size {h}x{w} (image and mask resized; mask nearest)"
    return "at each image's own size (prediction upsampled to the image; masks as published)"


@dataclass
class EvalOptions:
    split: Optional[str] = "test"  # None: every image of the dataset
    noise: tuple[str, ...] = ("clean",)
    basis: str = "image"
    threshold: Optional[float] = None  # None: the model's own (a bundle's threshold, else 0.5)
    out_dir: Optional[Path] = None  # metrics.yaml, metrics.txt, overlays/ (nothing written when None)
    overlays: int = 8  # error overlays per noise case (spread over the split)
    limit: Optional[int] = None  # the first N images only (quick checks)
    baselines: bool = False  # also score all-background and all-crack on the same masks
    progress: bool = True

    def check(self) -> None:
        """ConfigError naming the bad value and the valid ones."""
        bad = [c for c in self.noise if c not in NOISE_CASES]
        if bad:
            raise ConfigError(f"unknown noise case(s) {', '.join(bad)}; valid: {', '.join(NOISE_CASES)}")
        if not self.noise:
            raise ConfigError(f"no noise case given; pass one or more of {', '.join(NOISE_CASES)}")
        if self.basis not in BASES:
            raise ConfigError(f"unknown scoring basis {self.basis!r}; valid: {', '.join(BASES)}")
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise ConfigError(f"threshold must lie in (0, 1), got {self.threshold}")


@dataclass
class EvalResult:
    metrics: dict[str, dict[str, float]]  # noise case -> MetricReport.to_dict()
    tables: dict[str, str]  # noise case -> MetricReport.format()
    basis: str  # describe_basis(): where the pixels were counted
    threshold: float
    latency_ms: float = 0.0  # median network time per image
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    overlays: list[Path] = field(default_factory=list)
    model: str = ""
