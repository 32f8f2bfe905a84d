"""The acceptance criteria for an exported bundle, checked from its parity records.

- The FP16 IR at the declared inference precision must agree with torch: binarised-mask IoU
  >= `min_mask_iou` (0.99) on the parity images.
- The INT8 IR must lose at most `max_int8_drop` (0.02) crack IoU against ground truth relative
  to the FP32 torch model, at every precision it was measured at (pooled IoU on the parity
  images; needs masks, i.e. a canonical dataset or synthetic images).
- Agreement on empty masks proves nothing: when torch marks no crack pixel on any parity image,
  every mask IoU is 1.0 by definition, so the verdict is UNVERIFIED (a warning; a failure with
  `--strict-parity`) and says how many crack pixels each runtime marked.

`distill export` records the verdict in the bundle's notes (`parity_check`), warns when it
fails, and with `--strict-parity` refuses to write the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from crackedge.runtime.metadata import ParityRecord

TORCH_RUNTIME = "torch:CPU:f32"  # the reference's own record: agreement 1 by definition, IoU vs ground truth
MIN_MASK_IOU = 0.99
MAX_INT8_DROP = 0.02


@dataclass
class ParityVerdict:
    """failures: one sentence per failed criterion (empty = passed); checks: every comparison made."""

    failures: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # why agreement proves nothing (empty masks)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line for the bundle's notes: 'ok', 'UNVERIFIED: ...' or 'FAILED: ...', then every check."""
        if not self.ok:
            head = "FAILED: " + " ".join(self.failures)
        else:
            head = "UNVERIFIED: " + " ".join(self.unverified) if self.unverified else "ok"
        return f"{head} | " + "; ".join(self.checks) if self.checks else head


def _by_runtime(records: Sequence[ParityRecord]) -> dict[str, ParityRecord]:
    return {r.runtime: r for r in records}


def check_parity(records: Sequence[ParityRecord], declared: str, device: str = "CPU",
                 min_mask_iou: float = MIN_MASK_IOU, max_int8_drop: float = MAX_INT8_DROP) -> ParityVerdict:
    """Judge the parity `records` of one export (runtimes named as `distill export` names them)."""
    recs = _by_runtime(records)
    verdict = ParityVerdict()
    ir = recs.get(f"openvino:{device}:{declared}")
    if ir is None:
        verdict.failures.append(f"no parity record for the FP16 IR at the declared precision {declared}.")
    else:
        verdict.checks.append(f"FP16 IR at {declared}: mask IoU vs torch {ir.mask_iou:.4f} (>= {min_mask_iou})")
        if not ir.mask_iou >= min_mask_iou:  # NaN fails too
            verdict.failures.append(
                f"the FP16 IR at {declared} agrees with torch at mask IoU {ir.mask_iou:.4f} < {min_mask_iou} "
                f"on {ir.images} images."
            )
    int8 = [r for name, r in recs.items() if name.startswith(f"openvino-int8:{device}:")]
    if int8:
        _check_int8(int8, recs.get(TORCH_RUNTIME), max_int8_drop, verdict)
    _check_not_empty(recs, verdict)
    return verdict


def _check_not_empty(recs: dict[str, ParityRecord], verdict: ParityVerdict) -> None:
    """Mark the verdict UNVERIFIED when the torch reference marks no crack pixel on any parity image."""
    torch_rec = recs.get(TORCH_RUNTIME)
    if torch_rec is None or torch_rec.crack_pixels is None:
        return
    counts = ", ".join(f"{name} {r.crack_pixels}" for name, r in recs.items() if r.crack_pixels is not None)
    verdict.checks.append(f"crack pixels marked: {counts}")
    if torch_rec.crack_pixels == 0:
        verdict.unverified.append(
            f"torch marks no crack pixel on any of the {torch_rec.images} parity images, so every mask IoU compares "
            "two empty masks and proves nothing; the model may predict no crack at all (check its IoU against "
            "ground truth) or the parity images hold no crack (pass --parity-data with crack images).")


def _check_int8(int8: list[ParityRecord], reference: Optional[ParityRecord], max_drop: float,
                verdict: ParityVerdict) -> None:
    ref_iou = None if reference is None else reference.crack_iou_vs_gt
    if ref_iou is None:
        verdict.checks.append("INT8 vs FP32 crack IoU: not checked (the parity images have no masks)")
        return
    for rec in int8:
        if rec.crack_iou_vs_gt is None:
            continue
        drop = ref_iou - rec.crack_iou_vs_gt
        verdict.checks.append(
            f"{rec.runtime}: crack IoU {rec.crack_iou_vs_gt:.4f} vs FP32 torch {ref_iou:.4f} "
            f"(drop {drop:+.4f}, max {max_drop})"
        )
        if not drop <= max_drop:
            verdict.failures.append(
                f"{rec.runtime} loses {drop:.4f} crack IoU against FP32 ({rec.crack_iou_vs_gt:.4f} vs {ref_iou:.4f}) "
                f"> {max_drop} on {rec.images} images."
            )

