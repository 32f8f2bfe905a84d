"""Training curves as a PNG: loss (raw and smoothed), validation IoU/F1, learning rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _smooth(values: list[float], k: int = 20) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 3:
        return v
    k = max(1, min(k, len(v) // 3))
    return np.convolve(np.pad(v, (k - 1, 0), mode="edge"), np.ones(k) / k, mode="valid")


def loss_parts(history: list[dict]) -> list[str]:
    """The "loss_*" keys of the history worth a line: those not 0 at every step (a loss term the run does not
    use, e.g. CWD in a KL run, is recorded as 0)."""
    return sorted({k for h in history for k in h if k.startswith("loss_") and h[k]})


def plot_curves(history: list[dict], path: str | Path, title: str = "") -> Path:
    """history: records with "step" and any of "loss", "lr", "val_iou", "val_f1", "loss_*" parts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    train = [h for h in history if "loss" in h]
    val = [h for h in history if "val_iou" in h]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    if train:
        steps = [h["step"] for h in train]
        ax.plot(steps, [h["loss"] for h in train], alpha=0.3, color="C0", label="loss")
        ax.plot(steps, _smooth([h["loss"] for h in train]), color="C0", label="loss (smoothed)")
        for i, key in enumerate(loss_parts(train)):
            pts = [(h["step"], h[key]) for h in train if key in h]
            ax.plot([p[0] for p in pts], _smooth([p[1] for p in pts]), color=f"C{i + 1}", label=key)
    ax.set_xlabel("step")
    ax.set_title("training loss")
    ax.legend(fontsize=8)
    ax = axes[1]
    if val:
        ax.plot([h["step"] for h in val], [h["val_iou"] for h in val], "o-", label="val IoU")
        if all("val_f1" in h for h in val):
            ax.plot([h["step"] for h in val], [h["val_f1"] for h in val], "s--", label="val F1")
        ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_title("validation (CrackSAM convention, t=0.5)")
    ax.legend(fontsize=8)
    ax = axes[2]
    lr = [(h["step"], h["lr"]) for h in train if "lr" in h]
    if lr:
        ax.plot([p[0] for p in lr], [p[1] for p in lr])
    ax.set_xlabel("step")
    ax.set_title("learning rate")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
