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
- Too large: when the kept crack pixels cover more than `max_area_fraction` of the mask (default
  MAX_AREA_FRACTION = 0.25), the mask is not a set of cracks (a failing model, a lens covered in
  mud) and a length along a skeleton means nothing: only area, bounding box and component counts
  are reported, with `too_large` set and length, widths, branches None and no `parts`. This also
  bounds the time a broken frame costs. `max_area_fraction=None` measures every mask.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any, Optional

import cv2
import numpy as np

from calib.calibration import Calibration
from calib.skeleton import skeletonize
from calib.skeleton_samples import SkeletonSamples, pruned_skeleton, sample_skeleton
from crackedge.errors import DataError

__all__ = ["ComponentMeasurement", "CrackMeasurement", "measure_crack", "skeletonize", "measured_skeleton", "as_binary_mask"]

log = logging.getLogger(__name__)

# The crop around the mask keeps this much background on each side.
CROP_PAD_PX = 2
# Kept crack pixels above this share of the mask: `too_large`, area only (module docstring).
MAX_AREA_FRACTION = 0.25
# Up to this many dropped specks are cleared one by one in their bounding boxes (cheaper than a
# pass over the whole label image).
SPECK_LOOP_MAX = 200


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

    def to_dict(self) -> dict:
        """Plain JSON-compatible dict (bbox as a list)."""
        d = dict(self.__dict__)  # the fields, in order (no deep copy: all values are immutable)
        d["bbox_xywh"] = list(self.bbox_xywh)
        return d


@dataclass
class CrackMeasurement:
    """Totals over the kept components of a mask, plus the per-component list in `parts`.

    With `too_large` (see the module docstring) length, widths, branches and chain length are None
    and `parts` is empty.
    """

    area_px: int
    length_px: Optional[float]
    mean_width_px: Optional[float]
    max_width_px: Optional[float]
    branches: Optional[int]
    bbox_xywh: tuple[int, int, int, int]
    components: int
    length_mm: Optional[float] = None
    mean_width_mm: Optional[float] = None
    max_width_mm: Optional[float] = None
    area_mm2: Optional[float] = None
    chain_length_px: Optional[float] = 0.0
    removed_components: int = 0
    removed_px: int = 0
    off_ground_px: int = 0
    parts: list[ComponentMeasurement] = field(default_factory=list)
    too_large: bool = False

    def to_dict(self) -> dict:
        """Plain JSON-compatible dict (tuples as lists, parts as a list of dicts).

        Every value is a Python scalar, None, list or dict already (no deep copy needed: a
        hand-written dict is ~20x cheaper than dataclasses.asdict with hundreds of parts).
        """
        d: dict[str, Any] = {name: getattr(self, name) for name in _CRACK_FIELDS}
        d["bbox_xywh"] = list(self.bbox_xywh)
        d["parts"] = [part.to_dict() for part in self.parts]
        return d


_CRACK_FIELDS = tuple(f.name for f in fields(CrackMeasurement))


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


def _nan_to_zero(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), 0.0, values)


def _finite_list(values: np.ndarray) -> list[Optional[float]]:
    """Python floats, None where not finite."""
    return [v if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).tolist()]


def _components(binary: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components of a HxW bool image: (count incl. background, labels, stats).

    16-bit labels: cv2.connectedComponentsWithStats is 2-4x faster with them than with 32-bit ones.
    """
    u8 = binary.view(np.uint8)
    try:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(u8, connectivity=8, ltype=cv2.CV_16U)
    except cv2.error:  # more than 65534 components: 16-bit labels overflow (OpenCV checks)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(u8, connectivity=8, ltype=cv2.CV_32S)
    return n, labels, stats


def _crop(mask: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Bounding box of the mask with CROP_PAD_PX of background around it: (crop, x0, y0).

    Pixel (x, y) of the crop is pixel (x + x0, y + y0) of the mask; x0/y0 may be negative.
    """
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    p = CROP_PAD_PX
    crop = np.zeros((h + 2 * p, w + 2 * p), dtype=bool)
    crop[p:p + h, p:p + w] = mask[y:y + h, x:x + w]
    return crop, x - p, y - p


def _drop_small(crop: np.ndarray, labels: np.ndarray, stats: np.ndarray, keep_ids: np.ndarray) -> np.ndarray:
    """The crop without the components not in keep_ids (in place: the crop is measure_crack's own copy).

    A few specks are cleared inside their bounding boxes; many (a noisy mask) through a label table.
    """
    drop = np.ones(stats.shape[0], dtype=bool)
    drop[0] = False
    drop[keep_ids] = False
    drop_ids = np.flatnonzero(drop)
    if drop_ids.size > SPECK_LOOP_MAX:
        return np.take(~drop, labels) & crop
    for i in drop_ids.tolist():
        x, y, w, h = stats[i, :4].tolist()
        box = crop[y:y + h, x:x + w]
        box[labels[y:y + h, x:x + w] == i] = False
    return crop


# ------------------------------------------------------------------------------------- main entry
def measure_crack(mask: np.ndarray, calibration: Optional[Calibration] = None, min_component_px: int = 20,
                  undistorted: bool = False, max_area_fraction: Optional[float] = MAX_AREA_FRACTION) -> CrackMeasurement:
    """Measure the cracks in a binary mask.

    mask: HxW (non-zero = crack) at the frame's resolution; the frame size given to the calibration
    is (W, H). calibration: with a ground section, mm values are filled in (otherwise they stay None).
    undistorted: the mask comes from a frame already passed through `calibration.undistort()`.
    max_area_fraction: kept crack pixels above this share of the mask give a `too_large`
    measurement (area only, see the module docstring); None: no limit.
    """
    full = as_binary_mask(mask)
    use_mm = calibration is not None and calibration.has_ground()
    crop, x0, y0 = _crop(full)
    n_all, labels, stats = _components(crop)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep_ids = np.flatnonzero(areas >= max(1, int(min_component_px))) + 1
    n = int(keep_ids.size)
    removed = n_all - 1 - n
    kept_px = int(areas[keep_ids - 1].sum())
    removed_px = int(areas.sum()) - kept_px
    if n == 0:
        zero = 0.0 if use_mm else None
        return CrackMeasurement(0, 0.0, 0.0, 0.0, 0, (0, 0, 0, 0), 0, zero, zero, zero, zero,
                                removed_components=removed, removed_px=removed_px)
    relabel = np.zeros(n_all, dtype=np.int32)
    relabel[keep_ids] = np.arange(1, n + 1, dtype=np.int32)
    kept = _drop_small(crop, labels, stats, keep_ids)
    bbox = stats[keep_ids, :4].astype(np.int64) + np.array([x0, y0, 0, 0])
    area_px = stats[keep_ids, cv2.CC_STAT_AREA].astype(np.int64)
    if max_area_fraction is not None and kept_px > max_area_fraction * full.size:
        log.debug("crack mask covers %.0f %% of the frame: too large to measure along a skeleton",
                  100.0 * kept_px / full.size)
        mm = _total_area_mm(calibration, kept, (x0, y0), full.shape, undistorted) if use_mm else None
        return _too_large(area_px, bbox, n, removed, removed_px, mm)
    s = sample_skeleton(kept, labels, n, label_map=relabel, stats=stats)

    length = np.bincount(s.comp, weights=s.step_px, minlength=n + 1)
    length += np.bincount(s.comp[s.end_index], weights=s.end_ext_px, minlength=n + 1)
    chain = np.bincount(s.comp, weights=s.chain_px, minlength=n + 1)
    mean_w = _weighted_mean(s.width_px, s.step_px * s.in_width, s.comp, n)
    max_w = _group_max(np.where(s.in_width, s.smooth(s.width_px), np.nan), s.comp, n)
    mm = None
    if use_mm:
        mm = _measure_mm(calibration, s, n, (x0, y0), full.shape, undistorted)
        mm.update(_measure_area_mm(calibration, kept, labels, relabel, n, (x0, y0), full.shape, undistorted))

    columns = [range(1, n + 1), area_px.tolist(), length[1:].tolist(), _nan_to_zero(mean_w[1:]).tolist(),
               _nan_to_zero(max_w[1:]).tolist(), s.branches[1:].tolist(), map(tuple, bbox.tolist()), chain[1:].tolist()]
    if mm is not None:
        columns += [mm["length"][1:].tolist(), _finite_list(mm["mean_width"][1:]), _finite_list(mm["max_width"][1:]),
                    mm["area"][1:].tolist(), mm["off_ground"][1:].astype(np.int64).tolist()]
    parts = [ComponentMeasurement(*row) for row in zip(*columns)]
    return _totals(parts, n, removed, removed_px, use_mm)


def _too_large(area_px: np.ndarray, bbox: np.ndarray, n: int, removed: int, removed_px: int,
               mm: Optional[dict]) -> CrackMeasurement:
    """Area-only measurement of a mask above max_area_fraction (no skeleton, no parts)."""
    x0, y0 = bbox[:, 0].min(), bbox[:, 1].min()
    x1, y1 = (bbox[:, 0] + bbox[:, 2]).max(), (bbox[:, 1] + bbox[:, 3]).max()
    out = CrackMeasurement(
        area_px=int(area_px.sum()), length_px=None, mean_width_px=None, max_width_px=None, branches=None,
        bbox_xywh=(int(x0), int(y0), int(x1 - x0), int(y1 - y0)), components=n, chain_length_px=None,
        removed_components=removed, removed_px=removed_px, too_large=True,
    )
    if mm is not None:
        out.area_mm2, out.off_ground_px = mm
    return out


def measured_skeleton(mask: np.ndarray, min_component_px: int = 20) -> np.ndarray:
    """HxW bool: the skeleton `measure_crack` measures (kept components, spurs pruned), for drawing."""
    full = as_binary_mask(mask)
    crop, x0, y0 = _crop(full)
    n_all, labels, stats = _components(crop)
    keep = np.zeros(n_all, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= max(1, int(min_component_px))
    flat, idx, width, _ = pruned_skeleton(keep[labels], pad=1)
    yy, xx = np.divmod(idx, width)
    out = np.zeros(full.shape, dtype=bool)
    ys, xs = yy - 1 + y0, xx - 1 + x0
    inside = (ys >= 0) & (ys < full.shape[0]) & (xs >= 0) & (xs < full.shape[1])
    out[ys[inside], xs[inside]] = True
    return out


def _measure_mm(calibration: Calibration, s: SkeletonSamples, n: int, origin: tuple[int, int],
                frame_hw: tuple[int, int], undistorted: bool) -> dict:
    """Per-component mm length and widths (arrays indexed by component label); crop pixel + origin = frame pixel."""
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
    return {"length": length, "mean_width": mean_width, "max_width": max_width}


def _measure_area_mm(calibration: Calibration, kept: np.ndarray, labels: np.ndarray, relabel: np.ndarray, n: int,
                     origin: tuple[int, int], frame_hw: tuple[int, int], undistorted: bool) -> dict:
    """Per-component ground area (mm^2) and pixels that see no ground, indexed by component label."""
    x0, y0 = origin
    frame = (int(frame_hw[1]), int(frame_hw[0]))
    points = cv2.findNonZero(kept.view(np.uint8)).reshape(-1, 2)  # (x, y) of the kept crack pixels
    mx, my = points[:, 0], points[:, 1]
    area_map = calibration.area_map(frame, undistorted)
    pix_area = area_map[my + y0, mx + x0].astype(np.float64)
    plab = relabel[labels[my, mx]]
    area = np.bincount(plab, weights=pix_area, minlength=n + 1)
    off = np.bincount(plab, weights=(pix_area <= 0).astype(np.float64), minlength=n + 1)
    if off.sum() > 0:
        log.debug("%d crack pixels see no road surface (above the horizon); left out of the mm values", int(off.sum()))
    return {"area": area, "off_ground": off}


def _total_area_mm(calibration: Calibration, kept: np.ndarray, origin: tuple[int, int], frame_hw: tuple[int, int],
                   undistorted: bool) -> tuple[float, int]:
    """(ground area in mm^2, pixels that see no ground) of all kept pixels, in whole-image OpenCV passes."""
    x0, y0 = origin
    fh, fw = int(frame_hw[0]), int(frame_hw[1])
    area_map = calibration.area_map((fw, fh), undistorted)
    # the part of the crop inside the frame (every crack pixel is)
    cx0, cy0 = max(0, -x0), max(0, -y0)
    cx1, cy1 = min(kept.shape[1], fw - x0), min(kept.shape[0], fh - y0)
    inside = np.ascontiguousarray(kept[cy0:cy1, cx0:cx1]).view(np.uint8)
    area = area_map[cy0 + y0:cy1 + y0, cx0 + x0:cx1 + x0]
    n = cv2.countNonZero(inside)
    total = cv2.mean(area, mask=inside)[0] * n if n else 0.0
    off = cv2.countNonZero(cv2.bitwise_and(inside, (area <= 0).view(np.uint8)))
    if off:
        log.debug("%d crack pixels see no road surface (above the horizon); left out of the mm values", off)
    return float(total), int(off)


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
