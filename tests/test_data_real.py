"""The shared real datasets convert with the right counts and aligned masks (data-marked)."""

from __future__ import annotations

import numpy as np
import pytest

from crackedge.data.prepare import prepare

pytestmark = pytest.mark.data


def _crack_darker_fraction(ds) -> float:
    """Share of images whose crack pixels are darker on average than the rest: masks line up with
    the image content (a shifted, flipped or transposed mask would fail this)."""
    darker = total = 0
    for name in ds.names():
        image, mask = ds.read(name)
        if mask.sum() < 20:
            continue
        grey = image.mean(axis=2)
        total += 1
        darker += grey[mask == 1].mean() < grey[mask == 0].mean() - 5
    return darker / max(total, 1)


def test_crackforest_converts(shared_data, tmp_path):
    ds = prepare(shared_data / "crackforest", tmp_path / "cfd")
    assert len(ds) == 118
    assert sum(len(ds.names(s)) for s in ds.splits) == 118
    assert ds.info["skipped"] == []
    assert len(ds.info["files_with_label_3"]) == 22  # as documented in the dataset README
    image, mask = ds.read(ds.names()[0])
    assert image.shape == (320, 480, 3) and mask.shape == (320, 480)
    assert _crack_darker_fraction(ds) > 0.95


def test_crack500_converts(shared_data, tmp_path):
    ds = prepare(shared_data / "crack500", tmp_path / "c500")
    assert {s: len(ds.names(s)) for s in ds.splits} == {"train": 500, "val": 100, "test": 200}
    assert ds.info["skipped"] == []
    fractions = [ds.read_mask(n).mean() for n in ds.names("test")[:60]]
    assert 0.02 < float(np.mean(fractions)) < 0.12  # README: crack ~5-8% of pixels
    for name in ds.names("val")[:20]:
        image, mask = ds.read(name)
        assert image.shape[:2] == mask.shape == (448, 448)
    assert _crack_darker_fraction(ds) > 0.95
    # JPEG-compressed 0/255 masks: two classes, the compression noise is not flagged as a third
    mv = ds.info["mask_values"]
    assert mv["extra_values"] == [] and mv["multi_valued_masks"] == [] and "warnings" not in ds.info
    assert [(r["value"], r["read_as"]) for r in mv["values"]] == [(0, "background"), (255, "crack")]


def test_unlabeled_images_of_the_real_sets(shared_data):
    from crackedge.data.unlabeled import list_unlabeled_images

    c500 = list_unlabeled_images([shared_data / "crack500"])
    assert len(c500) == 800 and {p.parent.name for p in c500} == {"images"}
    cfd = list_unlabeled_images([shared_data / "crackforest"])
    assert len(cfd) == 118 and {p.parent.name for p in cfd} == {"image"}
