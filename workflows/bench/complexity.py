"""Parameters and FLOPs of a torch module (torch imported inside the function).

FLOPs come from `torch.utils.flop_counter.FlopCounterMode`: it counts convolutions and matrix
products (mm, bmm, addmm, attention) only, not normalisation, activations, pooling, interpolation
or softmax, and counts one multiply-add as 2 FLOPs, so GFLOPs = 2 x GMACs. Papers often quote
"FLOPs" that are really MACs (PARNet's "38.72 G" at 256x256 is one).
"""

from __future__ import annotations

from typing import Any

FLOPS_CONVENTION = ("FLOPs from torch.utils.flop_counter.FlopCounterMode: convolutions and matrix products only, "
                    "one multiply-add = 2 FLOPs (GFLOPs = 2 x GMACs)")


def count_parameters(model: Any) -> int:
    """Number of parameters of `model` (trainable or not; buffers excluded)."""
    return int(sum(p.numel() for p in model.parameters()))


def counted_forward(model: Any, x: Any) -> tuple[Any, float]:
    """Run `model(x)` once without gradients under FlopCounterMode; (output, total FLOPs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = model(x)
    return out, float(counter.get_total_flops())


def complexity(model: Any, x: Any) -> dict[str, float]:
    """{"params": int, "params_m": M, "gflops": G, "gmacs": G/2} of `model` on input `x` (batch 1)."""
    flops = counted_forward(model, x)[1]
    params = count_parameters(model)
    return {"params": params, "params_m": params / 1e6, "gflops": flops / 1e9, "gmacs": flops / 2e9}
