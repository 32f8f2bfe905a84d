"""Report section `accuracy`: teacher vs distilled student vs student alone, read from `distill compare`.

Nothing is trained here: `distill compare` trains the student with and without the teacher on several
seeds under one budget, exports every run to a bundle, scores the bundles and the teacher on every
evaluation set for every noise case, and writes OUT/compare.yaml (`distill.compare_report.report_dict`):
per-seed metrics, and per set and case the mean ± sd over the seeds of the distilled run, of the run
alone and of their paired difference. This module reads it and, when the first seed's two bundles
(OUT/seed<S>/kd/bundle, OUT/seed<S>/alone/bundle) and the first evaluation set are still there, draws
a figure of a few of its images: image | ground truth | distilled | alone (the bundles run by OpenVINO
at their declared precision, as `distill eval` does).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from crackedge.errors import DataError

log = logging.getLogger(__name__)

TEACHER_KEYS = ("iou", "f1", "precision", "recall", "ods_f", "ois_f", "miou")
FIGURE_RUNS = (("kd", "distilled"), ("alone", "alone"))
REQUIRED = ("student", "eval_sets", "noise", "budget", "runs", "metrics", "summary")
NOTE_FILE = "NOTE.md"  # a hand-written note in a compare folder, printed under its subsection
# copied as they are from compare.yaml into the section
COPIED = ("student", "size", "data", "eval_sets", "noise", "teacher", "teacher_signal", "teacher_cache_val_iou",
          "soft_loss", "budget", "cut_by_max_minutes", "teacher_labels", "runs", "summary")


def read_compare(compare_dir: Path) -> dict[str, Any]:
    """compare.yaml of a `distill compare` output folder (DataError naming what to run when absent or old)."""
    path = Path(compare_dir) / "compare.yaml"
    again = f"run `distill compare --out {compare_dir} ...`"
    if not path.is_file():
        raise DataError(f"--compare {compare_dir}: no compare.yaml there ({again} first)")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a `distill compare` report (not a mapping)")
    if "rows" in data and "summary" not in data:
        raise DataError(f"{path}: written by the old single-seed `distill compare` (a 'rows' mapping, no 'summary'); "
                        f"{again} again with --seeds")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise DataError(f"{path}: not a `distill compare` report (no {', '.join(repr(k) for k in missing)})")
    if not data["eval_sets"] or not isinstance(data["summary"], dict):
        raise DataError(f"{path}: no evaluation set or no 'summary' mapping")
    return data


def _existing(candidates: list[Path]) -> Optional[Path]:
    return next((p for p in candidates if p.exists()), None)


def first_seed(compare: dict[str, Any]) -> int:
    """The seed the mask figure shows: the first of budget.seeds."""
    seeds = (compare.get("budget") or {}).get("seeds") or [0]
    return int(seeds[0])


def resolve_paths(compare: dict[str, Any], compare_dir: Path) -> tuple[Optional[Path], dict[str, Optional[Path]]]:
    """(first evaluation set's folder, {"kd"|"alone": bundle folder of the first seed}); the set as recorded,
    else relative to the compare folder; the bundles under the compare folder; None for what is gone."""
    compare_dir = Path(compare_dir)
    recorded = (compare.get("eval_sets") or [{}])[0].get("path")
    data_dir = _existing([Path(recorded), compare_dir / recorded]) if recorded else None
    seed = first_seed(compare)
    bundles: dict[str, Optional[Path]] = {}
    for run, _ in FIGURE_RUNS:
        bundle = compare_dir / f"seed{seed}" / run / "bundle"
        bundles[run] = bundle if (bundle / "metadata.yaml").is_file() else None
    return data_dir, bundles


def _predictor(bundle: Path):
    """The bundle's FP16 IR on OpenVINO CPU at its declared precision, as the evaluator sees it."""
    from crackedge.runtime.bundle import load_bundle
    from crackedge.runtime.options import RuntimeOptions
    from crackedge.runtime.predictor import BundlePredictor

    return BundlePredictor(load_bundle(bundle), RuntimeOptions(model="ir_fp16", performance_hint="LATENCY", num_requests=1))


def mask_figure(data_dir: Path, split: Optional[str], columns: dict[str, Path], out_png: Path,
                n_images: int = 4) -> list[str]:
    """Draw n images of `split` (None or "all": every image): image | ground truth | one column per bundle
    ({column title: bundle folder}, errors coloured); returns the image names."""
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
    predictors = {title: _predictor(bundle) for title, bundle in columns.items()}
    cols = 2 + len(predictors)
    fig, axes = plt.subplots(len(picks), cols, figsize=(3.2 * cols, 3.0 * len(picks)), squeeze=False)
    for r, name in enumerate(picks):
        image, gt = ds.read(name)
        panels = [(image, name), (blend_mask(image, gt), "ground truth")]
        for title, predict in predictors.items():
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


def _figure(compare: dict[str, Any], compare_dir: Path, figure_png: Path, n_images: int) -> dict[str, Any]:
    """{"path", "images", "seed", "eval_set", "reason"}: the mask figure, or why it was not drawn."""
    first = compare["eval_sets"][0]
    seed = first_seed(compare)
    figure: dict[str, Any] = {"path": None, "seed": seed, "eval_set": first.get("name"), "reason": None}
    data_dir, bundles = resolve_paths(compare, compare_dir)
    missing = [f"seed{seed}/{run}/bundle" for run, path in bundles.items() if path is None]
    if data_dir is None:
        figure["reason"] = f"evaluation set {first.get('name')} ({first.get('path')}) not found"
    elif missing:
        figure["reason"] = f"{', '.join(missing)} not found under {compare_dir}"
    else:
        columns = {f"{title} (seed {seed})": bundles[run] for run, title in FIGURE_RUNS}
        try:
            names = mask_figure(data_dir, first.get("split"), columns, Path(figure_png), n_images)
            figure.update(path=str(figure_png), images=names)
        except Exception as err:  # a figure is a bonus: report why it is missing
            log.exception("accuracy figure failed")
            figure["reason"] = f"{type(err).__name__}: {err}"[:300]
    return figure


def accuracy_section(compare_dir: Path, figure_png: Optional[Path] = None, n_images: int = 4) -> dict[str, Any]:
    """The `accuracy` section from `distill compare`'s compare.yaml (+ the mask figure when possible):
    its setup, budget, runs and summaries as written, the teacher's metrics, and as `note` the text of
    COMPARE_DIR/NOTE.md when one was written (what the record cannot say: machine, commit, reused runs)."""
    compare_dir = Path(compare_dir)
    compare = read_compare(compare_dir)
    teacher = {name: {case: {k: m[k] for k in TEACHER_KEYS if k in m} for case, m in cases.items()}
               for name, cases in ((compare.get("metrics") or {}).get("teacher") or {}).items()}
    figure: dict[str, Any] = {"path": None, "reason": "no figure requested"}
    if figure_png is not None:
        figure = _figure(compare, compare_dir, Path(figure_png), n_images)
    section = {"source": str(compare_dir / "compare.yaml"), **{k: compare.get(k) for k in COPIED},
               "teacher_metrics": teacher, "figure": figure}
    if compare.get("summary_int8"):
        section["summary_int8"] = compare["summary_int8"]
    note = (compare_dir / NOTE_FILE).read_text(encoding="utf-8").strip() if (compare_dir / NOTE_FILE).is_file() else ""
    if note:
        section["note"] = note
    return section


def keep_notes(sections: list[dict[str, Any]], cached: Optional[dict[str, Any]]) -> None:
    """Give every freshly measured section without a NOTE.md the hand-written `note` that the cached result held
    for the same compare.yaml (`source`), so measuring a comparison again does not drop what was written about it."""
    old = [cached, *(cached.get("more") or [])] if cached else []
    notes = {s.get("source"): s["note"] for s in old if s.get("note")}
    for section in sections:
        if not section.get("note") and section.get("source") in notes:
            section["note"] = notes[section["source"]]
