"""Datasets: the canonical on-disk layout, converters from published layouts, augmentation.

`crackedge.data.torch_dataset` (the torch Datasets) and `crackedge.data.pseudo_labeled` (the
self-training Dataset built on them) are the only modules here that import torch.
"""

from crackedge.data.layout import SPLITS, CrackDataset

__all__ = ["SPLITS", "CrackDataset"]
