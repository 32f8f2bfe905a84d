"""Report section `teachers`: the teachers' encoders for scale, torch eager fp32, batch 1, random weights.

SAM ViT-B / ViT-L / ViT-H image encoders (the unmodified upstream `ImageEncoderViT` built by
teacher.models.sam_config.build_sam for the input size; CrackSAM's adapters add ~1 % to it) and
PARNet (paper preset). A ViT-H forward takes seconds on a small CPU, so every model is timed for at
most `max_seconds` after one counted forward (which also gives the FLOPs), with at least
`min_repeats` timed forwards.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)

FULL_TEACHERS = ("sam_vit_b", "sam_vit_l", "sam_vit_h", "parnet_paper")
QUICK_TEACHERS = ("sam_tiny", "parnet_small")


@dataclass
class TeacherOptions:
    teachers: tuple[str, ...] = FULL_TEACHERS
    size: int = 448
    threads: Optional[int] = None
    max_seconds: float = 20.0
    min_repeats: int = 2
    repeats: int = 10


def _sam_encoder(arch: str, size: int):
    from teacher.models.sam_config import build_sam, get_sam_arch

    return build_sam(get_sam_arch(arch), size).image_encoder


def _parnet(preset: str, size: int):
    from teacher.models.parnet import build_parnet
    from teacher.models.parnet_config import parnet_config

    cfg = parnet_config(preset)
    return build_parnet(cfg.model_copy(update={"swin": cfg.swin.model_copy(update={"checkpoint": None})}))


# name -> (title, builder(size) -> nn.Module)
TEACHER_BUILDERS: dict[str, tuple[str, Callable[[int], Any]]] = {
    "sam_vit_b": ("SAM ViT-B image encoder", lambda s: _sam_encoder("vit_b", s)),
    "sam_vit_l": ("SAM ViT-L image encoder", lambda s: _sam_encoder("vit_l", s)),
    "sam_vit_h": ("SAM ViT-H image encoder (CrackSAM's)", lambda s: _sam_encoder("vit_h", s)),
    "sam_tiny": ("SAM tiny image encoder (test architecture)", lambda s: _sam_encoder("tiny", s)),
    "parnet_paper": ("PARNet (paper preset)", lambda s: _parnet("paper", s)),
    "parnet_small": ("PARNet (small preset)", lambda s: _parnet("small", s)),
}


def measure_teacher(name: str, opts: TeacherOptions) -> dict[str, Any]:
    """Build teacher `name` with random weights, count params/FLOPs on the first forward, time the rest."""
    import torch

    from crackedge.timing import time_call
    from workflows.bench.complexity import count_parameters, counted_forward

    if name not in TEACHER_BUILDERS:
        raise ValueError(f"unknown teacher {name!r}; valid: {', '.join(TEACHER_BUILDERS)}")
    title, build = TEACHER_BUILDERS[name]
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = build(opts.size).eval()
    build_s = time.perf_counter() - t0
    x = torch.randn(1, 3, opts.size, opts.size)
    t1 = time.perf_counter()
    _, flops = counted_forward(model, x)  # doubles as the warm-up
    first_s = time.perf_counter() - t1

    def run() -> None:
        with torch.inference_mode():
            model(x)

    timing = time_call(run, repeats=opts.repeats, warmup=0, max_seconds=opts.max_seconds, min_repeats=opts.min_repeats)
    params = count_parameters(model)
    del model
    gc.collect()
    result = {"teacher": name, "title": title, "params": params, "params_m": params / 1e6, "gflops": flops / 1e9,
              "gmacs": flops / 2e9, "latency": timing.to_dict(), "build_s": round(build_s, 1),
              "first_forward_s": round(first_s, 2), "seconds": round(time.perf_counter() - t0, 1)}
    log.info("teachers: %-40s %8.1f M params %8.1f GFLOPs %9.1f ms (median of %d)", title, params / 1e6, flops / 1e9,
             timing.median_ms, timing.n)
    return result


def teacher_section(opts: TeacherOptions) -> dict[str, Any]:
    """The `teachers` section: one `measure_teacher` entry per teacher (errors recorded, not raised)."""
    import torch

    from workflows.bench.complexity import FLOPS_CONVENTION
    from workflows.bench.inference import usable_cores

    opts.threads = opts.threads or usable_cores()
    torch.set_num_threads(opts.threads)
    rows = []
    for name in opts.teachers:
        try:
            rows.append(measure_teacher(name, opts))
        except Exception as err:  # e.g. out of memory for ViT-H on a small board
            log.exception("teachers: %s failed", name)
            rows.append({"teacher": name, "title": TEACHER_BUILDERS.get(name, (name,))[0],
                         "error": f"{type(err).__name__}: {err}"[:300]})
    return {
        "setup": {"size": [opts.size, opts.size], "threads": opts.threads, "runtime": "torch eager fp32, batch 1",
                  "weights": "random (speed only)", "max_seconds_per_model": opts.max_seconds,
                  "min_repeats": opts.min_repeats, "flops": FLOPS_CONVENTION},
        "teachers": rows,
    }
