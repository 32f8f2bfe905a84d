"""Parameter counts of CrackSAM variants, measured on the meta device (no memory allocated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

# The CrackSAM paper's figures (ViT-H, 448x448): total / trainable, millions.
PAPER_COUNTS: Dict[Tuple[str, str], Tuple[float, float]] = {
    ("vit_h", "adapter"): (641.9, 9.1),  # adapter d = 32
    ("vit_h", "lora"): (637.2, 4.4),  # LoRA r = 4
}


@dataclass(frozen=True)
class ParamRow:
    backbone: str
    delta: str
    total: int
    trainable: int
    delta_params: int  # adapters / LoRA matrices
    head_params: int  # prompt encoder + mask decoder (trainable)
    upstream_sam: int  # the published SAM at 1024 with 4 mask tokens, for comparison


def _count(named: Iterable[Tuple[str, Any]]) -> int:
    return sum(p.numel() for _, p in named)


def measure(backbone: str, delta: str, **overrides: Any) -> ParamRow:
    """Build CrackSAM on the meta device and count its parameters (every other field as `overrides`)."""
    import torch

    from teacher.models.cracksam import build_cracksam
    from teacher.models.deltas import is_delta_parameter
    from teacher.models.sam_config import SAM_PRETRAIN_SIZE, build_sam, get_sam_arch

    with torch.device("meta"):
        model = build_cracksam(backbone, delta, **overrides)
        upstream = build_sam(get_sam_arch(backbone), SAM_PRETRAIN_SIZE, num_multimask_outputs=3)
    named = list(model.named_parameters())
    return ParamRow(
        backbone=backbone,
        delta=delta,
        total=_count(named),
        trainable=_count((n, p) for n, p in named if p.requires_grad),
        delta_params=_count((n, p) for n, p in named if is_delta_parameter(n)),
        head_params=_count((n, p) for n, p in named if not n.startswith("sam.image_encoder.")),
        upstream_sam=_count(upstream.named_parameters()),
    )


def param_table(
    backbones: Iterable[str] = ("vit_b", "vit_l", "vit_h"),
    deltas: Iterable[str] = ("adapter", "lora", "both"),
    **overrides: Any,
) -> List[ParamRow]:
    return [measure(b, d, **overrides) for b in backbones for d in deltas]


def _m(n: int) -> str:
    return f"{n / 1e6:.2f}"


def format_table(rows: List[ParamRow], paper: Optional[Dict[Tuple[str, str], Tuple[float, float]]] = None) -> str:
    """Markdown table, parameter counts in millions."""
    paper = PAPER_COUNTS if paper is None else paper
    lines = [
        "| backbone | delta | total (M) | trainable (M) | delta (M) | prompt enc + decoder (M) | SAM@1024 (M) | paper total / trainable (M) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ref = paper.get((r.backbone, r.delta))
        ref_s = f"{ref[0]} / {ref[1]}" if ref else ""
        lines.append(
            f"| {r.backbone} | {r.delta} | {_m(r.total)} | {_m(r.trainable)} | {_m(r.delta_params)} | "
            f"{_m(r.head_params)} | {_m(r.upstream_sam)} | {ref_s} |"
        )
    return "\n".join(lines)


def count_parameters(model: Any) -> Tuple[int, int]:
    """(total, trainable) parameter counts of a module."""
    named = list(model.named_parameters())
    return _count(named), _count((n, p) for n, p in named if p.requires_grad)
