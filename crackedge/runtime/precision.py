"""Which CPU inference precision a bundle runs at on this machine, and why (torch- and OpenVINO-free).

OpenVINO's CPU plugin computes in f32 on a Pi 4 (Cortex-A72, ARMv8.0), defaults to f16 on a Pi 5
(Cortex-A76, ARMv8.2 FP16 arithmetic) and to bf16 on x86 CPUs with AVX512-BF16/AMX. A reduced
precision is faster but changes the masks, so the daemon only runs one the bundle *validated*:
`distill export` measures the FP16 IR against torch at f32, f16 and bf16 and stores one parity record
per precision (`openvino:CPU:<precision>`); a record passes when its outputs are finite and its mask
IoU vs torch reaches the bundle's `parity_min_mask_iou`.

`select_precision` with `precision: auto` (the default) tries the precisions this CPU offers from the
fastest down - the plugin's own default first (OpenVINO picks it because it is the fastest reduced
precision of the CPU), then the other reduced ones, then f32 - and takes the first one whose record
passes. `bundle` keeps the precision declared at export; `f32`/`f16`/`bf16` force one (with a warning
when the bundle did not validate it). The decision carries one sentence saying which and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from crackedge.runtime.metadata import BundleMetadata, ParityRecord

#: every precision the CPU plugin may run, the reference first
PRECISIONS = ("f32", "bf16", "f16")
REDUCED = ("bf16", "f16")


def parity_runtime(precision: str, device: str = "CPU") -> str:
    """The parity record name `distill export` gives the FP16 IR at `precision` (openvino:CPU:f16)."""
    return f"openvino:{device}:{precision}"


def parity_record(meta: BundleMetadata, precision: str, device: str = "CPU") -> Optional[ParityRecord]:
    name = parity_runtime(precision, device)
    return next((r for r in meta.parity if r.runtime == name), None)


def judge(meta: BundleMetadata, precision: str, device: str = "CPU") -> tuple[bool, str]:
    """(validated?, why) for the bundle's FP16 IR at `precision` on `device`."""
    rec = parity_record(meta, precision, device)
    if rec is None:
        return False, f"{precision}: the bundle has no parity record for it (re-export to measure it)"
    how = f" ({rec.measured})" if rec.measured else ""
    if not math.isfinite(rec.max_abs_diff):
        return False, f"{precision}: outputs not finite at export{how}"
    limit = meta.parity_min_mask_iou
    if not rec.mask_iou >= limit:
        return False, f"{precision}: mask IoU vs torch {rec.mask_iou:.4f} < {limit} on {rec.images} images{how}"
    return True, f"{precision}: mask IoU vs torch {rec.mask_iou:.4f} >= {limit} on {rec.images} images{how}"


@dataclass
class PrecisionDecision:
    """precision: the INFERENCE_PRECISION_HINT to set (None: the device decides, e.g. MYRIAD = f16).
    reason: one sentence for the start-up log, check-config, run.json and /metrics.json.
    validated: False when the precision runs without a passing parity record (forced, or nothing passed)."""

    precision: Optional[str]
    reason: str
    validated: bool = True
    notes: list[str] = field(default_factory=list)  # one line per precision considered


def speed_order(offered: Sequence[str], default: Optional[str]) -> list[str]:
    """The precisions this CPU offers, fastest first: the plugin's default (when reduced), the other
    reduced ones, then f32 (always offered)."""
    order = [default] if default in REDUCED and default in offered else []
    order += [p for p in REDUCED if p in offered and p not in order]
    return order + ["f32"]


def select_precision(meta: BundleMetadata, requested: str, device: str, offered: Sequence[str],
                     default: Optional[str]) -> PrecisionDecision:
    """The CPU inference precision to run `meta`'s bundle at.

    requested: auto | bundle | f32 | f16 | bf16 (RuntimeOptions.precision). offered: what the device
    supports here (f32 always); default: the plugin's own default (None when it reports none).
    """
    if device != "CPU":
        precision = meta.inference_precision if requested in ("auto", "bundle") else requested
        why = "MYRIAD computes in FP16" if device == "MYRIAD" else f"{device} chooses its own precision"
        return PrecisionDecision(precision, f"precision set by the device ({why})")
    offered_text = ", ".join(speed_order(offered, default))
    if requested in PRECISIONS or requested == "bundle":
        precision = meta.inference_precision if requested == "bundle" else requested
        ok, why = judge(meta, precision)
        source = "the bundle's declared inference_precision (model.precision: bundle)" if requested == "bundle" \
            else "model.precision in the config"
        reason = f"{precision}, {source}; " + (f"validated at export: {why}" if ok else f"NOT validated: {why}")
        if precision not in offered:
            reason += f"; this CPU offers only {offered_text}, OpenVINO will fall back"
        return PrecisionDecision(precision, reason, ok)
    if requested != "auto":
        raise ValueError(f"unknown precision {requested!r}; choose auto, bundle, f32, f16 or bf16")
    notes = []
    for precision in speed_order(offered, default):
        ok, why = judge(meta, precision)
        notes.append(why)
        if ok:
            skipped = "; ".join(notes[:-1])
            rank = "the fastest precision this CPU offers" if len(notes) == 1 else "the fastest remaining"
            reason = (f"{precision}: {rank} ({offered_text}, fastest first) that the bundle validated: {why}"
                      + (f" (skipped {skipped})" if skipped else ""))
            return PrecisionDecision(precision, reason, True, notes)
    return PrecisionDecision(
        "f32", f"f32: no precision this CPU offers ({offered_text}) passed the bundle's parity records "
        f"({'; '.join(notes)}); running the reference precision unvalidated", False, notes)
