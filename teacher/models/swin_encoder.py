"""The Transformer branch of PARNet: timm's SwinTransformer (unchanged, wrapped) returning four NCHW maps.

Built with `strict_img_size=False`, timm 1.0.31's Swin accepts any input whose sides are multiples of
the patch size: each block pads its map to a multiple of the window (7) and builds the shifted-window
mask for that size on the fly. PARNet pads its input to a multiple of 32 beforehand, so every stage map
is an integer grid (e.g. 544x384 -> 136x96, 68x48, 34x24, 17x12).
"""

from __future__ import annotations

import torch
from torch import nn

from teacher.models.parnet_config import SwinConfig
from teacher.models.swin_checkpoint import load_swin_checkpoint

PATCH_SIZE = 4


class SwinEncoder(nn.Module):
    """x: N x 3 x H x W (H, W multiples of 4) -> [N x C_i x H/(4*2**i) x W/(4*2**i)], C_i = embed_dim*2**i.

    The last map goes through the Swin's final LayerNorm (as in the classifier it was trained for).
    `self.body` holds timm's module, so its state dict keys are timm's under the `body.` prefix.
    """

    def __init__(self, cfg: SwinConfig):
        super().__init__()
        from timm.models.swin_transformer import SwinTransformer

        self.body = SwinTransformer(
            img_size=cfg.ref_size,
            patch_size=PATCH_SIZE,
            num_classes=0,
            embed_dim=cfg.embed_dim,
            depths=cfg.depths,
            num_heads=cfg.num_heads,
            window_size=cfg.window_size,
            mlp_ratio=cfg.mlp_ratio,
            drop_path_rate=cfg.drop_path_rate,
            strict_img_size=False,
        )
        self.out_channels = cfg.channels
        self.strides = tuple(PATCH_SIZE * 2**i for i in range(4))
        if cfg.checkpoint:
            load_swin_checkpoint(self.body, cfg.checkpoint)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body.forward_intermediates(x, norm=True, intermediates_only=True)
