"""Streaming evaluation of crack probability maps under both reporting conventions.

`MetricAccumulator.add(prob, gt)` costs O(H*W) per image (two bincounts) and keeps only per-image
count vectors, so it evaluates thousands of full-size images in constant memory.

Threshold sweep: thresholds t_k = k / (n + 1), k = 1..n (n = 99 gives 0.01 ... 0.99). A pixel is
predicted crack at threshold t when prob > t (strictly: a probability of exactly 0.5 from tied
logits is background, like argmax over (background, crack)).
"""

from __future__ import annotations

import numpy as np

from crackedge.metrics.counts import Counts, confusion_counts, prf, prf_arrays
from crackedge.metrics.report import DeepCrackScores, MetricReport


class MetricAccumulator:
    """Accumulate per-image counts at a fixed threshold and over a threshold sweep."""

    def __init__(self, threshold: float = 0.5, n_thresholds: int = 99):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if n_thresholds < 1:
            raise ValueError(f"n_thresholds must be >= 1, got {n_thresholds}")
        self.threshold = float(threshold)
        self.thresholds = np.arange(1, n_thresholds + 1, dtype=np.float64) / (n_thresholds + 1)
        self._fixed: list[Counts] = []
        self._tp: list[np.ndarray] = []  # per image, one entry per sweep threshold
        self._fp: list[np.ndarray] = []
        self._n_gt: list[int] = []
        self._n_px: list[int] = []

    def __len__(self) -> int:
        return len(self._fixed)

    def add(self, prob: np.ndarray, gt: np.ndarray) -> None:
        """Add one image. prob: HxW float crack probability in [0, 1] (a binary mask also works);
        gt: HxW ground truth, non-zero = crack."""
        prob = np.asarray(prob)
        gt = np.asarray(gt)
        if prob.shape != gt.shape or prob.ndim != 2:
            raise ValueError(f"prob {prob.shape} and gt {gt.shape} must be the same HxW shape")
        p = prob.astype(np.float32, copy=False)
        g = gt.astype(bool, copy=False)
        self._fixed.append(confusion_counts(p > self.threshold, g))
        # bin b = number of thresholds strictly below p; p > t_k  <=>  k < b
        bins = np.searchsorted(self.thresholds, p.ravel(), side="left")
        n_bins = len(self.thresholds) + 1
        crack_hist = np.bincount(bins[g.ravel()], minlength=n_bins)
        bg_hist = np.bincount(bins[~g.ravel()], minlength=n_bins)
        # positives at threshold k = pixels with bin > k: reversed cumulative sum, shifted by one
        self._tp.append(np.cumsum(crack_hist[::-1])[::-1][1:].astype(np.int64))
        self._fp.append(np.cumsum(bg_hist[::-1])[::-1][1:].astype(np.int64))
        self._n_gt.append(int(g.sum()))
        self._n_px.append(int(g.size))

    def report(self) -> MetricReport:
        """Both conventions over all images added so far."""
        if not self._fixed:
            raise ValueError("no images were added to the MetricAccumulator")
        per_image = [prf(c) for c in self._fixed]
        mean = lambda key: float(np.mean([getattr(s, key) for s in per_image]))  # noqa: E731
        pooled_counts = sum(self._fixed[1:], self._fixed[0])
        return MetricReport(
            n_images=len(self._fixed),
            threshold=self.threshold,
            precision=mean("precision"),
            recall=mean("recall"),
            f1=mean("f1"),
            iou=mean("iou"),
            pooled=prf(pooled_counts),
            deepcrack=self._deepcrack(),
        )

    def _deepcrack(self) -> DeepCrackScores:
        tp = np.stack(self._tp)  # images x thresholds
        fp = np.stack(self._fp)
        n_gt = np.asarray(self._n_gt)[:, None]
        fn = n_gt - tp
        # OIS: best threshold per image, then the mean over images
        _, _, f_img, _ = prf_arrays(tp, fp, fn)
        ois = float(f_img.max(axis=1).mean())
        # ODS: one threshold for the whole dataset on pooled counts
        tp_s, fp_s, fn_s = tp.sum(0), fp.sum(0), fn.sum(0)
        p_s, r_s, f_s, iou_s = prf_arrays(tp_s, fp_s, fn_s)
        k = int(np.argmax(f_s))
        n_px = int(np.sum(self._n_px))
        tn_k = n_px - tp_s[k] - fp_s[k] - fn_s[k]
        bg_iou = tn_k / max(tn_k + fp_s[k] + fn_s[k], 1)
        return DeepCrackScores(
            ods_f=float(f_s[k]),
            ods_threshold=float(self.thresholds[k]),
            ods_precision=float(p_s[k]),
            ods_recall=float(r_s[k]),
            ois_f=ois,
            miou=float((iou_s[k] + bg_iou) / 2),
            crack_iou=float(iou_s[k]),
            background_iou=float(bg_iou),
            accuracy=float((tp_s[k] + tn_k) / max(n_px, 1)),
        )


def evaluate_pairs(pairs, threshold: float = 0.5, n_thresholds: int = 99) -> MetricReport:
    """Convenience: evaluate an iterable of (prob HxW, gt HxW) pairs."""
    acc = MetricAccumulator(threshold, n_thresholds)
    for prob, gt in pairs:
        acc.add(prob, gt)
    return acc.report()
