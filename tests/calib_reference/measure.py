"""Crack measurement from a binary mask: length, width, branches, area, in pixels and in mm.

Conventions (see docs/calib.md, "Measurement conventions"):

- Components: 8-connected components of the mask; those smaller than `min_component_px` pixels are
  dropped (counted in `removed_components` / `removed_px`). Totals are over the kept components.
- Skeleton: `calib.skeleton.skeletonize` (one pixel wide), then spurs are pruned: arms from a free
  end to a junction no longer than about 1.5 x the crack's half-width there (`calib.skeleton_prune`;
  thinning grows them at flat ends and edge bumps). Branches: (free ends + arms leaving each
  junction cluster) / 2 of the pruned skeleton; a line is 1 branch, a T or Y is 3, a ring is 1.
- Length: along the skeleton. Each skeleton pixel stands for the step along the local skeleton
  direction, 1 / max(|cos a|, |sin a|): 1 on horizontal/vertical runs, sqrt(2) on diagonal runs,
  the true slope length in between. At each free end the crack continues past the end pixel
  until the mask boundary along the end direction; that stretch is added. `chain_length_px` is
  the plain chain count (1 per straight, sqrt(2) per diagonal link) for reference.
- Width at a skeleton pixel: the distance between the two edges of the mask along the normal to
  the skeleton, each edge being where the bilinearly interpolated 0/1 mask falls through 0.5
  (`calib.width`; the distance transform bounds the search). A bar k pixels wide measures k.
  Junction pixels (3+ neighbours) are left out of the width statistics (the profile there crosses
  where arms merge). Mean width is length-weighted; max width is the maximum of the width
  averaged over the skeleton pixels within 3 px (so one noisy edge pixel does not set it).
  Widths under about 2 px are unreliable: the mask's own edge pixels decide them.
- In mm (with a calibration that has a ground section): every skeleton pixel maps through the
  local Jacobian J of pixel -> ground mm. Length: |J t| per unit of pixel length along the
  direction t. Width: measured perpendicular to the crack on the ground,
  width_px * |det J| / |J t| (the ground area of the pixel strip divided by its ground length).
  Area: sum over mask pixels of the ground area of each pixel. Pixels that see no ground (above
  the horizon) are left out of the mm values and counted in `off_ground_px`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Optional

import cv2
import numpy as np

from calib.calibration import Calibration
from tests.calib_reference.skeleton import skeletonize
from tests.calib_reference.skeleton_samples import SkeletonSamples, pruned_skeleton, sample_skeleton
from crackedge.errors import DataError

__all__ = ["ComponentMeasurement", "CrackMeasurement", "measure_crack", "skeletonize", "measured_skeleton", "as_binary_mask"]

log = logging.getLogger(__name__)

# The crop around the mask keeps this much background on each side.
CROP_PAD_PX = 2


@dataclass
class ComponentMeasurement:
    """One connected crack component. Pixel values always; mm values with a ground calibration."""

    label: int
    area_px: int
    length_px: float
    mean_width_px: float
    max_width_px: float
    branches: int
    bbox_xywh: tuple[int, int, int, int]
    chain_length_px: float = 0.0
    length_mm: Optional[float] = None
    mean_width_mm: Optional[float] = None
    max_width_mm: Optional[float] = None
    area_mm2: Optional[float] = None
    off_ground_px: int = 0


@dataclass
class CrackMeasurement:
    """Totals over the kept components of a mask, plus the per-component list in `parts`."""

    area_px: int
    length_px: float
    mean_width_px: float
    max_width_px: float
    branches: int
    bbox_xywh: tuple[int, int, int, int]
    components: int
    length_mm: Optional[float] = None
    mean_width_mm: Optional[float] = None
    max_width_mm: Optional[float] = None
    area_mm2: Optional[float] = None
    chain_length_px: float = 0.0
    removed_components: int = 0
    removed_px: int = 0
    off_ground_px: int = 0
    parts: list[ComponentMeasurement] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-compatible dict (tuples as lists, parts as a list of dicts)."""
        d = asdict(self)
        d["bbox_xywh"] = list(self.bbox_xywh)
        for part in d["parts"]:
            part["bbox_xywh"] = list(part["bbox_xywh"])
        return d


# ------------------------------------------------------------------------------------- helpers
def as_binary_mask(mask: np.ndarray) -> np.ndarray:
    """HxW (or HxWx1) array -> HxW bool (non-zero = crack); DataError for other shapes."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.ndim != 2 or m.size == 0:
        raise DataError(f"a crack mask must be a non-empty HxW array, got shape {m.shape}")
    return m != 0


def _weighted_mean(values: np.ndarray, weights: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    num = np.bincount(labels, weights=values * weights, minlength=n + 1)
    den = np.bincount(labels, weights=weights, minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _group_max(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n + 1, -np.inf)
    ok = np.isfinite(values)
    np.maximum.at(out, labels[ok], values[ok])
    return np.where(np.isfinite(out), out, np.nan)


def _finite_or_none(v: float) -> Optional[float]:
    return float(v) if v is not None and np.isfinite(v) else None


def _crop(mask: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Bounding box of the mask with CROP_PAD_PX of background around it: (crop, x0, y0).

    Pixel (x, y) of the crop is pixel (x + x0, y + y0) of the mask; x0/y0 may be negative.
    """
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    p = CROP_PAD_PX
    crop = np.zeros((h + 2 * p, w + 2 * p), dtype=bool)
    crop[p:p + h, p:p + w] = mask[y:y + h, x:x + w]
    return crop, x - p, y - p


# ------------------------------------------------------------------------------------- main entry
def measure_crack(mask: np.ndarray, calibration: Optional[Calibration] = None, min_component_px: int = 20,
                  undistorted: bool = False) -> CrackMeasurement:
    """Measure the cracks in a binary mask.

    mask: HxW (non-zero = crack) at the frame's resolution; the frame size given to the calibration
    is (W, H). calibration: with a ground section, mm values are filled in (otherwise they stay None).
    undistorted: the mask comes from a frame already passed through `calibration.undistort()`.
    """
    full = as_binary_mask(mask)
    use_mm = calibration is not None and calibration.has_ground()
    crop, x0, y0 = _crop(full)
    n_all, labels, stats, _ = cv2.connectedComponentsWithStats(crop.view(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep_ids = np.flatnonzero(areas >= max(1, int(min_component_px))) + 1
    n = int(keep_ids.size)
    removed = n_all - 1 - n
    removed_px = int(areas.sum() - areas[keep_ids - 1].sum())
    if n == 0:
        zero = 0.0 if use_mm else None
        return CrackMeasurement(0, 0.0, 0.0, 0.0, 0, (0, 0, 0, 0), 0, zero, zero, zero, zero,
                                removed_components=removed, removed_px=removed_px)
    relabel = np.zeros(n_all, dtype=np.int32)
    relabel[keep_ids] = np.arange(1, n + 1, dtype=np.int32)
    lab = relabel[labels]
    kept = lab > 0
    s = sample_skeleton(kept, lab, n)

    length = np.bincount(s.comp, weights=s.step_px, minlength=n + 1)
    length += np.bincount(s.comp[s.end_index], weights=s.end_ext_px, minlength=n + 1)
    chain = np.bincount(s.comp, weights=s.chain_px, minlength=n + 1)
    mean_w = _weighted_mean(s.width_px, s.step_px * s.in_width, s.comp, n)
    max_w = _group_max(np.where(s.in_width, s.smooth(s.width_px), np.nan), s.comp, n)
    mm = _measure_mm(calibration, s, kept, lab, n, (x0, y0), full.shape, undistorted) if use_mm else None

    parts = []
    for i in range(1, n + 1):
        st = stats[keep_ids[i - 1]]
        part = ComponentMeasurement(
            label=i, area_px=int(st[cv2.CC_STAT_AREA]), length_px=float(length[i]),
            mean_width_px=float(np.nan_to_num(mean_w[i])), max_width_px=float(np.nan_to_num(max_w[i])),
            branches=int(s.branches[i]), bbox_xywh=(int(st[0]) + x0, int(st[1]) + y0, int(st[2]), int(st[3])),
            chain_length_px=float(chain[i]),
        )
        if mm is not None:
            part.length_mm = float(mm["length"][i])
            part.mean_width_mm = _finite_or_none(mm["mean_width"][i])
            part.max_width_mm = _finite_or_none(mm["max_width"][i])
            part.area_mm2 = float(mm["area"][i])
            part.off_ground_px = int(mm["off_ground"][i])
        parts.append(part)
    return _totals(parts, n, removed, removed_px, use_mm)


def measured_skeleton(mask: np.ndarray, min_component_px: int = 20) -> np.ndarray:
    """HxW bool: the skeleton `measure_crack` measures (kept components, spurs pruned), for drawing."""
    full = as_binary_mask(mask)
    crop, x0, y0 = _crop(full)
    n_all, labels, stats, _ = cv2.connectedComponentsWithStats(crop.view(np.uint8), connectivity=8)
    keep = np.zeros(n_all, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= max(1, int(min_component_px))
    flat, idx, width, _ = pruned_skeleton(keep[labels], pad=1)
    yy, xx = np.divmod(idx, width)
    out = np.zeros(full.shape, dtype=bool)
    ys, xs = yy - 1 + y0, xx - 1 + x0
    inside = (ys >= 0) & (ys < full.shape[0]) & (xs >= 0) & (xs < full.shape[1])
    out[ys[inside], xs[inside]] = True
    return out


def _measure_mm(calibration: Calibration, s: SkeletonSamples, kept: np.ndarray, lab: np.ndarray, n: int,
                origin: tuple[int, int], frame_hw: tuple[int, int], undistorted: bool) -> dict:
    """Per-component mm values (arrays indexed by component label); crop pixel + origin = frame pixel."""
    x0, y0 = origin
    frame = (int(frame_hw[1]), int(frame_hw[0]))
    pts = np.stack([s.xs + x0, s.ys + y0], axis=1).astype(np.float64)
    jac = calibration.jacobians(pts, frame, undistorted)  # N x 2 x 2, mm per px
    along = np.linalg.norm(np.einsum("nij,nj->ni", jac, s.t), axis=1)  # mm per px along the crack
    det = np.abs(jac[:, 0, 0] * jac[:, 1, 1] - jac[:, 0, 1] * jac[:, 1, 0])  # mm^2 per px^2
    ok = np.isfinite(along) & np.isfinite(det) & (along > 0)
    along = np.where(ok, along, 0.0)
    length = np.bincount(s.comp, weights=s.step_px * along, minlength=n + 1)
    ext_mm = s.end_ext_px * np.linalg.norm(np.einsum("nij,nj->ni", jac[s.end_index], s.end_dir), axis=1)
    length += np.bincount(s.comp[s.end_index], weights=np.nan_to_num(ext_mm, nan=0.0), minlength=n + 1)
    # Ground width perpendicular to the crack: (ground area of the strip) / (its ground length).
    w_mm = np.where(ok, s.width_px * np.where(ok, det, 0.0) / np.where(ok, along, 1.0), 0.0)
    weight = s.step_px * along * s.in_width
    mean_width = _weighted_mean(w_mm, weight, s.comp, n)
    max_width = _group_max(np.where(s.in_width & ok, s.smooth(w_mm), np.nan), s.comp, n)

    my, mx = np.nonzero(kept)
    area_map = calibration.area_map(frame, undistorted)
    pix_area = area_map[my + y0, mx + x0].astype(np.float64)
    plab = lab[my, mx]
    area = np.bincount(plab, weights=pix_area, minlength=n + 1)
    off = np.bincount(plab, weights=(pix_area <= 0).astype(np.float64), minlength=n + 1)
    if off.sum() > 0:
        log.debug("%d crack pixels see no road surface (above the horizon); left out of the mm values", int(off.sum()))
    return {"length": length, "mean_width": mean_width, "max_width": max_width, "area": area, "off_ground": off}


def _totals(parts: list[ComponentMeasurement], n: int, removed: int, removed_px: int, use_mm: bool) -> CrackMeasurement:
    """Sum / length-weighted mean / max over components."""
    area = sum(p.area_px for p in parts)
    length = sum(p.length_px for p in parts)
    mean_w = sum(p.mean_width_px * p.length_px for p in parts) / length if length > 0 else 0.0
    x0 = min(p.bbox_xywh[0] for p in parts)
    y0 = min(p.bbox_xywh[1] for p in parts)
    x1 = max(p.bbox_xywh[0] + p.bbox_xywh[2] for p in parts)
    y1 = max(p.bbox_xywh[1] + p.bbox_xywh[3] for p in parts)
    out = CrackMeasurement(
        area_px=area, length_px=length, mean_width_px=mean_w, max_width_px=max(p.max_width_px for p in parts),
        branches=sum(p.branches for p in parts), bbox_xywh=(x0, y0, x1 - x0, y1 - y0), components=n,
        chain_length_px=sum(p.chain_length_px for p in parts), removed_components=removed, removed_px=removed_px,
        parts=parts,
    )
    if use_mm:
        out.length_mm = sum(p.length_mm or 0.0 for p in parts)
        weighted = [(p.mean_width_mm, p.length_mm) for p in parts if p.mean_width_mm is not None and p.length_mm]
        total_w = sum(lw for _, lw in weighted)
        out.mean_width_mm = sum(mw * lw for mw, lw in weighted) / total_w if total_w > 0 else None
        maxes = [p.max_width_mm for p in parts if p.max_width_mm is not None]
        out.max_width_mm = max(maxes) if maxes else None
        out.area_mm2 = sum(p.area_mm2 or 0.0 for p in parts)
        out.off_ground_px = sum(p.off_ground_px for p in parts)
    return out
