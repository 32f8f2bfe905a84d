"""crackedge.evaluation.baselines and `teacher baseline`: the all-background / all-crack guesses scored with
crackedge.metrics, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from crackedge.data.writer import DatasetWriter
from crackedge.evaluation.baselines import score_baselines
from crackedge.evaluation.reports import baseline_table
from teacher.cli import main


@pytest.fixture()
def dataset(tmp_path):
    """val: a 10x10 image with a 2x10 crack (20 %), a 10x10 image with a 1x10 crack (10 %), and one without."""
    writer = DatasetWriter(tmp_path / "data")
    image = np.full((10, 10, 3), 128, np.uint8)
    masks = [np.zeros((10, 10), np.uint8) for _ in range(3)]
    masks[0][2:4] = 1
    masks[1][7] = 1
    for i, mask in enumerate(masks):
        writer.add_array(f"img{i}", image, mask, "val")
    writer.add_array("train0", image, masks[0], "train")
    writer.finish({"source": "test"})
    return tmp_path / "data"


def test_baselines_match_hand_computed_scores(dataset):
    reports = score_baselines(dataset, "val")
    bg, crack = reports["all-background"], reports["all-crack"]
    # per image (CrackSAM convention): background guess 0, 0, and 1 on the crack-free image
    assert bg["iou"] == pytest.approx(1 / 3) and bg["f1"] == pytest.approx(1 / 3)
    assert bg["pooled_iou"] == 0.0
    # crack guess: IoU = crack fraction (0.2, 0.1, 0), F1 = 2p / (1 + p)
    assert crack["iou"] == pytest.approx((0.2 + 0.1 + 0.0) / 3)
    assert crack["f1"] == pytest.approx((2 * 0.2 / 1.2 + 2 * 0.1 / 1.1) / 3)
    assert crack["pooled_iou"] == pytest.approx(30 / 300)
    table = baseline_table(reports)
    assert "| all-background | 0.3333 | 0.3333 | 0.0000 |" in table
    assert table.splitlines()[0].startswith("| | IoU | F1 | pooled IoU")


def test_masks_are_resized_nearest_on_the_input_basis(dataset):
    # 10 -> 20: every pixel doubles, so the fractions stay exact
    crack = score_baselines(dataset, "val", basis="input", input_size=(20, 20))["all-crack"]
    assert crack["iou"] == pytest.approx(0.1) and crack["n_images"] == 3


def test_baseline_command(dataset, capsys):
    assert main(["baseline", "--data", str(dataset), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "at each image's own size" in out and "| all-crack | 0.1000 |" in out
    assert main(["baseline", "--data", str(dataset), "--split", "test"]) == 2
    assert "has no split 'test'; available splits: train, val" in capsys.readouterr().err
