"""Parameter-efficient deltas for SAM's ViT image encoder: adapters and LoRA.

Every delta WRAPS an upstream module (`blk.attn`, `blk.attn.qkv`, `blk.attn.proj`, `blk.mlp`);
upstream code is never edited. After `apply_deltas` the state-dict keys of the wrapped base
modules move under the wrapper (e.g. `blocks.3.attn.qkv.weight` -> `blocks.3.attn.qkv.base.weight`),
which is why SAM weights are loaded into the plain `Sam` BEFORE the deltas are applied.

Shapes: the image encoder works on channels-last tokens `B x H x W x C` (windowed blocks on
`B*nW x 14 x 14 x C`); every delta acts on the last dimension only.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from teacher.models.sam_config import AdapterConfig, CrackSAMConfig, LoRAConfig


class Adapter(nn.Module):
    """Bottleneck adapter: `up(GELU(down(x)))`, `... x C -> ... x C` through `dim` channels.

    `zero_up=True` zero-initialises the up-projection so the adapter outputs exactly 0 at start
    (AdaptFormer); otherwise both Linear layers keep torch's default init (CrackSAM's code).
    """

    def __init__(self, channels: int, dim: int, zero_up: bool = True) -> None:
        super().__init__()
        self.down = nn.Linear(channels, dim)
        self.act = nn.GELU()
        self.up = nn.Linear(dim, channels)
        if zero_up:
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(x)))


class SequentialAdapterAttention(nn.Module):
    """`y = attn(x); return y + adapter(y)`: an adapter in series after the attention (Med-SA)."""

    def __init__(self, attn: nn.Module, adapter: Adapter) -> None:
        super().__init__()
        self.attn = attn
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.attn(x)
        return y + self.adapter(y)


class ParallelAdapterMLP(nn.Module):
    """`mlp(x) + scale * adapter(x)`: an adapter beside the MLP, same input (AdaptFormer)."""

    def __init__(self, mlp: nn.Module, adapter: Adapter, scale: float) -> None:
        super().__init__()
        self.mlp = mlp
        self.adapter = adapter
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x) + self.scale * self.adapter(x)


class LoRAPair(nn.Module):
    """`x -> b(a(x))`, `... x C_in -> ... x C_out` through `rank` channels; `b` starts at zero."""

    def __init__(self, in_features: int, out_features: int, rank: int) -> None:
        super().__init__()
        self.a = nn.Linear(in_features, rank, bias=False)
        self.b = nn.Linear(rank, out_features, bias=False)
        nn.init.kaiming_uniform_(self.a.weight, a=math.sqrt(5))  # the LoRA paper's init for A
        nn.init.zeros_(self.b.weight)  # B = 0: the wrapped layer starts exactly as the base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


class LoRAQKV(nn.Module):
    """LoRA on SAM's fused qkv projection: `qkv(x)` plus `scaling * B_t A_t x` on chosen chunks.

    Input `... x C`, output `... x 3C` laid out (q, k, v) as upstream `Attention` expects.
    Untargeted chunks are passed through untouched; with every B = 0 the output equals the base
    output bit for bit.
    """

    CHUNKS = ("q", "k", "v")

    def __init__(self, base: nn.Linear, rank: int, scaling: float, targets: Sequence[str]) -> None:
        super().__init__()
        dim = base.in_features
        if base.out_features != 3 * dim:
            raise ValueError(f"expected a fused qkv Linear({dim}, {3 * dim}), got {base}")
        unknown = set(targets) - set(self.CHUNKS)
        if unknown:
            raise ValueError(f"LoRAQKV targets must be among {self.CHUNKS}, got {sorted(unknown)}")
        self.base = base
        self.dim = dim
        self.scaling = float(scaling)
        self.lora = nn.ModuleDict({t: LoRAPair(dim, dim, rank) for t in self.CHUNKS if t in targets})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        chunks = list(out.split(self.dim, dim=-1))
        for i, name in enumerate(self.CHUNKS):
            if name in self.lora:
                chunks[i] = chunks[i] + self.scaling * self.lora[name](x)
        return torch.cat(chunks, dim=-1)


class LoRALinear(nn.Module):
    """LoRA on a plain Linear (used for `attn.proj`): `base(x) + scaling * B A x`."""

    def __init__(self, base: nn.Linear, rank: int, scaling: float) -> None:
        super().__init__()
        self.base = base
        self.scaling = float(scaling)
        self.lora = LoRAPair(base.in_features, base.out_features, rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * self.lora(x)


def _apply_lora(block: nn.Module, cfg: LoRAConfig) -> None:
    attn = block.attn
    qkv_targets = [t for t in cfg.targets if t in LoRAQKV.CHUNKS]
    if qkv_targets:
        attn.qkv = LoRAQKV(attn.qkv, cfg.rank, cfg.scaling, qkv_targets)
    if "proj" in cfg.targets:
        attn.proj = LoRALinear(attn.proj, cfg.rank, cfg.scaling)


def _apply_adapters(block: nn.Module, cfg: AdapterConfig, channels: int) -> None:
    zero_up = cfg.init == "zero_up"
    block.attn = SequentialAdapterAttention(block.attn, Adapter(channels, cfg.dim, zero_up))
    block.mlp = ParallelAdapterMLP(block.mlp, Adapter(channels, cfg.dim, zero_up), cfg.scale)


def apply_deltas(image_encoder: nn.Module, cfg: CrackSAMConfig) -> None:
    """Wrap every block of an upstream `ImageEncoderViT` with the deltas `cfg.delta` names (in place).

    "lora" wraps `attn.qkv` (and `attn.proj` when targeted); "adapter" wraps `attn` and `mlp`;
    "both" does LoRA first (inside the attention), then the adapters; "none" changes nothing.
    """
    channels = cfg.arch.embed_dim
    for block in image_encoder.blocks:
        if cfg.delta in ("lora", "both"):
            _apply_lora(block, cfg.lora)
        if cfg.delta in ("adapter", "both"):
            _apply_adapters(block, cfg.adapter, channels)


def is_delta_parameter(name: str) -> bool:
    """True for parameters that belong to a delta (adapter or LoRA), by their state-dict name."""
    return ".adapter." in name or ".lora." in name
