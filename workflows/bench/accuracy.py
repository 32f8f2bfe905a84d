"""Report section `accuracy`: teacher vs student + CWD vs student alone, read from `distill compare`.

Nothing is trained here: `distill compare` trains the student with and without the teacher under
one budget, exports both, scores both bundles and the teacher on the test split for every noise
case, and writes OUT/compare.yaml. This module reads it and, when the two bundles and the dataset
are still there, draws a figure of a few test images: image | ground truth | student + CWD |
student alone (the bundles run by OpenVINO at their declared precision, as `distill eval` does).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from crackedge.errors import DataError

log = logging.getLogger(__name__)

METRIC_KEYS = ("iou", "f1", "precision", "recall", "ods_f", "ois_f", "miou")
FIGURE_RUNS = (("kd", "student + CWD"), ("none", "student alone"))


def read_compare(compare_dir: Path) -> dict[str, Any]:
    """compare.yaml of a `distill compare` output folder (DataError naming what to run when absent)."""
    path = Path(compare_dir) / "compare.yaml"
    if not path.is_file():
        raise DataError(f"--compare {compare_dir}: no compare.yaml there (run `distill compare --out {compare_dir} ...` first)")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("rows"), dict):
        raise DataError(f"{path}: not a `distill compare` report (no 'rows' mapping)")
    return data


def _existing(candidates: list[Path]) -> Optional[Path]:
    return next((p for p in candidates if p.exists()), None)


def resolve_paths(compare: dict[str, Any], compare_dir: Path) -> tuple[Optional[Path], dict[str, Optional[Path]]]:
    """(dataset folder, {run: bundle folder}) as recorded, else relative to the compare folder; None when gone."""
    compare_dir = Path(compare_dir)
    data = compare.get("data")
    data_dir = _existing([Path(data), compare_dir / data]) if data else None
    bundles = {}
    for run, _ in FIGURE_RUNS:
        recorded = (compare.get("bundles") or {}).get(run)
        cands = ([Path(recorded), compare_dir / recorded] if recorded else []) + [compare_dir / run / "bundle"]
        found = _existing(cands)
        bundles[run] = found if found is not None and (found / "metadata.yaml").is_file() else None
    return data_dir, bundles


def _predictor(bundle: Path):
    """The bundle's FP16 IR on OpenVINO CPU at its declared precision, as the evaluator sees it."""
    from crackedge.runtime.bundle import load_bundle
    from crackedge.runtime.options import RuntimeOptions
    from crackedge.runtime.predictor import BundlePredictor

    return BundlePredictor(load_bundle(bundle), RuntimeOptions(model="ir_fp16", performance_hint="LATENCY", num_requests=1))


def mask_figure(data_dir: Path, split: str, bundles: dict[str, Path], out_png: Path, n_images: int = 4) -> list[str]:
    """Draw n test images: image | ground truth | one column per bundle (errors coloured); returns the names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crackedge.data.layout import CrackDataset
    from crackedge.metrics.counts import confusion_counts, prf
    from crackedge.overlay import blend_mask, error_overlay

    ds = CrackDataset.open(data_dir)
    names = ds.names(split if split in ds.splits else None)
    if not names:
        raise DataError(f"{data_dir}: split {split!r} is empty")
    picks = [names[i] for i in np.linspace(0, len(names) - 1, min(n_images, len(names))).round().astype(int)]
    predictors = {run: _predictor(bundles[run]) for run, _ in FIGURE_RUNS}
    cols = 2 + len(FIGURE_RUNS)
    fig, axes = plt.subplots(len(picks), cols, figsize=(3.2 * cols, 3.0 * len(picks)), squeeze=False)
    for r, name in enumerate(picks):
        image, gt = ds.read(name)
        panels = [(image, name), (blend_mask(image, gt), "ground truth")]
        for run, title in FIGURE_RUNS:
            predict = predictors[run]
            pred = predict(image)[0] > predict.threshold
            iou = prf(confusion_counts(pred, gt.astype(bool))).iou
            panels.append((error_overlay(image, pred, gt), f"{title}  IoU {iou:.3f}"))
        for c, (img, title) in enumerate(panels):
            axes[r][c].imshow(img)
            axes[r][c].set_title(title, fontsize=9)
            axes[r][c].axis("off")
    fig.suptitle("green: crack found, orange: false crack, blue: missed crack", fontsize=9)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return picks


def accuracy_section(compare_dir: Path, figure_png: Optional[Path] = None, n_images: int = 4) -> dict[str, Any]:
    """The `accuracy` section from `distill compare`'s compare.yaml (+ the mask figure when possible)."""
    compare_dir = Path(compare_dir)
    compare = read_compare(compare_dir)
    rows = []
    for key, row in compare["rows"].items():
        metrics = {case: {k: m.get(k) for k in METRIC_KEYS if k in m} for case, m in (row.get("metrics") or {}).items()}
        rows.append({"key": key, "model": row.get("model", key), "runtime": row.get("runtime"),
                     "steps": row.get("steps"), "wall_s": row.get("wall_s"), "metrics": metrics})
    figure: dict[str, Any] = {"path": None, "reason": "no figure requested"}
    if figure_png is not None:
        data_dir, bundles = resolve_paths(compare, compare_dir)
        missing = [run for run, path in bundles.items() if path is None]
        if data_dir is None:
            figure["reason"] = f"dataset {compare.get('data')} not found"
        elif missing:
            figure["reason"] = f"bundle(s) of run(s) {', '.join(missing)} not found under {compare_dir}"
        else:
            try:
                names = mask_figure(data_dir, compare.get("split", "test"), bundles, Path(figure_png), n_images)
                figure = {"path": str(figure_png), "images": names, "reason": None}
            except Exception as err:  # a figure is a bonus: report why it is missing
                log.exception("accuracy figure failed")
                figure["reason"] = f"{type(err).__name__}: {err}"[:300]
    return {
        "source": str(compare_dir / "compare.yaml"),
        **{k: compare.get(k) for k in ("data", "split", "test_images", "noise", "student", "size", "teacher",
                                       "teacher_signal", "budget", "runs")},
        "rows": rows,
        "figure": figure,
    }
