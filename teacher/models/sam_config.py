"""SAM backbone registry and the CrackSAM configuration (torch-free at import time).

The upstream hyper-parameters (embed dims, depths, heads, global-attention indexes) of ViT-B/L/H
live here and only here, next to a `tiny` architecture for tests and the demo. `build_sam`
constructs an UNMODIFIED upstream `segment_anything.modeling.Sam` for a given input size, with
the mask decoder set up for CrackSAM's two outputs (see `MASK_TOKENS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Literal, Optional, Tuple

from pydantic import Field, field_validator

from crackedge.config import StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from segment_anything.modeling import Sam

PATCH_SIZE = 16
WINDOW_SIZE = 14
SAM_PRETRAIN_SIZE = 1024  # the image size the published SAM checkpoints were trained at
DEFAULT_IMG_SIZE = 448
# CrackSAM's two output channels come from a mask decoder with `num_multimask_outputs=1`, i.e.
# two mask tokens; `MaskDecoder.predict_masks` returns one mask per token: (background, crack).
NUM_MULTIMASK_OUTPUTS = 1
MASK_TOKENS = NUM_MULTIMASK_OUTPUTS + 1


@dataclass(frozen=True)
class SamArch:
    """Everything that fixes the shapes of a SAM model, except the input size."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: Tuple[int, ...]
    prompt_embed_dim: int = 256  # also the mask decoder's transformer width
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_heads: int = 8
    iou_head_hidden_dim: int = 256
    mask_in_chans: int = 16
    mlp_ratio: float = 4.0

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads


# Upstream values: segment_anything/build_sam.py (build_sam_vit_b/_l/_h and _build_sam).
SAM_ARCHS = {
    "vit_b": SamArch("vit_b", embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
    "vit_l": SamArch("vit_l", embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)),
    "vit_h": SamArch("vit_h", embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)),
    # Not a published model: small enough to train from scratch on 2 CPU cores in minutes.
    "tiny": SamArch(
        "tiny",
        embed_dim=96,
        depth=3,
        num_heads=3,
        global_attn_indexes=(2,),
        prompt_embed_dim=64,
        decoder_depth=1,
        decoder_mlp_dim=128,
        decoder_heads=2,
        iou_head_hidden_dim=64,
        mask_in_chans=16,
    ),
}

DeltaKind = Literal["adapter", "lora", "both", "none"]
LoRATarget = Literal["q", "k", "v", "proj"]


def get_sam_arch(name: str) -> SamArch:
    """Look up a backbone by name; ValueError listing the valid names for an unknown one."""
    try:
        return SAM_ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown SAM backbone {name!r}; valid names: {', '.join(SAM_ARCHS)}") from None


class AdapterConfig(StrictModel):
    """Adapter = Linear(C->dim) GELU Linear(dim->C); sequential after attention, parallel to the MLP."""

    dim: int = Field(32, ge=1, description="middle (bottleneck) dimension")
    scale: float = Field(0.2, description="weight s of the parallel MLP adapter: mlp(x) + s * adapter(x)")
    init: Literal["zero_up", "default"] = Field(
        "zero_up",
        description="zero_up: up-projection starts at zero, so training starts from the base model "
        "(AdaptFormer); default: torch's Linear init (CrackSAM's code), not identity at start",
    )


class LoRAConfig(StrictModel):
    """Low-rank update W + (alpha / rank) * B A on the fused qkv (and optionally attn.proj)."""

    rank: int = Field(4, ge=1, description="LoRA rank")
    alpha: Optional[float] = Field(None, gt=0, description="scale = alpha / rank; None means alpha = rank")
    targets: List[LoRATarget] = Field(default_factory=lambda: ["q", "v"])

    @field_validator("targets")
    @classmethod
    def _unique_targets(cls, v: List[str]) -> List[str]:
        if not v:
            raise ValueError("at least one LoRA target is needed (q, k, v, proj)")
        if len(set(v)) != len(v):
            raise ValueError(f"repeated LoRA target in {v}")
        return v

    @property
    def scaling(self) -> float:
        return (self.alpha if self.alpha is not None else float(self.rank)) / self.rank


class CrackSAMConfig(StrictModel):
    """Everything needed to rebuild a CrackSAM model (stored inside every teacher checkpoint)."""

    model: Literal["cracksam"] = "cracksam"
    backbone: str = Field("vit_h", description="SAM image encoder: vit_b, vit_l, vit_h or tiny (from scratch)")
    delta: DeltaKind = Field("adapter", description="trainable delta on the frozen encoder: adapter | lora | both | none")
    img_size: int = Field(DEFAULT_IMG_SIZE, ge=PATCH_SIZE, description="square input side, multiple of 16")
    freeze_image_encoder: bool = Field(
        True, description="freeze the SAM image encoder (only deltas, prompt encoder, mask decoder train)"
    )
    decoder_heads: Literal["reinit", "slice"] = Field(
        "reinit",
        description="how SAM's 4-token decoder heads become 2-token heads when loading a SAM "
        "checkpoint: reinit (CrackSAM/SAMed: fresh init) or slice (keep tokens 0 and 1)",
    )
    adapter: AdapterConfig = Field(default_factory=AdapterConfig)
    lora: LoRAConfig = Field(default_factory=LoRAConfig)

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, v: str) -> str:
        get_sam_arch(v)
        return v

    @field_validator("img_size")
    @classmethod
    def _multiple_of_patch(cls, v: int) -> int:
        if v % PATCH_SIZE:
            raise ValueError(f"img_size must be a multiple of {PATCH_SIZE}, got {v}")
        return v

    @property
    def arch(self) -> SamArch:
        return get_sam_arch(self.backbone)

    @property
    def grid(self) -> int:
        """Side of the image-embedding grid (28 at 448)."""
        return self.img_size // PATCH_SIZE


def build_sam(arch: SamArch, img_size: int = DEFAULT_IMG_SIZE, num_multimask_outputs: int = NUM_MULTIMASK_OUTPUTS) -> "Sam":
    """Construct an upstream `Sam` (random init) for `img_size` x `img_size` input.

    Same construction as `segment_anything.build_sam._build_sam`, with the input size, the
    number of mask tokens and (for `tiny`) the decoder widths taken from the arguments.
    `build_sam(get_sam_arch("vit_b"), 1024, 3)` is exactly upstream `build_sam_vit_b()`.
    """
    from functools import partial

    import torch
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    grid = img_size // PATCH_SIZE
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=arch.depth,
            embed_dim=arch.embed_dim,
            img_size=img_size,
            mlp_ratio=arch.mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=arch.num_heads,
            patch_size=PATCH_SIZE,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=arch.global_attn_indexes,
            window_size=WINDOW_SIZE,
            out_chans=arch.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=arch.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(img_size, img_size),
            mask_in_chans=arch.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=arch.decoder_depth,
                embedding_dim=arch.prompt_embed_dim,
                mlp_dim=arch.decoder_mlp_dim,
                num_heads=arch.decoder_heads,
            ),
            transformer_dim=arch.prompt_embed_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=arch.iou_head_hidden_dim,
        ),
    )
