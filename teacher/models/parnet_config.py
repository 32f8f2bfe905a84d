"""PARNet configuration (torch-free): CNN widths, the Swin encoder, fusion and decoder widths, presets.

`paper` is the full model (Swin-T + a full-width DeepCrack-style CNN, tuned to the paper's 56.27 M
parameters); `small` is a narrow model for CPU tests and demos. `parnet_config(name, **overrides)`
returns a preset; an unknown name raises ValueError listing the valid names. In a YAML file,
`preset: small` gives the base values and the other keys override them (nested sections key by key).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, model_validator

from crackedge.config import StrictModel

# Swin-T in timm (`swin_tiny_patch4_window7_224`): the encoder of the paper preset.
SWIN_T_EMBED_DIM = 96
SWIN_T_DEPTHS = (2, 2, 6, 2)
SWIN_T_HEADS = (3, 6, 12, 24)
SWIN_T_TIMM_NAME = "swin_tiny_patch4_window7_224"


class SwinConfig(StrictModel):
    """The Swin Transformer encoder: timm's `SwinTransformer` with patch 4 and four stages.

    Stage i has `embed_dim * 2**i` channels at stride `4 * 2**i`. `checkpoint` is an optional local
    file holding a timm state dict of the same architecture (`torch.save(model.state_dict(), path)`
    for `timm.create_model("swin_tiny_patch4_window7_224")`); without it the encoder starts random.
    """

    embed_dim: int = Field(SWIN_T_EMBED_DIM, gt=0)
    depths: tuple[int, int, int, int] = SWIN_T_DEPTHS
    num_heads: tuple[int, int, int, int] = SWIN_T_HEADS
    window_size: int = Field(7, gt=0)
    mlp_ratio: float = Field(4.0, gt=0)
    drop_path_rate: float = Field(0.1, ge=0.0, lt=1.0)
    ref_size: int = Field(
        448,
        ge=32,
        description="image size the encoder is built for; a stage whose feature map at this size is not larger "
        "than the window gets no shifted windows (timm's rule). 448 gives shifted windows in all four stages; "
        "any input size is accepted at run time",
    )
    checkpoint: Optional[str] = Field(None, description="local timm state dict file, or null for random init")

    @model_validator(mode="after")
    def _heads_divide_dims(self) -> "SwinConfig":
        for i, heads in enumerate(self.num_heads):
            dim = self.embed_dim * 2**i
            if heads <= 0 or dim % heads:
                raise ValueError(f"num_heads[{i}]={heads} must divide the stage-{i} width embed_dim*2**{i}={dim}")
        if any(d <= 0 for d in self.depths):
            raise ValueError(f"depths must be positive, got {self.depths}")
        return self

    @property
    def channels(self) -> tuple[int, int, int, int]:
        """Channels of the four stage outputs (strides 4, 8, 16, 32)."""
        return tuple(self.embed_dim * 2**i for i in range(4))  # type: ignore[return-value]


PresetName = Literal["paper", "small"]

# The fields each preset sets (the paper preset is the field defaults).
PRESET_FIELDS: dict[str, dict[str, Any]] = {
    "paper": {},
    "small": {
        "cnn_widths": (8, 16, 24, 32, 48, 64),
        "cnn_convs": (1, 1, 1, 1, 1, 1),
        "swin": {"embed_dim": 48, "depths": (1, 1, 1, 1), "num_heads": (2, 4, 8, 16), "drop_path_rate": 0.0},
        "fusion_widths": (16, 24, 32, 32),
        "se_reduction": 4,
        "decoder_widths": (32, 24, 16, 8),
    },
}


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`base` with `top`'s keys on top; nested mappings are merged key by key."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class ParnetConfig(StrictModel):
    """PARNet: a DeepCrack-style residual CNN and a Swin encoder in parallel, DFA + RFF per scale, a decoder
    with four side outputs and a learned 1x1 fusion.

    CNN stage i (i = 0..5) works at stride 2**i with `cnn_widths[i]` channels and `cnn_convs[i]` 3x3
    convolutions in one residual unit. Stages 2..5 (strides 4, 8, 16, 32) meet Swin stages 0..3 in the
    DFA/RFF modules, which align and fuse at `fusion_widths[k]` channels before RFF's 3x3 refinement maps
    back to the CNN width (a bottleneck); stages 0 and 1 (strides 1, 2) feed the last decoder stage with full-resolution detail.
    Decoder stage k outputs `decoder_widths[k]` channels at strides 16, 8, 4 and 1.

    `model` is the teacher registry name (stored in checkpoints); `preset` the base the other fields
    override; `img_size` the square side PARNet is trained at and that `teacher eval`, `predict` (its
    tile size) and `cache-logits` feed it (the network itself takes any H x W).
    """

    model: Literal["parnet"] = "parnet"
    preset: PresetName = Field("paper", description="base values (paper | small); the other keys override them")
    img_size: int = Field(448, ge=32, description="training / inference input side, multiple of 32")
    cnn_widths: tuple[int, int, int, int, int, int] = (64, 128, 256, 512, 512, 512)
    cnn_convs: tuple[int, int, int, int, int, int] = (2, 2, 3, 3, 3, 1)
    swin: SwinConfig = SwinConfig()
    fusion_widths: tuple[int, int, int, int] = (128, 256, 256, 256)
    se_reduction: int = Field(16, gt=0, description="squeeze-excitation reduction in the DFA modules")
    decoder_widths: tuple[int, int, int, int] = (256, 128, 64, 32)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        """Fill the keys the input does not set from its preset (an unknown preset is left to the
        field validation, which names the key)."""
        if isinstance(data, dict) and isinstance(data.get("preset"), str) and data["preset"] in PRESET_FIELDS:
            return _deep_merge(PRESET_FIELDS[data["preset"]], data)
        return data

    @model_validator(mode="after")
    def _positive(self) -> "ParnetConfig":
        if self.img_size % 32:
            raise ValueError(f"img_size must be a multiple of 32 (PARNet's stride), got {self.img_size}")
        for name in ("cnn_widths", "cnn_convs", "fusion_widths", "decoder_widths"):
            values = getattr(self, name)
            if any(v <= 0 for v in values):
                raise ValueError(f"{name} must be positive, got {values}")
        return self


PARNET_PRESETS = tuple(PRESET_FIELDS)


def parnet_config(name: str = "paper", **overrides: Any) -> ParnetConfig:
    """Return preset `name` ("small" or "paper") with top-level fields replaced by `overrides`.

    >>> parnet_config("small").swin.depths
    (1, 1, 1, 1)
    """
    if name not in PRESET_FIELDS:
        raise ValueError(f"unknown PARNet preset {name!r}; valid presets: {', '.join(sorted(PRESET_FIELDS))}")
    data: dict[str, Any] = {"preset": name}
    for key, value in overrides.items():
        data[key] = value.model_dump() if isinstance(value, StrictModel) else value
    return ParnetConfig.model_validate(data)
