"""Datasets: the canonical on-disk layout, converters from published layouts, augmentation.

`crackedge.data.torch_dataset` (the torch Dataset) is the only module here that imports torch.
"""

from crackedge.data.layout import SPLITS, CrackDataset

__all__ = ["SPLITS", "CrackDataset"]
