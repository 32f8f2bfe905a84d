"""`crackedge demo`: the main job end to end, on built-in synthetic data or on `--data DIR`.

    data (labeled + unlabeled frames) -> PARNet teacher -> teacher logits cached once (frames too)
      -> HRNet student distilled (hard loss on labeled images, soft loss on every image)
      -> bundle (ONNX opset 11 + FP16 IR, parity-checked) -> teacher and student scored on held-back images
      -> edge daemon on a simulated MJPEG camera (127.0.0.1) -> annotated frames, raw frames and sidecars

Each stage calls the command a user would run (`teacher train`, `distill export`, `edge run`, ...)
and is skipped when its output exists, so an interrupted demo continues where it stopped. Training
is budgeted in steps; `max_minutes` is only a safety net, and a stage it cuts is reported loudly in
the summary.
"""

from __future__ import annotations

import time

from workflows.demo.config import STUDENT_IOU_FLOOR, DemoConfig, DemoResult, StageError
from workflows.demo.edge_stage import stage_edge
from workflows.demo.stages import (
    stage_cache,
    stage_data,
    stage_data_sheet,
    stage_export,
    stage_scores,
    stage_student,
    stage_teacher,
)

__all__ = ["STUDENT_IOU_FLOOR", "DemoConfig", "DemoResult", "StageError", "run_demo"]


def run_demo(cfg: DemoConfig) -> DemoResult:
    """Every stage in order; writes OUT/summary.md and returns the figures."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    res = DemoResult()
    t0 = time.monotonic()
    ds, frames = stage_data(cfg, res)
    stage_data_sheet(ds, cfg, res)
    teacher_ckpt = stage_teacher(cfg, ds.root, res)
    cache = stage_cache(cfg, ds.root, teacher_ckpt, frames, res)
    student_ckpt = stage_student(cfg, ds.root, cache, frames, res)
    bundle = stage_export(cfg, ds.root, student_ckpt, res)
    stage_scores(cfg, ds.root, teacher_ckpt, bundle, res)
    stage_edge(cfg, ds, bundle, res)
    res.figures["minutes"] = (time.monotonic() - t0) / 60
    res.add(f"done in {res.figures['minutes']:.1f} min; everything is in {cfg.out}")
    write_summary(cfg, res)
    return res


def write_summary(cfg: DemoConfig, res: DemoResult) -> None:
    lines = ["# crackedge demo", ""]
    if res.warnings:
        lines += ["**WARNING:**", *[f"- **{w}**" for w in res.warnings], ""]
    lines += [f"- {ln}" for ln in res.lines]
    (cfg.out / "summary.md").write_text("\n".join(lines) + "\n")
