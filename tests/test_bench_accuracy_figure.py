"""The accuracy section's mask figure: two real bundles run by OpenVINO on a synthetic test split."""

from __future__ import annotations

import shutil

import torch
import yaml

from crackedge.synth import write_synthetic_dataset
from distill.export.bundle_export import ExportOptions, export_bundle
from workflows.bench.accuracy import accuracy_section
from workflows.bench.random_students import write_random_checkpoint

torch.set_num_threads(2)


def test_mask_figure_from_compare_folder(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", n_train=1, n_val=1, n_test=3, size=(64, 64), seed=3).root
    compare = tmp_path / "compare"
    ckpt = write_random_checkpoint(tmp_path / "random.pt", "mobilenetv3_large_100", 64)
    export_bundle(ckpt, compare / "kd" / "bundle", ExportOptions(input_size=(64, 64), parity_images=1, threads=2,
                                                                 progress=False))
    shutil.copytree(compare / "kd" / "bundle", compare / "none" / "bundle")
    metrics = {"clean": {"iou": 0.1, "f1": 0.2, "ods_f": 0.2, "ois_f": 0.2, "miou": 0.5}}
    (compare / "compare.yaml").write_text(yaml.safe_dump({
        "data": str(data), "split": "test", "test_images": 3, "noise": ["clean"], "student": "mobilenetv3_large_100",
        "bundles": {"kd": "kd/bundle", "none": "elsewhere/bundle"},  # relative to the folder; a moved one is looked up
        "rows": {"kd": {"model": "s + CWD", "metrics": metrics}, "none": {"model": "s alone", "metrics": metrics}},
    }))
    png = tmp_path / "figs" / "masks.png"
    section = accuracy_section(compare, png, n_images=2)
    assert section["figure"]["reason"] is None and section["figure"]["path"] == str(png)
    assert len(section["figure"]["images"]) == 2 and png.stat().st_size > 5000
