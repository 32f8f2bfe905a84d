"""Crack segmentation metrics (numpy only): CrackSAM per-image/pooled scores and DeepCrack ODS/OIS/mIoU."""

from crackedge.metrics.accumulator import MetricAccumulator, evaluate_pairs
from crackedge.metrics.counts import PRF, Counts, confusion_counts, prf
from crackedge.metrics.report import DeepCrackScores, MetricReport

__all__ = [
    "Counts",
    "DeepCrackScores",
    "MetricAccumulator",
    "MetricReport",
    "PRF",
    "confusion_counts",
    "evaluate_pairs",
    "prf",
]
