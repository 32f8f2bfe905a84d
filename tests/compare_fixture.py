"""A `distill compare` output folder without training: compare.yaml written by the real
`distill.compare_report.report_dict` from hand-made per-seed metrics, so its shape is the one compare writes.

Per-seed crack IoU on every set, noise case `clean` (other cases lower by CASE_DROP, other sets by SET_DROP):

    seed      0     1     2
    kd        0.60  0.62  0.58    mean 0.60 ± 0.02
    alone     0.55  0.56  0.54    mean 0.55 ± 0.01
    kd-alone  0.05  0.06  0.04    mean +0.05 ± 0.01

F1 = IoU + 0.1, ODS F = IoU + 0.12, mIoU = 0.8 (so every difference but mIoU's is the IoU's). INT8 runs score
0.01 less than their FP16 IR. The teacher scores 0.64 (clean), less the same drops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import yaml

KD = {0: 0.60, 1: 0.62, 2: 0.58}
ALONE = {0: 0.55, 1: 0.56, 2: 0.54}
TEACHER = 0.64
CASE_DROP = {"clean": 0.0, "dim": 0.10, "blurry": 0.16}
SET_DROP = [0.0, 0.2]


def metric_report(iou: float, n_images: int) -> dict[str, float]:
    """The keys of crackedge.metrics.report.MetricReport.to_dict() that matter here."""
    return {"n_images": float(n_images), "threshold": 0.5, "precision": 0.7, "recall": 0.7, "f1": iou + 0.1,
            "iou": iou, "pooled_iou": iou, "ods_f": iou + 0.12, "ods_threshold": 0.4, "ois_f": iou + 0.14,
            "miou": 0.8, "accuracy": 0.97}


def write_compare_yaml(folder: Path, *, seeds: Sequence[int] = (0, 1, 2),
                       eval_sets: Optional[list[tuple[str, Path, Optional[str], int]]] = None,
                       noise: Sequence[str] = ("clean", "dim", "blurry"), cut: bool = False, int8: bool = False,
                       teacher: bool = True) -> Path:
    """folder/compare.yaml; eval_sets: (name, path, split or None for all, images); returns folder."""
    from distill.compare_options import CompareOptions, EvalSet, RunRecord
    from distill.compare_report import report_dict
    from distill.compare_runs import TeacherInfo
    from distill.train_config import DistillTrainConfig

    folder = Path(folder)
    if eval_sets is None:
        eval_sets = [("crack500", folder / "no-such-dataset", "test", 20), ("crackforest", folder / "cfd", None, 10)]
    sets = [EvalSet(Path(path), split, name) for name, path, split, _ in eval_sets]
    images = {name: n for name, _, _, n in eval_sets}
    cfg = DistillTrainConfig.model_validate({
        "student": {"name": "hrnet_w18", "size": 448},
        "teacher": {"cache": str(folder / "teacher_cache")},
        "data": {"root": str(folder / "no-such-training-data"), "labeled_fraction": 0.5, "unlabeled": ["frames/"],
                 "variants": 4},
        "loss": {"soft": "kl"},
        "optim": {"steps": 200, "batch_size": 8, "warmup_steps": 20, "max_minutes": 30.0},
    })
    opts = CompareOptions(train=cfg, out=folder, seeds=tuple(seeds), eval_sets=sets, noise=tuple(noise), int8=int8)

    def scores(value: float) -> dict[str, dict[str, dict[str, float]]]:
        return {name: {c: metric_report(round(value - SET_DROP[i] - CASE_DROP[c], 4), images[name]) for c in noise}
                for i, (name, *_) in enumerate(eval_sets)}

    metrics = {"teacher": scores(TEACHER)} if teacher else {}
    runs = {}
    for seed in seeds:
        for run, table in (("kd", KD), ("alone", ALONE)):
            key = f"seed{seed}/{run}"
            stopped = cut and seed == seeds[0] and run == "kd"
            runs[key] = RunRecord(name=run, seed=seed, teacher="cracksam-vit_h-adapter" if run == "kd" else None,
                                  planned_steps=200, steps=120 if stopped else 200, batch_size=8,
                                  wall_s=1500.0 if run == "kd" else 1200.0, best_val_iou=table[seed] - 0.02,
                                  best_step=150, stopped_by_budget=stopped)
            metrics[key] = scores(table[seed])
            if int8:
                metrics[f"{key}/int8"] = scores(table[seed] - 0.01)
    info = TeacherInfo("cracksam-vit_h-adapter", f"logit cache {folder / 'teacher_cache'}",
                       cache_val={"mean": 0.6512})
    report = report_dict(opts, cfg, folder / "teacher_cache", info, runs, metrics)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compare.yaml").write_text(yaml.safe_dump(report, sort_keys=False))
    return folder
