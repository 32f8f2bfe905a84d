"""Self-training data: the split's hidden-mask items take the cached teacher's mask of the same view."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crackedge.data.logit_cache import CacheError, LogitCache, LogitCacheWriter
from crackedge.data.pseudo_labeled import PseudoLabeledDataset, cached_mask
from crackedge.data.label_record import labeled_subset
from crackedge.data.torch_dataset import MixedSegDataset
from crackedge.errors import ConfigError
from crackedge.synth import write_synthetic_dataset


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "ds", 6, 1, 1, (64, 80), seed=3, progress=False)


def _margin(index: int, variant: int) -> np.ndarray:
    """1 x 12 x 12 crack margin: crack in the columns 0..index+variant, background elsewhere."""
    m = np.full((1, 12, 12), -4.0, np.float32)
    m[0, :, : index + variant + 1] = 4.0
    return m


def _cache(tmp_path, synth, seed=0, variants=2, augment=True):
    names = synth.names("train")
    meta = {"teacher": "parnet", "dataset": str(synth.root), "split": "train", "size": [48, 48], "seed": seed,
            "variants": variants, "augment": augment}
    w = LogitCacheWriter(tmp_path / f"c{seed}{variants}{augment}", meta, len(names) * variants, 1, (12, 12))
    for i, name in enumerate(names):
        for v in range(variants):
            w.write(i * variants + v, name, i, v, _margin(i, v))
    return LogitCache.open(w.close())


def test_cached_mask_reads_a_margin_or_two_logits_at_the_asked_size():
    m = cached_mask(_margin(2, 0), (48, 48))
    assert m.shape == (48, 48) and m.dtype == np.uint8
    assert m[:, :12].all() and not m[:, 12:].any()  # columns 0-2 of 12 -> 0-11 of 48
    two = np.stack([np.zeros((4, 4)), np.eye(4) * 3 - 1])
    assert np.array_equal(cached_mask(two, (4, 4)), np.eye(4, dtype=np.uint8))


def test_hidden_items_carry_the_cached_mask_of_their_view(synth, tmp_path):
    cache = _cache(tmp_path, synth)
    names = synth.names("train")
    keep = labeled_subset(names, 0.5, 0)
    ds = PseudoLabeledDataset(synth, "train", (48, 48), cache, seed=0, labeled=keep)
    truth = MixedSegDataset(synth, "train", (48, 48), augment=True, seed=0, variants=2)
    assert ds.variants == 2 and len(ds) == len(names)
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        truth.set_epoch(epoch)
        for i, name in enumerate(names):
            item = ds[i]
            assert item["variant"] == epoch and torch.equal(item["image"], truth[i]["image"])
            if name in keep:
                assert not item["pseudo"] and torch.equal(item["mask"], truth[i]["mask"])
            else:
                cols = (i + epoch + 1) * 4
                assert item["pseudo"] and item["mask"][:, :cols].all() and not item["mask"][:, cols:].any()


def test_a_cache_of_other_views_is_refused_with_the_reason(synth, tmp_path):
    with pytest.raises(CacheError, match="augmentation seed 1 vs 0"):
        PseudoLabeledDataset(synth, "train", (48, 48), _cache(tmp_path, synth, seed=1), seed=0)
    with pytest.raises(CacheError, match="holds augmented views, this run does not augment"):
        PseudoLabeledDataset(synth, "train", (48, 48), _cache(tmp_path, synth), seed=0, augment=False)


def test_teacher_train_needs_hidden_masks_to_use_pseudo_labels(synth, tmp_path):
    from crackedge.config import parse_config
    from teacher.train import _datasets
    from teacher.train_config import TeacherTrainConfig

    cache = _cache(tmp_path, synth)

    def cfg(**data):
        return parse_config({"model": {"model": "parnet", "preset": "small", "img_size": 64},
                             "data": {"root": str(synth.root), "pseudo_labels": str(cache.root), **data}},
                            TeacherTrainConfig)

    with pytest.raises(ConfigError, match="every item keeps its mask"):
        _datasets(cfg())
    train, _ = _datasets(cfg(labeled_fraction=0.5))
    assert len(train) == len(synth.names("train")) and len(train.unlabeled_indices()) == 3
    with pytest.raises(ConfigError, match=r"--pseudo-labels .*augmentation seed 0 vs 4"):
        _datasets(cfg(labeled_fraction=0.5, seed=4))
