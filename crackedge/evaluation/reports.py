"""What an evaluation leaves for a person: metrics.yaml, metrics.txt and error overlays.

    OUT/metrics.yaml    model, data, split, basis, threshold, latency, metrics per noise case, baselines
    OUT/metrics.txt     the same as tables, each naming its conventions and basis
    OUT/overlays/<case>/<name>.jpg   true positives green, false positives orange, false negatives blue
    OUT/overlays_<case>.jpg          those overlays on one contact sheet
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import yaml

from crackedge.errors import DataError
from crackedge.fileio import atomic_write_text, write_image_atomic

if TYPE_CHECKING:
    from crackedge.evaluation.options import EvalOptions, EvalResult

METRICS_NAME = "metrics.yaml"


def spread(items: list, n: int) -> list:
    """n items evenly spread over `items` (all of them when there are fewer)."""
    if len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in idx]


class OverlayWriter:
    """Writes error overlays for a spread of images, per noise case, and one contact sheet per case."""

    def __init__(self, out_dir: Optional[Path], names: list[str], n: int, threshold: float) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.names = set(spread(names, n)) if self.out_dir is not None and n > 0 else set()
        self.threshold = threshold
        self.tiles: dict[str, list[np.ndarray]] = {}
        self.paths: list[Path] = []

    def add(self, case: str, name: str, image: np.ndarray, prob: np.ndarray, gt: np.ndarray) -> None:
        if name not in self.names or self.out_dir is None:
            return
        from crackedge.metrics.counts import confusion_counts, prf
        from crackedge.overlay import draw_caption, error_overlay

        pred = prob > self.threshold
        iou = prf(confusion_counts(pred, gt.astype(bool))).iou
        tile = draw_caption(error_overlay(image, pred, gt), [f"{name} [{case}]  IoU {iou:.3f}"])
        path = self.out_dir / "overlays" / case / f"{name}.jpg"
        write_image_atomic(path, tile)
        self.paths.append(path)
        self.tiles.setdefault(case, []).append(tile)

    def close(self) -> list[Path]:
        """Write the contact sheets; returns every overlay file written."""
        from crackedge.overlay import contact_sheet

        for case, tiles in self.tiles.items():
            path = self.out_dir / f"overlays_{case}.jpg"  # type: ignore[operator]
            write_image_atomic(path, contact_sheet(tiles, cols=4))
            self.paths.append(path)
        return self.paths


def write_reports(out_dir: Path, data_dir: Path, opts: "EvalOptions", result: "EvalResult",
                  source: Optional[dict[str, Any]] = None) -> None:
    """metrics.yaml (`source` keys first: what was scored) and metrics.txt in `out_dir`."""
    summary = {
        "model": result.model,
        **(source or {}),
        "data": str(data_dir),
        "split": opts.split or "all",
        "limit": opts.limit,
        "basis": opts.basis,
        "scored": result.basis,
        "threshold": result.threshold,
        "median_infer_ms": round(result.latency_ms, 2),
        "metrics": result.metrics,
    }
    if result.baselines:
        summary["baselines"] = result.baselines
    atomic_write_text(Path(out_dir) / METRICS_NAME, yaml.safe_dump(summary, sort_keys=False))
    lines = list(result.tables.values())
    if result.baselines:
        lines.append(baseline_table({"model (clean)": result.metrics.get("clean") or next(iter(result.metrics.values())),
                                     **result.baselines}))
    atomic_write_text(Path(out_dir) / "metrics.txt", "\n\n".join(lines) + "\n")


def read_metrics(out_dir: Path) -> dict[str, Any]:
    """An evaluation's metrics.yaml as a dict (DataError naming the file when absent or unreadable)."""
    path = Path(out_dir) / METRICS_NAME
    if not path.is_file():
        raise DataError(f"{path}: no evaluation found there (run `teacher eval` / `distill eval` with --out {out_dir})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "metrics" not in data:
        raise DataError(f"{path}: not an evaluation report (no 'metrics' key)")
    return data


BASELINE_COLUMNS = (("IoU", "iou"), ("F1", "f1"), ("pooled IoU", "pooled_iou"), ("pooled F1", "pooled_f1"),
                    ("ODS F", "ods_f"), ("mIoU", "miou"))


def baseline_table(rows: dict[str, dict[str, float]]) -> str:
    """A markdown table, one row per scored thing (the model and the trivial baselines): IoU/F1 are the
    CrackSAM per-image means, then pooled over all pixels, then the DeepCrack ODS F / mIoU."""
    lines = ["| | " + " | ".join(h for h, _ in BASELINE_COLUMNS) + " |", "|---|" + "---:|" * len(BASELINE_COLUMNS)]
    for name, d in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{d[key]:.4f}" for _, key in BASELINE_COLUMNS) + " |")
    return "\n".join(lines)
