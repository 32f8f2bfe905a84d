"""Unlabeled images for distillation: `list_unlabeled_images` and `prepare --format images`
(folders of images, `edge run` output folders with raw and annotated frames, datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from workflows.cli import main
from crackedge.data.formats.images import open_unlabeled_set
from crackedge.data.layout import CrackDataset
from crackedge.data.prepare import prepare_unlabeled
from crackedge.data.unlabeled import list_unlabeled_images
from crackedge.errors import DataError


def _img(path: Path, value: int = 128, size=(24, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    return path


def _edge_run(run: Path, frames=(3, 7), raw: bool = True) -> None:
    """An `edge run` output folder as edge.saver writes it."""
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    for seq in frames:
        _img(run / f"{seq:08d}.jpg", 200)  # annotated: mask drawn on it
        if raw:
            _img(run / f"{seq:08d}_raw.jpg", 90)
        (run / f"{seq:08d}.json").write_text(json.dumps({"image": f"{seq:08d}.jpg", "raw_image": f"{seq:08d}_raw.jpg" if raw else None}))
    (run / "summary.json").write_text("{}")


def test_folder_tree_sorted_deduplicated_masks_left_out(tmp_path):
    root = tmp_path / "frames"
    b, a = _img(root / "b.jpg"), _img(root / "a.png")
    c = _img(root / "day2" / "c.JPG")
    _img(root / "day2" / "c_mask.png")  # a mask beside its image
    _img(root / "masks" / "a.png")  # a mask folder
    _img(root / "train_lab" / "x.png")
    _img(root / ".cache" / "thumb.jpg")  # hidden
    (root / "notes.txt").write_text("x")
    got = list_unlabeled_images([root, c, root / "day2"])
    assert got == sorted(p.resolve() for p in (a, b, c))
    assert all(p.is_absolute() for p in got)


def test_edge_run_output_gives_raw_frames_only(tmp_path):
    _edge_run(tmp_path / "runs" / "2026-11-23T10-00-00")
    _edge_run(tmp_path / "runs" / "2026-11-24T08-00-00", frames=(1,))
    got = list_unlabeled_images([tmp_path / "runs"])
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in got] == [
        "runs/2026-11-23T10-00-00/00000003_raw.jpg",
        "runs/2026-11-23T10-00-00/00000007_raw.jpg",
        "runs/2026-11-24T08-00-00/00000001_raw.jpg",
    ]


def test_edge_run_without_raw_frames_is_a_clear_error(tmp_path):
    _edge_run(tmp_path / "run", raw=False)
    with pytest.raises(DataError, match=r"holds only annotated edge frames \(2 NNNNNNNN\.jpg.*save_raw: true"):
        list_unlabeled_images([tmp_path / "run"])


def test_a_dataset_gives_its_images_not_its_masks(tmp_path):
    from crackedge.data.writer import DatasetWriter

    with DatasetWriter(tmp_path / "ds") as w:
        for i in range(3):
            w.add_array(f"s{i}", np.full((8, 8, 3), i, np.uint8), np.eye(8, dtype=np.uint8), "train")
        w.finish({"source": "test"})
    got = list_unlabeled_images([tmp_path / "ds"])
    assert [p.name for p in got] == ["s0.png", "s1.png", "s2.png"] and all(p.parent.name == "images" for p in got)


def test_bad_paths_name_the_problem(tmp_path):
    (tmp_path / "empty").mkdir()
    _img(tmp_path / "only_masks" / "masks" / "m.png")
    with pytest.raises(DataError, match=r"empty holds no image \(\.jpg, .*\) outside mask folders"):
        list_unlabeled_images([tmp_path / "empty"])
    with pytest.raises(DataError, match=r"only_masks holds no image"):
        list_unlabeled_images([tmp_path / "only_masks"])
    with pytest.raises(DataError, match=r"image folder or file not found: .*missing"):
        list_unlabeled_images([tmp_path / "missing"])
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DataError, match=r"a\.txt is not an image file"):
        list_unlabeled_images([tmp_path / "a.txt"])
    with pytest.raises(DataError, match="no image folder given"):
        list_unlabeled_images([])


def test_prepare_format_images_writes_an_unlabeled_set(tmp_path, capsys):
    src = tmp_path / "src"
    _edge_run(src / "runs" / "2026-11-23T10-00-00")
    _img(src / "phone" / "IMG_1.jpg", 30)
    _img(src / "phone" / "scan.bmp", 60)
    (src / "phone" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    assert main(["prepare", "--format", "images", str(src), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "wrote 4 unlabeled images to" in out and "format images (labels: none, no masks, no splits)" in out
    assert f"  {(src / 'phone' / 'broken.jpg').resolve()}: unreadable or corrupt image" in out
    names = sorted(p.name for p in (tmp_path / "out" / "images").iterdir())
    assert names == ["phone__IMG_1.jpg", "phone__scan.png",
                     "runs__2026-11-23T10-00-00__00000003_raw.jpg", "runs__2026-11-23T10-00-00__00000007_raw.jpg"]
    # raw frame bytes are copied unchanged; the BMP becomes a PNG with the same pixels
    assert (tmp_path / "out" / "images" / "runs__2026-11-23T10-00-00__00000003_raw.jpg").read_bytes() == \
        (src / "runs" / "2026-11-23T10-00-00" / "00000003_raw.jpg").read_bytes()
    assert (cv2.imread(str(tmp_path / "out" / "images" / "phone__scan.png")) == 60).all()
    info = yaml.safe_load((tmp_path / "out" / "dataset.yaml").read_text())
    assert info["format"] == "images" and info["labels"] == "none" and info["counts"] == {"images": 4}
    assert info["edge_runs"] == [str((src / "runs" / "2026-11-23T10-00-00").resolve())]
    # the set reads back as unlabeled images, and says what it is when opened as a labeled dataset
    assert len(list_unlabeled_images([tmp_path / "out"])) == 4 and len(open_unlabeled_set(tmp_path / "out")) == 4
    with pytest.raises(DataError, match="is an unlabeled image set .* not training or evaluation"):
        CrackDataset.open(tmp_path / "out")


def test_prepare_format_images_failure_leaves_nothing(tmp_path):
    _img(tmp_path / "src" / "a.jpg")
    (tmp_path / "src" / "b.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(DataError, match=r"b\.jpg: unreadable or corrupt image"):
        prepare_unlabeled(tmp_path / "src", tmp_path / "out", strict=True)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))
    assert len(prepare_unlabeled(tmp_path / "src", tmp_path / "out")) == 1


def test_crack_values_with_format_images_is_refused(tmp_path, capsys):
    _img(tmp_path / "src" / "a.jpg")
    assert main(["prepare", "--format", "images", "--crack-values", "255", str(tmp_path / "src"), "--out", str(tmp_path / "out")]) == 2
    assert "--format images reads no masks" in capsys.readouterr().err
