"""`prepare` converters on fabricated publisher layouts, including bad items."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from crackedge.data.formats.options import PrepareOptions
from crackedge.data.layout import CrackDataset
from crackedge.data.prepare import detect_format, prepare
from crackedge.errors import DataError
from tests.fakedata import crack_pair, make_crack500, make_crackforest, make_deepcrack


def test_crackforest_labels_3_and_4_follow_the_documented_convention(tmp_path):
    src = make_crackforest(tmp_path / "cfd")
    ds = prepare(src, tmp_path / "out")
    assert len(ds) == 6 and set(ds.splits) <= {"train", "val", "test"}
    mask = ds.read_mask("cfd_001")
    assert mask[0:3, 0:3].sum() == 0  # label 3 -> background
    assert mask[20:22, 10:20].all()  # label 4 -> crack
    info = yaml.safe_load((tmp_path / "out" / "dataset.yaml").read_text())
    assert info["labels"] == {"1": "background", "2": "crack", "3": "background", "4": "crack"}
    assert info["files_with_label_4"] == ["001"]
    # the choice can be flipped explicitly
    ds2 = prepare(src, tmp_path / "out2", opts=PrepareOptions(cfd_label4="background"))
    assert ds2.read_mask("cfd_001")[20:22, 10:20].sum() == 0


def test_crackforest_unknown_label_is_a_reported_skip(tmp_path):
    import scipy.io as sio

    src = make_crackforest(tmp_path / "cfd", n=3, odd_labels=False)
    gt = sio.loadmat(str(src / "groundTruth" / "002.mat"))["groundTruth"]
    gt[0, 0]["Segmentation"][0, 0] = 9
    sio.savemat(str(src / "groundTruth" / "002.mat"), {"groundTruth": gt})
    ds = prepare(src, tmp_path / "out")
    assert len(ds) == 2
    skipped = ds.info["skipped"]
    assert len(skipped) == 1 and "002.mat" in skipped[0]["item"] and "unexpected CrackForest label value(s) [9]" in skipped[0]["reason"]
    with pytest.raises(DataError, match=r"002\.mat.*label value"):
        prepare(src, tmp_path / "strict", opts=PrepareOptions(strict=True))


def test_crack500_jpeg_masks_are_thresholded_and_splits_kept(tmp_path):
    src = make_crack500(tmp_path / "c500")
    ds = prepare(src, tmp_path / "out", fmt="crack500")
    assert {s: len(ds.names(s)) for s in ds.splits} == {"train": 4, "val": 2, "test": 2}
    _, true_mask = crack_pair(100)
    m = ds.read_mask("c500_0")
    assert set(np.unique(m)) <= {0, 1}
    assert (m == true_mask).mean() > 0.99  # JPEG ringing removed by the threshold
    assert ds.info["mask_notes"] == {"JPEG mask thresholded at 127": 8}


def test_missing_mask_mismatched_size_and_corrupt_image_are_reported(tmp_path):
    src = make_crack500(tmp_path / "c500", counts=(("train", 5),))
    (src / "train" / "masks" / "c500_0.jpg").unlink()  # missing mask
    cv2.imwrite(str(src / "train" / "masks" / "c500_1.jpg"), np.zeros((10, 10), np.uint8))  # wrong size
    (src / "train" / "images" / "c500_2.jpg").write_bytes(b"\xff\xd8 not a jpeg")  # corrupt
    ds = prepare(src, tmp_path / "out")
    assert sorted(ds.names()) == ["c500_3", "c500_4"]
    reasons = {s["item"].split("/")[-1]: s["reason"] for s in ds.info["skipped"]}
    assert "no mask" in reasons["c500_0.jpg"]
    assert "mask size 10x10 differs from image size 60x40" in reasons["c500_1.jpg"]
    assert "unreadable or corrupt image" in reasons["c500_2.jpg"]


def test_deepcrack_layout_gets_a_val_split_from_train(tmp_path):
    ds = prepare(make_deepcrack(tmp_path / "dc"), tmp_path / "out")
    assert ds.info["format"] == "deepcrack"
    assert len(ds.names("test")) == 3 and len(ds.names("val")) == 1 and len(ds.names("train")) == 9


def test_plain_folder_of_pairs(tmp_path):
    src = tmp_path / "pairs"
    src.mkdir()
    for i in range(5):
        img, mask = crack_pair(300 + i)
        cv2.imwrite(str(src / f"p{i}.jpg"), img)
        cv2.imwrite(str(src / f"p{i}_mask.png"), mask * 255)
    cv2.imwrite(str(src / "lonely.jpg"), img)
    assert detect_format(src) == "pairs"
    ds = prepare(src, tmp_path / "out")
    assert len(ds) == 5 and (ds.read_mask("p0") == crack_pair(300)[1]).all()
    assert any("lonely.jpg" in s["item"] for s in ds.info["skipped"])


def test_unknown_layout_and_nonempty_output_are_errors(tmp_path):
    (tmp_path / "odd").mkdir()
    with pytest.raises(DataError, match="pass --format with one of"):
        prepare(tmp_path / "odd", tmp_path / "out")
    src = make_crack500(tmp_path / "c500")
    prepare(src, tmp_path / "out2")
    with pytest.raises(DataError, match="already holds a dataset"):
        prepare(src, tmp_path / "out2")


def test_layout_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="is not a crackedge dataset"):
        CrackDataset.open(tmp_path)
    ds = prepare(make_crack500(tmp_path / "c500"), tmp_path / "out")
    with pytest.raises(DataError, match="no split 'holdout'; available splits: train, val, test"):
        ds.names("holdout")
    (tmp_path / "out" / "masks" / "c500_0.png").unlink()
    with pytest.raises(DataError, match="have no mask masks/NAME.png, e.g. c500_0"):
        CrackDataset.open(tmp_path / "out")
