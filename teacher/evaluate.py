"""`teacher eval`: metrics of a trained teacher on a dataset split, per noise case, with overlays.

Writes to OUT: metrics.yaml (every case's metrics, conventions labelled in the keys' docs of
crackedge.metrics, and the all-background / all-crack baselines when given, see teacher.baselines)
and overlays_<case>.jpg (true positives green, false positives orange, false
negatives blue, on the first images of the split).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

log = logging.getLogger(__name__)


def evaluate_teacher(
    model: Any,
    data_root: Path,
    split: str,
    out_dir: Path,
    noise_cases: Sequence[str] = ("clean",),
    device: Any = "cpu",
    batch_size: int = 2,
    threshold: float = 0.5,
    n_overlays: int = 8,
    amp: bool = False,
    workers: int = 0,
    progress: bool = True,
    baselines: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Score `model` (eval mode, on `device`) on `split` for each noise case; returns case -> MetricReport.
    `baselines` (name -> MetricReport, `teacher.baselines.score_baselines`) are stored beside them."""
    import cv2
    import yaml
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from crackedge.data.layout import CrackDataset
    from crackedge.data.torch_dataset import CrackSegDataset, tensor_to_image
    from crackedge.fileio import atomic_write_text
    from crackedge.metrics import MetricAccumulator
    from crackedge.overlay import contact_sheet, draw_caption, error_overlay
    from teacher.api import teacher_name
    from teacher.inference import crack_probability, input_size, run_teacher

    data = CrackDataset.open(data_root)
    size = input_size(model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reports: Dict[str, Any] = {}
    for case in noise_cases:
        ds = CrackSegDataset(data, split, (size, size), augment=False, noise=case)
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers)
        acc = MetricAccumulator(threshold=threshold)
        tiles: List[Any] = []
        for batch in tqdm(loader, desc=f"eval {case}", disable=not progress, unit="batch"):
            prob = crack_probability(run_teacher(model, batch["image"], device, amp)["logits"]).cpu().numpy()
            for i, (p, m) in enumerate(zip(prob, batch["mask"].numpy())):
                acc.add(p, m)
                if len(tiles) < n_overlays:
                    tile = error_overlay(tensor_to_image(batch["image"][i]), p > threshold, m)
                    tiles.append(draw_caption(tile, [batch["name"][i]]))
        reports[case] = acc.report()
        log.info("%s on %s (%s): IoU %.4f, F1 %.4f (CrackSAM convention)", teacher_name(model), split, case,
                 reports[case].iou, reports[case].f1)
        if tiles:
            sheet = contact_sheet(tiles, cols=4)
            cv2.imwrite(str(out_dir / f"overlays_{case}.jpg"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    summary = {
        "teacher": teacher_name(model),
        "dataset": str(Path(data_root)),
        "split": split,
        "size": [size, size],
        "cases": {case: r.to_dict() for case, r in reports.items()},
    }
    if baselines:
        summary["baselines"] = {name: r.to_dict() for name, r in baselines.items()}
    atomic_write_text(out_dir / "metrics.yaml", yaml.safe_dump(summary, sort_keys=False))
    return reports
