"""The torch Dataset (normalisation, deterministic variants) and the teacher-logit cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crackedge.data.logit_cache import CacheError, LogitCache, LogitCacheWriter
from crackedge.data.torch_dataset import IMAGENET_MEAN, CrackSegDataset, image_to_tensor, tensor_to_image
from crackedge.synth import write_synthetic_dataset


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "ds", 6, 2, 2, (64, 80), seed=1, progress=False)


def test_items_have_documented_shapes_and_normalisation(synth):
    ds = CrackSegDataset(synth, "train", size=(48, 48))
    item = ds[0]
    assert item["image"].shape == (3, 48, 48) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (48, 48) and item["mask"].dtype == torch.int64
    assert set(item["mask"].unique().tolist()) <= {0, 1}
    assert item["name"] == ds.names[0] and item["variant"] == 0
    grey = np.full((2, 2, 3), IMAGENET_MEAN, np.float32).round().astype(np.uint8)
    assert image_to_tensor(grey).abs().max() < 0.01
    img = synth.read_image(ds.names[0])
    assert np.array_equal(tensor_to_image(image_to_tensor(img)), img)


def test_variants_cycle_and_are_reproducible(synth):
    a = CrackSegDataset(synth, "train", size=(48, 48), augment=True, seed=3, variants=2)
    b = CrackSegDataset(synth, "train", size=(48, 48), augment=True, seed=3, variants=2)
    a.set_epoch(0)
    b.set_epoch(2)  # 2 % 2 == 0: the same view
    assert torch.equal(a[1]["image"], b[1]["image"]) and b[1]["variant"] == 0
    b.set_epoch(1)
    assert not torch.equal(a[1]["image"], b[1]["image"]) and b[1]["variant"] == 1
    c = CrackSegDataset(synth, "train", size=(48, 48), augment=True, seed=4, variants=2)
    assert not torch.equal(a[1]["image"], c[1]["image"])


def test_noise_case_changes_images(synth):
    clean = CrackSegDataset(synth, "test", size=(48, 48))[0]["image"]
    dim = CrackSegDataset(synth, "test", size=(48, 48), noise="dim")[0]["image"]
    assert dim.mean() < clean.mean()


def test_logit_cache_round_trip_and_checks(tmp_path):
    meta = {"teacher": "t", "dataset": "d", "split": "train", "size": [16, 16], "seed": 0, "variants": 2}
    w = LogitCacheWriter(tmp_path / "c", meta, n_entries=4, channels=2, stored_size=(4, 4))
    expected = {}
    for row, (i, v) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        logits = np.random.default_rng(row).normal(0, 5, (2, 4, 4)).astype(np.float32)
        w.write(row, f"n{i}", i, v, logits)
        expected[(i, v)] = logits
    w.close()
    cache = LogitCache.open(tmp_path / "c")
    assert cache.channels == 2
    np.testing.assert_allclose(cache.get(1, 0), expected[(1, 0)], atol=0.01)
    assert cache.get(1, 0).dtype == np.float16
    with pytest.raises(CacheError, match="no entry for item 1 variant 5"):
        cache.get(1, 5)
    cache.check_matches(["n0", "n1"], (16, 16), 0, 2)
    cache.check_matches(["n0", "n1"], (8, 8), 0, 2)  # a student may train below the teacher's resolution
    with pytest.raises(CacheError, match="shape 16x16 vs training size 16x32 \\(another aspect ratio\\)"):
        cache.check_matches(["n0", "n1"], (16, 32), 0, 2)
    with pytest.raises(CacheError, match="image list differs"):
        cache.check_matches(["n1", "n0"], (16, 16), 0, 2)


def test_interrupted_cache_is_never_mistaken_for_complete(tmp_path):
    meta = {"teacher": "t", "dataset": "d", "split": "train", "size": [8, 8], "seed": 0, "variants": 1}
    w = LogitCacheWriter(tmp_path / "c", meta, n_entries=2, channels=1, stored_size=(2, 2))
    w.write(0, "a", 0, 0, np.zeros((1, 2, 2)))
    with pytest.raises(CacheError, match="only 1 of 2 cache rows"):
        w.close()
    with pytest.raises(CacheError, match="index.yaml missing"):
        LogitCache.open(tmp_path / "c")
