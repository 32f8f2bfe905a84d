"""Parameter count and FLOPs of PARNet, to compare with the paper's 56.27 M parameters / 38.72 G at 256x256.

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode`, which counts matrix products and
convolutions only (not BatchNorm, activations, pooling, interpolation or softmax) and counts one
multiply-add as 2 FLOPs; GMACs = GFLOPs / 2.
"""

from __future__ import annotations

from typing import Any

from teacher.models.parnet_config import ParnetConfig

PAPER_PARAMS_M = 56.27
PAPER_GFLOPS_256 = 38.72
PARTS = ("cnn", "swin", "dfa", "rff", "decoder", "fuse")


def _part_of(module_name: str) -> str | None:
    """'PARNet.dfa.0.project' -> 'dfa'; the root or unknown names -> None."""
    pieces = module_name.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[1] in PARTS else None


def parnet_complexity(cfg: ParnetConfig, size: tuple[int, int] = (256, 256)) -> dict[str, Any]:
    """Build PARNet from `cfg` (random weights, no checkpoint read) and measure it at batch 1, `size` (H, W).

    Returns {"size": [H, W], "params": int, "params_m": float, "gflops": float, "gmacs": float,
    "parts": {part: {"params_m", "gflops"}}, "by_op_gflops": {aten op: GFLOPs}, "paper": {"params_m": 56.27, "g_at_256": 38.72}}.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from teacher.models.parnet import build_parnet

    cfg = cfg.model_copy(update={"swin": cfg.swin.model_copy(update={"checkpoint": None})})
    model = build_parnet(cfg).eval()
    x = torch.zeros(1, 3, int(size[0]), int(size[1]))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    parts: dict[str, dict[str, float]] = {}
    for name in PARTS:
        n_params = sum(p.numel() for p in getattr(model, name).parameters())
        parts[name] = {"params_m": n_params / 1e6, "gflops": 0.0}
    counts_by_module = counter.get_flop_counts()
    for module_name, counts in counts_by_module.items():
        part = _part_of(module_name)
        # count each part once: at its outermost counted module (a ModuleList is never called, its children are)
        pieces = module_name.split(".")
        ancestors = (".".join(pieces[:i]) for i in range(2, len(pieces)))
        if part is not None and not any(a in counts_by_module for a in ancestors):
            parts[part]["gflops"] += sum(counts.values()) / 1e9
    by_op = {str(op): n / 1e9 for op, n in counts_by_module.get("Global", {}).items()}
    n_params = sum(p.numel() for p in model.parameters())
    flops = counter.get_total_flops()
    return {
        "size": [int(size[0]), int(size[1])],
        "params": n_params,
        "params_m": n_params / 1e6,
        "gflops": flops / 1e9,
        "gmacs": flops / 2e9,
        "parts": parts,
        "by_op_gflops": by_op,
        "paper": {"params_m": PAPER_PARAMS_M, "g_at_256": PAPER_GFLOPS_256},
    }


def format_complexity(report: dict[str, Any]) -> str:
    """A text table of a `parnet_complexity` report."""
    h, w = report["size"]
    lines = [f"PARNet at {h}x{w}, batch 1", f"{'part':<10}{'params (M)':>12}{'GFLOPs':>10}{'GMACs':>10}"]
    for name, part in report["parts"].items():
        lines.append(f"{name:<10}{part['params_m']:>12.2f}{part['gflops']:>10.2f}{part['gflops'] / 2:>10.2f}")
    lines.append(f"{'total':<10}{report['params_m']:>12.2f}{report['gflops']:>10.2f}{report['gmacs']:>10.2f}")
    paper = report["paper"]
    lines.append(f"{'paper':<10}{paper['params_m']:>12.2f}{'':>10}{paper['g_at_256']:>10.2f}  (figure '38.72 G', likely MACs)")
    return "\n".join(lines)
