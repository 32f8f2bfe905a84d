"""Builders of small fake datasets in the publishers' layouts (test support)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def crack_pair(seed: int, h: int = 40, w: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A grey image with one dark horizontal crack and its {0,1} mask (image BGR uint8)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(120, 160, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    y = int(rng.integers(5, h - 5))
    mask[y : y + 2, 5 : w - 5] = 1
    img[mask == 1] = 40
    return img, mask


def make_crackforest(root: Path, n: int = 6, odd_labels: bool = True) -> Path:
    import scipy.io as sio

    (root / "image").mkdir(parents=True)
    (root / "groundTruth").mkdir()
    for i in range(1, n + 1):
        img, mask = crack_pair(i, 32, 48)
        labels = np.where(mask == 1, 2, 1).astype(np.uint8)
        if odd_labels and i == 1:
            labels[0:3, 0:3] = 3  # enclosed pavement -> background
            labels[20:22, 10:20] = 4  # faint crack -> crack
        cv2.imwrite(str(root / "image" / f"{i:03d}.jpg"), img)
        gt = np.empty((1, 1), dtype=[("Segmentation", "O"), ("Boundaries", "O")])
        gt[0, 0]["Segmentation"] = labels
        gt[0, 0]["Boundaries"] = np.zeros_like(labels)
        sio.savemat(str(root / "groundTruth" / f"{i:03d}.mat"), {"groundTruth": gt})
    return root


def make_crack500(root: Path, counts=(("train", 4), ("val", 2), ("test", 2))) -> Path:
    k = 0
    for split, n in counts:
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for _ in range(n):
            img, mask = crack_pair(100 + k)
            cv2.imwrite(str(root / split / "images" / f"c500_{k}.jpg"), img)
            cv2.imwrite(str(root / split / "masks" / f"c500_{k}.jpg"), mask * 255, [cv2.IMWRITE_JPEG_QUALITY, 70])
            k += 1
    return root


def make_deepcrack(root: Path, n_train: int = 10, n_test: int = 3) -> Path:
    for part, n in (("train", n_train), ("test", n_test)):
        (root / f"{part}_img").mkdir(parents=True)
        (root / f"{part}_lab").mkdir(parents=True)
        for i in range(n):
            img, mask = crack_pair(200 + i + (0 if part == "train" else 50))
            cv2.imwrite(str(root / f"{part}_img" / f"{part}{i}.jpg"), img)
            cv2.imwrite(str(root / f"{part}_lab" / f"{part}{i}.png"), mask * 255)
    return root
