"""`prepare` on published layouts as they come: colliding names, atomic output, images/+masks/ pairs,
auto-detection, split-folder aliases, nothing dropped without a reason (issue 14, items 1-3)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from workflows.cli import main
from crackedge.data.formats.options import PrepareOptions
from crackedge.data.prepare import detect_format, prepare
from crackedge.data.writer import DatasetWriter
from crackedge.errors import DataError
from tests.fakedata import crack_pair


def _write_pair(img_path: Path, mask_path: Path, seed: int) -> np.ndarray:
    img, mask = crack_pair(seed)
    img_path.parent.mkdir(parents=True, exist_ok=True)
    mask_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(img_path), img)
    cv2.imwrite(str(mask_path), mask * 255)
    return mask


def _deepcrack_with_shared_names(root: Path, shared=("11289-1", "11215-5"), identical=("7Q3A9060-1",)):
    """DeepCrack layout where `shared` names are in train and test with different pictures and
    `identical` names are in both with the same picture and mask."""
    truth = {}
    for part, base in (("train", 0), ("test", 500)):
        for i in range(4):
            truth[(part, f"{part}{i}")] = _write_pair(root / f"{part}_img" / f"{part}{i}.jpg", root / f"{part}_lab" / f"{part}{i}.png", base + i)
        for j, name in enumerate(shared):
            truth[(part, name)] = _write_pair(root / f"{part}_img" / f"{name}.jpg", root / f"{part}_lab" / f"{name}.png", base + 50 + j)
        for name in identical:
            _write_pair(root / f"{part}_img" / f"{name}.jpg", root / f"{part}_lab" / f"{name}.png", 999)
    return truth


def _staging_leftovers(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.partial-*"))


# --- item 1: colliding names, atomic output -------------------------------------------------------

def test_names_shared_by_train_and_test_are_prefixed_by_split(tmp_path):
    truth = _deepcrack_with_shared_names(tmp_path / "dc")
    ds = prepare(tmp_path / "dc", tmp_path / "out", opts=PrepareOptions(val_fraction=0.0))
    assert sorted(ds.names("test")) == ["7Q3A9060-1", "test0", "test1", "test2", "test3", "test_11215-5", "test_11289-1"]
    assert sorted(ds.names("train")) == ["train0", "train1", "train2", "train3", "train_11215-5", "train_11289-1"]
    # each prefixed copy carries its own picture and mask
    for part in ("train", "test"):
        for name in ("11289-1", "11215-5"):
            assert (ds.read_mask(f"{part}_{name}") == truth[(part, name)]).all()
            src = cv2.imread(str(tmp_path / "dc" / f"{part}_img" / f"{name}.jpg"))
            assert (ds.read_image(f"{part}_{name}") == src[..., ::-1]).all()
    assert not (ds.root / "images" / "11289-1.jpg").exists()
    info = yaml.safe_load((ds.root / "dataset.yaml").read_text())
    assert info["renamed"] == {"11215-5": {"test": "test_11215-5", "train": "train_11215-5"},
                               "11289-1": {"test": "test_11289-1", "train": "train_11289-1"}}
    assert any("2 name(s) occur in more than one split with different content" in n for n in info["notes"])
    # identical picture and mask under one name: kept once, in the evaluation split, and said so
    assert info["duplicates"] == [{"name": "7Q3A9060-1", "kept_in": "test", "dropped_from": "train",
                                   "kept": str(tmp_path / "dc" / "test_img" / "7Q3A9060-1.jpg"),
                                   "dropped": str(tmp_path / "dc" / "train_img" / "7Q3A9060-1.jpg")}]
    assert "7Q3A9060-1" not in ds.names("train")
    assert info["skipped"] == []


def test_prefixing_is_printed_by_the_cli(tmp_path, capsys):
    _deepcrack_with_shared_names(tmp_path / "dc", identical=())
    assert main(["prepare", "--format", "deepcrack", "--val-fraction", "0", str(tmp_path / "dc"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "wrote 12 image/mask pairs" in out
    assert "note: 2 name(s) occur in more than one split with different content; each copy was prefixed by its split " \
           "(test_11215-5/train_11215-5, test_11289-1/train_11289-1;" in out


def test_same_name_twice_in_one_split_is_a_listed_skip(tmp_path):
    src = tmp_path / "c500"
    for i in range(3):
        _write_pair(src / "train" / "images" / f"a{i}.jpg", src / "train" / "masks" / f"a{i}.png", i)
    _write_pair(src / "train" / "images" / "a0.png", src / "train" / "masks" / "b.png", 7)
    ds = prepare(src, tmp_path / "out")
    assert sorted(ds.names()) == ["a0", "a1", "a2"]
    reasons = {Path(s["item"]).name: s["reason"] for s in ds.info["skipped"]}
    assert reasons["a0.png"] == "another file has the same name stem: a0.jpg; rename one"
    assert "mask has no image" in reasons["b.png"]


def test_a_failed_prepare_leaves_no_output_and_a_rerun_succeeds(tmp_path):
    _deepcrack_with_shared_names(tmp_path / "dc", shared=(), identical=())
    (tmp_path / "dc" / "test_img" / "test3.jpg").write_bytes(b"\xff\xd8 not a jpeg")  # late in the run
    out = tmp_path / "data" / "out"
    with pytest.raises(DataError, match=r"test3\.jpg: unreadable or corrupt image"):
        prepare(tmp_path / "dc", out, opts=PrepareOptions(strict=True))
    assert not out.exists() and _staging_leftovers(out) == []
    ds = prepare(tmp_path / "dc", out)  # no "already holds a dataset": nothing was left behind
    assert len(ds) == 7 and [Path(s["item"]).name for s in ds.info["skipped"]] == ["test3.jpg"]


def test_an_interrupted_prepare_leaves_no_output(tmp_path, monkeypatch):
    _deepcrack_with_shared_names(tmp_path / "dc")
    calls = []
    real_add = DatasetWriter.add_file

    def add_then_interrupt(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(DatasetWriter, "add_file", add_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        prepare(tmp_path / "dc", tmp_path / "out")
    assert len(calls) == 5
    assert not (tmp_path / "out").exists() and _staging_leftovers(tmp_path / "out") == []


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_staging_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
    _deepcrack_with_shared_names(tmp_path / "dc")
    stale = tmp_path / f".out.partial-{_dead_pid()}-abcdef"
    (stale / "images").mkdir(parents=True)
    (stale / "images" / "half.jpg").write_bytes(b"half")
    ds = prepare(tmp_path / "dc", tmp_path / "out")
    assert not stale.exists() and _staging_leftovers(tmp_path / "out") == []
    assert "half" not in ds.names()
    assert any(f"removed {stale.name}, the staging folder of an interrupted earlier run" == n for n in ds.info["notes"])


def test_output_folder_holding_files_is_refused_and_left_alone(tmp_path):
    _deepcrack_with_shared_names(tmp_path / "dc")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"output folder .*out already holds a dataset or other files \(notes\.txt\)"):
        prepare(tmp_path / "dc", tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]
    (tmp_path / "out" / "notes.txt").unlink()  # an existing empty folder is fine
    assert len(prepare(tmp_path / "dc", tmp_path / "out")) == 13


# --- items 2 and 3: images/ + masks/ pairs, detected as pairs ------------------------------------

def _images_masks_folder(root: Path, n: int = 10) -> dict[str, np.ndarray]:
    """images/ + masks/ with the common mask names: same stem, _mask, _label, _gt; PNG, BMP, TIFF."""
    schemes = [("{}", ".png"), ("{}_mask", ".png"), ("{}_label", ".bmp"), ("{}_gt", ".tif"), ("{}", ".jpg")]
    truth = {}
    for i in range(n):
        stem, ext = schemes[i % len(schemes)]
        mask_path = root / "masks" / (stem.format(f"img{i:02d}") + ext)
        truth[f"img{i:02d}"] = _write_pair(root / "images" / f"img{i:02d}.jpg", mask_path, 300 + i)
    return truth


def test_pairs_format_reads_an_images_and_masks_folder(tmp_path):
    truth = _images_masks_folder(tmp_path / "mine")
    ds = prepare(tmp_path / "mine", tmp_path / "out", fmt="pairs", opts=PrepareOptions(ratios=(0, 0, 1)))
    assert ds.splits == ["test"] and sorted(ds.names("test")) == sorted(truth)
    for name, mask in truth.items():
        agree = (ds.read_mask(name) == mask).mean()
        assert agree == 1.0 or (name.endswith(("4", "9")) and agree > 0.99)  # the .jpg masks carry JPEG noise
    assert ds.info["format"] == "pairs" and ds.info["skipped"] == []
    assert ds.info["split"] == {"kind": "generated", "ratios": [0, 0, 1], "seed": 0}


def test_auto_detection_calls_images_and_masks_pairs_not_crack500(tmp_path, capsys):
    _images_masks_folder(tmp_path / "mine")
    assert detect_format(tmp_path / "mine") == "pairs"
    with pytest.raises(DataError, match=r"does not look like the crack500 layout.*--format pairs"):
        prepare(tmp_path / "mine", tmp_path / "x", fmt="crack500")
    assert main(["prepare", str(tmp_path / "mine"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "wrote 10 image/mask pairs" in out and "(train 6, val 2, test 2); format pairs" in out
    assert "note: the source has no split: generated a seeded 0.6/0.2/0.2 train/val/test split (seed 0); " \
           "--split-ratios 0,0,1 puts every pair in test" in out


def test_pairs_with_split_folders_inside_images_and_masks(tmp_path):
    root = tmp_path / "kaggle"
    for i in range(3):
        _write_pair(root / "images" / "train" / f"t{i}.jpg", root / "masks" / "train" / f"t{i}.png", i)
    _write_pair(root / "images" / "test" / "e0.jpg", root / "masks" / "test" / "e0_mask.png", 9)
    ds = prepare(root, tmp_path / "out")
    assert ds.info["format"] == "pairs" and ds.info["split"]["kind"] == "publisher"
    assert {s: sorted(ds.names(s)) for s in ds.splits} == {"train": ["t0", "t1", "t2"], "test": ["e0"]}


def test_single_folder_pairs_with_other_extensions(tmp_path):
    src = tmp_path / "flat"
    _write_pair(src / "a.jpg", src / "a_mask.png", 1)
    _write_pair(src / "b.png", src / "b_gt.bmp", 2)
    _write_pair(src / "c.jpg", src / "c_label.tif", 3)
    d_mask = _write_pair(src / "d.jpg", src / "d.png", 4)  # same stem: the PNG is the mask
    (src / "readme.txt").write_text("x")
    ds = prepare(src, tmp_path / "out", opts=PrepareOptions(ratios=(1, 0, 0)))
    assert sorted(ds.names("train")) == ["a", "b", "c", "d"]
    assert (ds.read_mask("d") == d_mask).all() and ds.image_path("d").suffix == ".jpg"
    assert [(Path(s["item"]).name, s["reason"].split(" (")[0]) for s in ds.info["skipped"]] == [("readme.txt", "not an image file")]


# --- nothing dropped without a reason (item 4, last sentence) ------------------------------------

def test_valid_split_folder_is_read_and_unknown_folders_are_listed(tmp_path):
    src = tmp_path / "uav"
    for split, n in (("train", 4), ("valid", 10), ("test", 3)):
        for i in range(n):
            _write_pair(src / split / "images" / f"{split}{i}.jpg", src / split / "masks" / f"{split}{i}.png", 40 + i)
    _write_pair(src / "extra" / "images" / "x.jpg", src / "extra" / "masks" / "x.png", 1)
    (src / "valid" / "images" / "notes.txt").write_text("x")
    (src / "valid" / "images" / "old").mkdir()
    ds = prepare(src, tmp_path / "out")
    assert ds.info["format"] == "crack500"
    assert {s: len(ds.names(s)) for s in ds.splits} == {"train": 4, "val": 10, "test": 3}
    reasons = {Path(s["item"]).name: s["reason"] for s in ds.info["skipped"]}
    assert reasons == {
        "extra": "folder not read: not a split folder (train, val, test or an alias)",
        "notes.txt": "not an image file (known: .jpg, .jpeg, .png, .bmp, .tif, .tiff)",
        "old": f"a folder inside {src / 'valid' / 'images'} is not read",
    }


def test_every_skip_is_printed(tmp_path, capsys):
    src = tmp_path / "c500"
    for i in range(3):
        _write_pair(src / "val" / "images" / f"v{i}.jpg", src / "val" / "masks" / f"v{i}.png", i)
    (src / "val" / "masks" / "v1.png").unlink()
    cv2.imwrite(str(src / "val" / "masks" / "v2.png"), np.zeros((5, 5), np.uint8))
    assert main(["prepare", str(src), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "skipped 2 item(s):" in out
    assert f"  {src / 'val' / 'images' / 'v1.jpg'}: no mask for it in {src / 'val' / 'masks'}" in out
    assert f"  {src / 'val' / 'images' / 'v2.jpg'}: mask size 5x5 differs from image size 60x40" in out


def test_crack500_as_published_jpg_beside_png(tmp_path):
    src = tmp_path / "CRACK500"
    for split, n in (("traincrop", 3), ("valcrop", 1), ("testcrop", 2)):
        for i in range(n):
            _write_pair(src / split / f"{split}_{i}.jpg", src / split / f"{split}_{i}.png", 60 + i)
    assert detect_format(src) == "crack500"
    ds = prepare(src, tmp_path / "out")
    assert {s: len(ds.names(s)) for s in ds.splits} == {"train": 3, "val": 1, "test": 2}
    assert (ds.read_mask("testcrop_1") == crack_pair(61)[1]).all()


def test_deepcrack_copy_with_val_folders_and_an_extra_folder(tmp_path):
    root = tmp_path / "dc"
    _deepcrack_with_shared_names(root, shared=(), identical=())
    _write_pair(root / "val_img" / "v0.jpg", root / "val_lab" / "v0.png", 77)
    (root / "previews").mkdir()
    ds = prepare(root, tmp_path / "out")
    assert {s: len(ds.names(s)) for s in ds.splits} == {"train": 4, "val": 1, "test": 4}
    assert ds.info["split"] == {"kind": "publisher train/val/test"}
    assert [(Path(s["item"]).name, s["reason"]) for s in ds.info["skipped"]] == [
        ("previews", "folder not read: not a DeepCrack folder (train_img, train_lab, val_img, val_lab, test_img, test_lab)")]
