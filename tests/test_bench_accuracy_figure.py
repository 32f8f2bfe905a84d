"""The accuracy section's mask figure: the first seed's two real bundles run by OpenVINO on the first
evaluation set of a compare.yaml in the multi-seed layout (OUT/seed<S>/kd/bundle, OUT/seed<S>/alone/bundle)."""

from __future__ import annotations

import shutil

import torch

from crackedge.synth import write_synthetic_dataset
from distill.export.bundle_export import ExportOptions, export_bundle
from tests.compare_fixture import write_compare_yaml
from workflows.bench.accuracy import accuracy_section
from workflows.bench.random_students import write_random_checkpoint

torch.set_num_threads(2)


def test_mask_figure_from_compare_folder(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", n_train=1, n_val=1, n_test=3, size=(64, 64), seed=3).root
    compare = write_compare_yaml(tmp_path / "compare", seeds=(1, 2), eval_sets=[("synth", data, "test", 3)],
                                 noise=("clean",))
    ckpt = write_random_checkpoint(tmp_path / "random.pt", "mobilenetv3_large_100", 64)
    export_bundle(ckpt, compare / "seed1" / "kd" / "bundle", ExportOptions(input_size=(64, 64), parity_images=1,
                                                                           threads=2, progress=False))
    png = tmp_path / "figs" / "masks.png"
    # the first seed's alone bundle is missing: no figure, and the section says which bundle
    section = accuracy_section(compare, png, n_images=2)
    assert section["figure"]["path"] is None and "seed1/alone/bundle not found" in section["figure"]["reason"]
    shutil.copytree(compare / "seed1" / "kd" / "bundle", compare / "seed1" / "alone" / "bundle")
    section = accuracy_section(compare, png, n_images=2)
    assert section["figure"]["reason"] is None and section["figure"]["path"] == str(png)
    assert section["figure"]["seed"] == 1 and section["figure"]["eval_set"] == "synth"
    assert len(section["figure"]["images"]) == 2 and png.stat().st_size > 5000

    from workflows.bench.render import render_report

    md = render_report({"accuracy": section}, {"accuracy_masks": "bench/accuracy_masks.png"})
    assert ("![images of synth: image, ground truth, distilled (seed 1), alone (seed 1)](bench/accuracy_masks.png)"
            in md)
