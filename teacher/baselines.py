"""Trivial baselines a crack model must beat: predict background everywhere, or crack everywhere.

Both are scored with `crackedge.metrics` exactly like a model (`teacher eval` prints them beside the
model's numbers; `teacher baseline` prints them alone). With cracks on every image, all-background
scores IoU = F1 = 0 and all-crack scores IoU = the crack-pixel fraction; on images without cracks the
CrackSAM convention gives all-background 1 (empty prediction vs empty ground truth), which is why
these numbers are worth printing rather than assuming.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Optional

import numpy as np

from crackedge.metrics import MetricAccumulator, MetricReport

BASELINES: Dict[str, float] = {"all-background": 0.0, "all-crack": 1.0}  # name -> constant crack probability


def score_baselines(
    data_root: Path, split: str, size: Optional[int] = None, threshold: float = 0.5, progress: bool = False
) -> Dict[str, MetricReport]:
    """Baseline name -> report over the masks of `split`, resized (nearest) to `size` x `size` as
    `teacher eval` sees them, or at their own size when `size` is None."""
    import cv2
    from tqdm import tqdm

    from crackedge.data.layout import CrackDataset
    from crackedge.errors import DataError

    data = CrackDataset.open(data_root)
    if split not in data.splits:
        raise DataError(f"dataset {data.root} has no split {split!r} (available: {', '.join(data.splits) or 'none'})")
    names = data.names(split)
    if not names:
        raise DataError(f"split {split!r} of {data.root} is empty")
    accs = {name: MetricAccumulator(threshold=threshold) for name in BASELINES}
    for name in tqdm(names, desc=f"baselines {split}", disable=not progress, unit="img"):
        mask = data.read_mask(name)
        if size is not None and mask.shape != (size, size):
            mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
        for baseline, value in BASELINES.items():
            accs[baseline].add(np.full(mask.shape, value, dtype=np.float32), mask)
    return {name: acc.report() for name, acc in accs.items()}


COLUMNS = (  # (header, key of MetricReport.to_dict())
    ("IoU", "iou"),
    ("F1", "f1"),
    ("pooled IoU", "pooled_iou"),
    ("pooled F1", "pooled_f1"),
    ("ODS F", "ods_f"),
    ("mIoU", "miou"),
)


def comparison_table(reports: Mapping[str, MetricReport]) -> str:
    """A markdown table, one row per report (model and baselines); IoU/F1 are the CrackSAM per-image
    means at the reports' threshold, pooled over all pixels, and the DeepCrack ODS F / mIoU."""
    header = "| | " + " | ".join(h for h, _ in COLUMNS) + " |"
    lines = [header, "|---|" + "---:|" * len(COLUMNS)]
    for name, report in reports.items():
        d = report.to_dict()
        lines.append(f"| {name} | " + " | ".join(f"{d[key]:.4f}" for _, key in COLUMNS) + " |")
    return "\n".join(lines)
