"""Masks with more than two values (issue 14, item 4): a 0/204/255 set (204 = planking, 255 = crack)
is flagged with its values and pixel shares, `--crack-values` selects the crack value, and JPEG
compression noise or anti-aliasing is not mistaken for a class."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from workflows.cli import main
from crackedge.data.formats.options import PrepareOptions
from crackedge.data.prepare import prepare
from crackedge.errors import DataError
from tests.fakedata import crack_pair

H, W = 40, 60  # 2400 pixels per mask


def _uav_set(root: Path, ext: str = ".png", quality: int = 95) -> None:
    """4 pairs in images/ + masks/: crack (255) rows 30-31 x cols 5-54 = 100 px in every mask,
    planking (204) rows 0-9 = 600 px in the first three."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(4):
        img, _ = crack_pair(i, H, W)
        mask = np.zeros((H, W), np.uint8)
        if i < 3:
            mask[0:10] = 204
        mask[30:32, 5:55] = 255
        cv2.imwrite(str(root / "images" / f"deck{i}.jpg"), img)
        params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
        cv2.imwrite(str(root / "masks" / f"deck{i}{ext}"), mask, params)


def test_three_valued_masks_are_flagged_with_values_and_shares(tmp_path):
    _uav_set(tmp_path / "uav")
    ds = prepare(tmp_path / "uav", tmp_path / "out", opts=PrepareOptions(ratios=(0, 0, 1)))
    mv = ds.info["mask_values"]
    assert mv["values"] == [
        {"value": 0, "share": pytest.approx(7400 / 9600), "masks": 4, "read_as": "background", "kind": "background"},
        {"value": 204, "share": pytest.approx(1800 / 9600), "masks": 3, "read_as": "crack", "kind": "extra class"},
        {"value": 255, "share": pytest.approx(400 / 9600), "masks": 4, "read_as": "crack", "kind": "crack"},
    ]
    assert mv["extra_values"] == [204] and mv["other_share"] == 0
    assert [Path(p).name for p in mv["multi_valued_masks"]] == ["deck0.png", "deck1.png", "deck2.png"]
    (warning,) = ds.info["warnings"]
    assert warning.startswith("3 of 4 masks hold more than two classes: value(s) 204 besides background 0 and crack 255 "
                              "(204 read as crack with threshold 127 (crack = value > 127)). If only 255 marks cracks, "
                              "rerun with --crack-values 255")
    assert warning.endswith("Masks: deck0.png, deck1.png, deck2.png")
    assert ds.read_mask("deck0").sum() == 700  # the default stays the threshold: planking counted as crack
    assert yaml.safe_load((ds.root / "dataset.yaml").read_text())["mask_values"]["extra_values"] == [204]


def test_the_table_and_warning_are_printed(tmp_path, capsys):
    _uav_set(tmp_path / "uav")
    assert main(["prepare", str(tmp_path / "uav"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out.splitlines()
    i = out.index("mask values over 4 masks (read with threshold 127 (crack = value > 127)):")
    assert out[i + 1 : i + 5] == [
        "  value    pixels   masks  read as",
        "      0    77.08%       4  background",
        "    204    18.75%       3  crack   <- extra class",
        "    255     4.17%       4  crack",
    ]
    assert any(ln.startswith("warning: 3 of 4 masks hold more than two classes") for ln in out)


def test_crack_values_select_the_crack_class(tmp_path, capsys):
    _uav_set(tmp_path / "uav")
    assert main(["prepare", "--crack-values", "255", str(tmp_path / "uav"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "    204    18.75%       3  background   <- extra class" in out and "warning:" not in out
    assert "note: 3 of 4 masks hold more than two classes (value(s) 204 besides 0 and 255); read with crack values " \
           "255: 204 read as background" in out
    info = yaml.safe_load((tmp_path / "out" / "dataset.yaml").read_text())
    assert info["mask_values"]["reading"] == "crack values 255"
    for i in range(4):
        mask = cv2.imread(str(tmp_path / "out" / "masks" / f"deck{i}.png"), 0)
        assert (mask > 0).sum() == 100 and (mask[30:32, 5:55] == 255).all()


def test_crack_values_that_no_mask_holds_stop_the_run_and_leave_nothing(tmp_path):
    _uav_set(tmp_path / "uav")
    with pytest.raises(DataError, match=r"none of --crack-values 128 occurs in any mask; the masks hold "
                                        r"0 \(77\.08 %\), 204 \(18\.75 %\), 255 \(4\.17 %\)"):
        prepare(tmp_path / "uav", tmp_path / "out", opts=PrepareOptions(crack_values=(128,)))
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))


def test_crack_values_options_are_checked(tmp_path, capsys):
    from crackedge.data.mask_values import parse_crack_values

    _uav_set(tmp_path / "uav")
    assert main(["prepare", "--crack-values", "255", "--mask-threshold", "100", str(tmp_path / "uav"), "--out", str(tmp_path / "o")]) == 2
    assert "--crack-values and --mask-threshold exclude each other" in capsys.readouterr().err
    assert parse_crack_values("255, 204") == (204, 255)
    for bad in ("300", "crack", ""):
        with pytest.raises(DataError, match="--crack-values must be comma-separated integers 0-255"):
            parse_crack_values(bad)
    with pytest.raises(SystemExit):
        main(["prepare", "--crack-values", "256", str(tmp_path / "uav"), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def _jpeg_crack_masks(root: Path, quality: int, n: int = 8, size: int = 96) -> None:
    """CRACK500-like: thin synthetic cracks, masks saved as JPEG (grey ringing around the cracks)."""
    from crackedge.synth import generate_sample

    for split in ("train", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(n):
            image, mask = generate_sample(i + (100 if split == "test" else 0), (size, size))
            cv2.imwrite(str(root / split / "images" / f"c{i}.jpg"), image[..., ::-1])
            cv2.imwrite(str(root / split / "masks" / f"c{i}.jpg"), mask * 255, [cv2.IMWRITE_JPEG_QUALITY, quality])


@pytest.mark.parametrize("quality", [50, 70])
def test_jpeg_noise_is_not_taken_for_a_class(tmp_path, quality):
    _jpeg_crack_masks(tmp_path / "c500", quality)
    gray = np.concatenate([cv2.imread(str(p), 0).ravel() for p in sorted((tmp_path / "c500").glob("*/masks/*.jpg"))])
    assert len(np.unique(gray)) > 50  # the masks really are noisy
    ds = prepare(tmp_path / "c500", tmp_path / "out")
    mv = ds.info["mask_values"]
    assert mv["extra_values"] == [] and mv["multi_valued_masks"] == [] and "warnings" not in ds.info
    assert [r["kind"] for r in mv["values"]] == ["background", "crack"]
    assert 0 < mv["other_share"] < 0.1  # ringing near the cracks, counted apart


def test_jpeg_masks_with_three_classes_are_flagged_and_read_by_crack_value(tmp_path):
    _uav_set(tmp_path / "uav", ext=".jpg", quality=75)
    ds = prepare(tmp_path / "uav", tmp_path / "out")
    assert len(ds.info["mask_values"]["extra_values"]) == 1
    assert abs(ds.info["mask_values"]["extra_values"][0] - 204) <= 2
    assert len(ds.info["mask_values"]["multi_valued_masks"]) == 3
    ds2 = prepare(tmp_path / "uav", tmp_path / "out2", opts=PrepareOptions(crack_values=(255,)))
    truth = np.zeros((H, W), np.uint8)
    truth[30:32, 5:55] = 1
    for name in ds2.names():
        assert (ds2.read_mask(name) == truth).mean() > 0.99


def test_label_map_masks_read_as_all_background_are_warned_about(tmp_path):
    src = tmp_path / "labels"
    for i in range(3):
        img, _ = crack_pair(i, H, W)
        labels = np.zeros((H, W), np.uint8)
        labels[0:10] = 1  # another class
        labels[30:32, 5:55] = 2  # crack
        (src / "images").mkdir(parents=True, exist_ok=True)
        (src / "masks").mkdir(exist_ok=True)
        cv2.imwrite(str(src / "images" / f"l{i}.jpg"), img)
        cv2.imwrite(str(src / "masks" / f"l{i}.png"), labels)
    ds = prepare(src, tmp_path / "out")
    assert ds.info["mask_values"]["extra_values"] == [1]
    assert any(w.startswith("no mask pixel was read as crack with threshold 127 (crack = value > 127); the masks hold 0, 1, 2")
               for w in ds.info["warnings"])
    ds2 = prepare(src, tmp_path / "out2", opts=PrepareOptions(crack_values=(2,)))
    assert all(ds2.read_mask(n).sum() == 100 for n in ds2.names())


def test_anti_aliased_and_inverted_masks(tmp_path):
    src = tmp_path / "aa"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    for i in range(4):
        img, _ = crack_pair(i, 120, 160)
        mask = np.zeros((120, 160), np.uint8)
        cv2.line(mask, (5, 10 + 20 * i), (150, 100 - 10 * i), 255, 2, lineType=cv2.LINE_AA)
        cv2.imwrite(str(src / "images" / f"a{i}.jpg"), img)
        cv2.imwrite(str(src / "masks" / f"a{i}.png"), mask)
    ds = prepare(src, tmp_path / "out")
    assert ds.info["mask_values"]["extra_values"] == [] and "warnings" not in ds.info
    for p in (src / "masks").iterdir():  # crack dark on white
        cv2.imwrite(str(p), 255 - cv2.imread(str(p), 0))
    ds = prepare(src, tmp_path / "inv")
    assert any("% of all mask pixels were read as crack" in w and "inverted" in w for w in ds.info["warnings"])


def test_mask_rule_reads_binary_masks_as_before():
    from crackedge.data.mask_values import MaskRule

    gray = np.array([[0, 1], [128, 255]], np.uint8)
    assert MaskRule().binarize(gray, lossy=False)[0].tolist() == [[0, 0], [1, 1]]
    assert MaskRule().binarize(np.array([[0, 1]], np.uint8), lossy=False) == (pytest.approx(np.array([[0, 1]])), "0/1 mask")
    assert MaskRule(crack_values=(1,)).binarize(gray, lossy=False)[0].tolist() == [[0, 1], [0, 0]]
