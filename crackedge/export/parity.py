"""Numeric parity of exported models against the torch model: max abs difference and mask IoU.

All outputs compared are crack probabilities N x 1 x h x w at the student's stride (what the
bundle's model returns); masks are `probability > threshold`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.metadata import ParityRecord


@dataclass
class RuntimeRun:
    """The outputs of one runtime on the parity inputs and its median latency per image."""

    runtime: str
    outputs: list[np.ndarray]
    latency_ms: float
    precision: Optional[str] = None


def run_timed(runtime: str, fn: Callable[[np.ndarray], np.ndarray], inputs: Sequence[np.ndarray],
              precision: Optional[str] = None) -> RuntimeRun:
    """Run `fn` on every input (after one warm-up call); latency = median wall time per call."""
    fn(inputs[0])
    outputs, times = [], []
    for x in inputs:
        t0 = time.perf_counter()
        outputs.append(np.asarray(fn(x), dtype=np.float32))
        times.append(time.perf_counter() - t0)
    return RuntimeRun(runtime, outputs, 1000.0 * float(np.median(times)), precision)


def pooled_iou(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """IoU of two lists of boolean masks pooled over all pixels (1.0 when both are empty)."""
    inter = sum(int(np.logical_and(x, y).sum()) for x, y in zip(a, b))
    union = sum(int(np.logical_or(x, y).sum()) for x, y in zip(a, b))
    return 1.0 if union == 0 else inter / union


def mask_agreement(reference: Sequence[np.ndarray], outputs: Sequence[np.ndarray], threshold: float) -> float:
    """Pooled IoU between the binarised reference and runtime outputs."""
    return pooled_iou([r > threshold for r in reference], [o > threshold for o in outputs])


def max_abs_diff(reference: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> float:
    """Largest |reference - output| over all pixels; NaN when an output is not finite (e.g. f16 overflow)."""
    if not all(np.isfinite(o).all() for o in outputs):
        return float("nan")
    return max(float(np.max(np.abs(r - o))) for r, o in zip(reference, outputs))


def iou_vs_ground_truth(outputs: Sequence[np.ndarray], masks: Sequence[Optional[np.ndarray]],
                        decoder: MaskDecoder) -> Optional[float]:
    """Pooled crack IoU against ground truth, each output decoded to its mask's size exactly as the
    runtime decodes it (crackedge.runtime.decode). None when any mask is missing."""
    if not masks or any(m is None for m in masks):
        return None
    preds = [decoder.mask(out, (gt.shape[1], gt.shape[0])).astype(bool) for out, gt in zip(outputs, masks)]
    return pooled_iou(preds, [m.astype(bool) for m in masks])


def parity_record(run: RuntimeRun, reference: Sequence[np.ndarray], masks: Sequence[Optional[np.ndarray]],
                  decoder: MaskDecoder) -> ParityRecord:
    """Compare `run` with the torch `reference` outputs (and ground truth when every mask is known)."""
    return ParityRecord(
        runtime=run.runtime,
        images=len(run.outputs),
        max_abs_diff=max_abs_diff(reference, run.outputs),
        mask_iou=mask_agreement(reference, run.outputs, decoder.threshold),
        crack_iou_vs_gt=iou_vs_ground_truth(run.outputs, masks, decoder),
        crack_pixels=int(sum(int((o > decoder.threshold).sum()) for o in run.outputs)),
    )


def choose_precision(runs: Sequence[RuntimeRun], records: Sequence[ParityRecord], min_iou: float,
                     preferred: Optional[str] = None) -> str:
    """The precision to declare: `preferred` (the plugin's own default) when it passed, else the fastest
    measured precision with finite outputs and mask agreement >= min_iou, else 'f32'.

    Preferring the plugin default keeps the choice stable from export to export (latencies a few
    percent apart flip on a busy machine) and matches what OpenVINO runs when nobody sets a hint.
    """
    ok = [(run.latency_ms, run.precision) for run, rec in zip(runs, records)
          if run.precision is not None and np.isfinite(rec.max_abs_diff) and rec.mask_iou >= min_iou]
    if preferred is not None and any(p == preferred for _, p in ok):
        return preferred
    return min(ok)[1] if ok else "f32"
