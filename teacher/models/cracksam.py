"""CrackSAM: Segment Anything made prompt-free for two-class crack segmentation.

    x  N x 3 x S x S  (normalised with ImageNet mean/std in 0-255 units, i.e. SAM's pixel_mean/std;
                        NOT normalised again here, so `Sam.preprocess` is never called)
    -> image_encoder (upstream ViT + adapter/LoRA deltas)   N x 256 x S/16 x S/16   (28x28 at 448)
    -> prompt_encoder(points=None, boxes=None, masks=None): the no-prompt sparse (1x0x256) and
       dense (no_mask_embed, 1x256xS/16xS/16) embeddings, shared by the batch
    -> mask_decoder.predict_masks with two mask tokens                 N x 2 x S/4 x S/4 ("logits_low")
    -> bilinear upsampling (align_corners=False, as Sam.postprocess_masks) N x 2 x S x S ("logits")

Output channels: the decoder is built with `num_multimask_outputs=1`, i.e. two mask tokens, and
`predict_masks` (upstream, public) returns one mask per token without the single/multi-mask
selection of `MaskDecoder.forward`: channel 0 = token 0 = background, channel 1 = token 1 =
crack. This is the SAMed/CrackSAM convention (`num_classes=1`). CrackSAM upsamples the decoder's
feature map before the hypernetwork product; because bilinear interpolation and the per-pixel
product are both linear, upsampling the 2-channel logits afterwards gives the same result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from crackedge.errors import DataError
from teacher.models.deltas import apply_deltas, is_delta_parameter
from teacher.models.sam_config import CrackSAMConfig, build_sam, get_sam_arch
from teacher.models.sam_loader import LoadReport, load_sam_weights


class CrackSAM(nn.Module):
    """Prompt-free SAM with a 2-channel (background, crack) head; see the module docstring.

    `sam` is an upstream `segment_anything.modeling.Sam` (its image encoder possibly wrapped by
    deltas). `load_report` describes the SAM checkpoint it was built from (None: random init).
    """

    def __init__(self, sam: nn.Module, config: CrackSAMConfig, load_report: Optional[LoadReport] = None) -> None:
        super().__init__()
        self.sam = sam
        self.config = config
        self.load_report = load_report

    @property
    def teacher_name(self) -> str:
        return f"cracksam-{self.config.backbone}-{self.config.delta}"

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """x: N x 3 x S x S normalised -> {"logits": N x 2 x S x S, "logits_low": N x 2 x S/4 x S/4}."""
        size = self.config.img_size
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (size, size):
            raise DataError(
                f"{self.teacher_name} takes N x 3 x {size} x {size} normalised images, got {tuple(x.shape)}; "
                f"resize the input to {size}x{size}"
            )
        sam = self.sam
        embeddings = sam.image_encoder(x)
        # No prompts: batch size 1, broadcast over the N images inside the decoder (as SAMed).
        sparse, dense = sam.prompt_encoder(points=None, boxes=None, masks=None)
        low, _iou = sam.mask_decoder.predict_masks(
            image_embeddings=embeddings,
            image_pe=sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse.to(embeddings.dtype),
            dense_prompt_embeddings=dense,
        )
        logits = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
        return {"logits": logits, "logits_low": low}

    def trainable_state_dict(self) -> Dict[str, torch.Tensor]:
        """The trainable parameters by state-dict name (what a delta checkpoint stores)."""
        return {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}


def freeze_for_training(model: CrackSAM) -> None:
    """Set requires_grad: image encoder frozen (unless configured otherwise) except its deltas;
    prompt encoder and mask decoder trainable."""
    for name, p in model.sam.named_parameters():
        if name.startswith("image_encoder."):
            p.requires_grad = (not model.config.freeze_image_encoder) or is_delta_parameter(name)
        else:
            p.requires_grad = True


def build_cracksam_from_config(cfg: CrackSAMConfig, sam_checkpoint: Optional[Path] = None) -> CrackSAM:
    """Build CrackSAM for `cfg`: upstream Sam, optional SAM weights (resized), deltas, freezing.

    Works under `with torch.device("meta"):` (no memory) when `sam_checkpoint` is None.
    """
    arch = cfg.arch
    sam = build_sam(arch, cfg.img_size)
    report = None
    if sam_checkpoint is not None:
        report = load_sam_weights(sam, Path(sam_checkpoint), arch, cfg.img_size, cfg.decoder_heads)
    apply_deltas(sam.image_encoder, cfg)
    model = CrackSAM(sam, cfg, report)
    freeze_for_training(model)
    return model


def build_cracksam(
    backbone: str = "vit_h",
    delta: str = "adapter",
    sam_checkpoint: Optional[Path] = None,
    **overrides: Any,
) -> CrackSAM:
    """`build_cracksam("vit_h", "adapter", sam_checkpoint=...)`; other CrackSAMConfig fields as keywords.

    Raises ValueError listing the valid names for an unknown backbone.
    """
    get_sam_arch(backbone)
    cfg = CrackSAMConfig(backbone=backbone, delta=delta, **overrides)
    return build_cracksam_from_config(cfg, sam_checkpoint)
