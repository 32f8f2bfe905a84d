"""Helpers for tests and demos: real-format SAM checkpoints with small dimensions.

No SAM weights can be downloaded here, so tests build an upstream `segment_anything` `Sam`
exactly as `build_sam._build_sam` does (1024x1024 input, 4 mask tokens), only with the `tiny`
widths, fill every parameter with random values (upstream zero-initialises pos_embed and the
relative-position tables, which would make resizing tests vacuous) and `torch.save` its state
dict: byte-for-byte the same format as `sam_vit_h_4b8939.pth`.
"""

from __future__ import annotations

from pathlib import Path

from teacher.models.sam_config import SAM_PRETRAIN_SIZE, build_sam, get_sam_arch


def make_upstream_sam(backbone: str = "tiny", img_size: int = SAM_PRETRAIN_SIZE, seed: int = 0):
    """An upstream `Sam` with 4 mask tokens (as published) and random weights (std 0.02)."""
    import torch

    sam = build_sam(get_sam_arch(backbone), img_size, num_multimask_outputs=3)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in sam.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    return sam


def save_sam_checkpoint(path: Path, backbone: str = "tiny", seed: int = 0) -> Path:
    """`torch.save(sam.state_dict(), path)` for a random tiny upstream SAM at 1024; returns path."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make_upstream_sam(backbone, seed=seed).state_dict(), path)
    return path
