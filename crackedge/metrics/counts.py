"""Confusion counts and precision / recall / F1 / IoU from counts, with the empty-case convention.

Convention (CrackSAM, applied everywhere here): when an image has no crack pixels in the ground
truth AND none in the prediction, every score is 1 (a perfect answer). When only one side is empty
the scores are 0. Concretely, with tp/fp/fn counts of the crack class:

- precision = tp / (tp + fp), or 1 if tp + fp = 0 and fn = 0, else 0
- recall    = tp / (tp + fn), or 1 if tp + fn = 0 and fp = 0, else 0
- F1        = 2 tp / (2 tp + fp + fn), or 1 if all three are 0
- IoU       = tp / (tp + fp + fn),     or 1 if all three are 0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Counts:
    """Pixel counts for the crack class."""

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float
    iou: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def confusion_counts(pred: np.ndarray, gt: np.ndarray) -> Counts:
    """Counts of a binary prediction against a binary ground truth (both HxW, any truthy dtype)."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
    p = pred.astype(bool, copy=False)
    g = gt.astype(bool, copy=False)
    tp = int(np.count_nonzero(p & g))
    n_p = int(np.count_nonzero(p))
    n_g = int(np.count_nonzero(g))
    fp = n_p - tp
    fn = n_g - tp
    return Counts(tp=tp, fp=fp, fn=fn, tn=int(p.size) - tp - fp - fn)


def _ratio(num: np.ndarray, den: np.ndarray, other_err: np.ndarray) -> np.ndarray:
    """num/den where den > 0; else 1 when other_err == 0 (both sides empty), 0 otherwise."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    empty_value = np.where(np.asarray(other_err) == 0, 1.0, 0.0)
    return np.where(den > 0, num / np.maximum(den, 1), empty_value)


def prf_arrays(tp, fp, fn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised precision, recall, F1, IoU for arrays of counts (same convention as `prf`)."""
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    fn = np.asarray(fn, dtype=np.float64)
    precision = _ratio(tp, tp + fp, fn)
    recall = _ratio(tp, tp + fn, fp)
    all_zero = (tp + fp + fn) == 0
    f1 = np.where(all_zero, 1.0, 2 * tp / np.maximum(2 * tp + fp + fn, 1))
    iou = np.where(all_zero, 1.0, tp / np.maximum(tp + fp + fn, 1))
    return precision, recall, f1, iou


def prf(counts: Counts) -> PRF:
    """Precision, recall, F1 and IoU of the crack class from counts (see module convention)."""
    p, r, f, i = prf_arrays(counts.tp, counts.fp, counts.fn)
    return PRF(float(p), float(r), float(f), float(i))
