"""Crack measurement from a binary mask: length, width, branches, area, in pixels and in mm.

Conventions (see docs/calib.md, "Measurement conventions"):

- Components: 8-connected components of the mask; those smaller than `min_component_px` pixels are
  dropped (counted in `removed_components` / `removed_px`). Totals are over the kept components.
- Skeleton: `calib.skeleton.skeletonize`, one pixel wide.
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

import functools
import logging
from dataclasses import asdict, dataclass, field
from typing import Optional

import cv2
import numpy as np

from calib.calibration import Calibration
from calib.skeleton import NEIGHBOUR_OFFSETS, flat_offsets, neighbour_codes, skeletonize
from calib.skeleton_graph import (
    WINDOW_RADIUS,
    chain_links,
    degrees,
    junction_arms,
    junction_clusters,
    step_lengths,
    tangents,
)
from calib.width import profile_widths, smooth_on_skeleton
from crackedge.errors import DataError

log = logging.getLogger(__name__)

# End extension: march along the end direction in steps of this size (px).
END_STEP_PX = 0.1


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


def _end_directions(flat: np.ndarray, idx: np.ndarray, width: int, t: np.ndarray) -> np.ndarray:
    """For end pixels (one neighbour), the unit direction pointing away from that neighbour."""
    codes = neighbour_codes(flat, idx, flat_offsets(width))
    bit = np.zeros(idx.shape, dtype=np.int64)
    for k in range(8):
        bit[(codes >> k) & 1 == 1] = k
    off = np.array(NEIGHBOUR_OFFSETS, dtype=np.float64)[bit]  # (dy, dx) towards the neighbour
    away = -off[:, ::-1]  # (dx, dy) away from it
    sign = np.where(np.sum(away * t, axis=1) >= 0, 1.0, -1.0)
    return t * sign[:, None]


def end_extensions(kept: np.ndarray, xs: np.ndarray, ys: np.ndarray, d: np.ndarray, max_px: np.ndarray) -> np.ndarray:
    """Length (px) the mask continues past end pixels (xs, ys) along unit directions d (Nx2).

    Marches in END_STEP_PX steps to the first background pixel (or the image edge); returns the
    distance to that crossing minus the half pixel the end pixel itself already counts.
    """
    if xs.size == 0:
        return np.zeros(0)
    h, w = kept.shape
    steps = np.arange(1, int(np.ceil(max_px.max() / END_STEP_PX)) + 2) * END_STEP_PX
    px = np.floor(xs[:, None] + d[:, 0:1] * steps[None, :] + 0.5).astype(np.int64)
    py = np.floor(ys[:, None] + d[:, 1:2] * steps[None, :] + 0.5).astype(np.int64)
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    fg = np.zeros(px.shape, dtype=bool)
    fg[inside] = kept[py[inside], px[inside]]
    fg &= steps[None, :] <= max_px[:, None]
    first_out = np.argmin(fg, axis=1)  # index of the first False
    all_in = fg.all(axis=1)
    crossing = np.where(all_in, max_px, steps[first_out] - END_STEP_PX / 2.0)
    return np.maximum(crossing - 0.5, 0.0)


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


def _branches(flat, idx, deg, comp, n, shape, width) -> np.ndarray:
    """Branches per component: (end points + arms of junction clusters) / 2; a bare loop is 1."""
    ends = np.bincount(comp, weights=(deg == 1) + 2.0 * (deg == 0), minlength=n + 1)
    jlab, n_clusters = junction_clusters(flat, idx, deg, shape)
    arms = junction_arms(flat, idx, deg, jlab, n_clusters, width)
    cluster_comp = np.zeros(n_clusters + 1, dtype=np.int64)
    jpix = idx[deg >= 3]
    cluster_comp[jlab[jpix]] = comp[deg >= 3]
    arm_sum = np.bincount(cluster_comp[1:], weights=arms[1:], minlength=n + 1) if n_clusters else np.zeros(n + 1)
    total = np.ceil((ends + arm_sum) / 2.0).astype(np.int64)
    has_skeleton = np.bincount(comp, minlength=n + 1) > 0
    return np.where((total == 0) & has_skeleton, 1, total)


def _nan_none(v: float) -> Optional[float]:
    return None if v is None or not np.isfinite(v) else float(v)


# ------------------------------------------------------------------------------------- main entry
def measure_crack(mask: np.ndarray, calibration: Optional[Calibration] = None, min_component_px: int = 20,
                  undistorted: bool = False) -> CrackMeasurement:
    """Measure the cracks in a binary mask.

    mask: HxW (non-zero = crack) at the frame's resolution; the frame size given to the calibration
    is (W, H). calibration: with a ground section, mm values are filled in (otherwise they are None).
    undistorted: the mask comes from a frame already passed through `calibration.undistort()`.
    """
    kept_in = as_binary_mask(mask)
    h, w = kept_in.shape
    n_all, labels, stats, _ = cv2.connectedComponentsWithStats(kept_in.view(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep_ids = np.flatnonzero(areas >= max(1, int(min_component_px))) + 1
    n = int(keep_ids.size)
    relabel = np.zeros(n_all, dtype=np.int32)
    relabel[keep_ids] = np.arange(1, n + 1, dtype=np.int32)
    lab = relabel[labels]
    kept = lab > 0
    removed = n_all - 1 - n
    removed_px = int(areas.sum()) - int(areas[keep_ids - 1].sum()) if n_all > 1 else 0
    use_mm = calibration is not None and calibration.has_ground()
    if n == 0:
        zero_mm = 0.0 if use_mm else None
        return CrackMeasurement(0, 0.0, 0.0, 0.0, 0, (0, 0, 0, 0), 0, zero_mm, zero_mm, zero_mm, zero_mm,
                                removed_components=removed, removed_px=removed_px)

    # Skeleton in a padded flat image (the direction window needs WINDOW_RADIUS pixels of border).
    r = WINDOW_RADIUS
    skel = skeletonize(kept)
    width = w + 2 * r
    flat = np.zeros((h + 2 * r, width), dtype=np.uint8)
    flat[r:-r, r:-r] = skel
    flat = flat.ravel()
    idx = np.flatnonzero(flat)
    yy, xx = np.divmod(idx, width)
    ys, xs = yy - r, xx - r
    comp = lab[ys, xs].astype(np.int64)
    deg = degrees(flat, idx, width)
    t = tangents(flat, idx, width)
    ell = step_lengths(t)

    dt = cv2.distanceTransform(kept.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    wpx = profile_widths(kept, dt, xs, ys, t)
    plain = deg < 3
    has_plain = np.bincount(comp, weights=plain.astype(np.float64), minlength=n + 1) > 0
    in_width = np.where(has_plain[comp], plain, True)  # components made only of junction pixels use all
    wweight = ell * in_width
    smooth = functools.partial(smooth_on_skeleton, valid=in_width, flat_idx=idx, shape=(h + 2 * r, width), radius=r)

    # Free ends: one neighbour (away from it) or none (both ways along t).
    e1 = np.flatnonzero(deg == 1)
    e0 = np.flatnonzero(deg == 0)
    end_pix = np.concatenate([e1, e0, e0])
    end_dir = np.concatenate([
        _end_directions(flat, idx[e1], width, t[e1]),
        t[e0],
        -t[e0],
    ])
    max_px = 2.0 * dt[ys[end_pix], xs[end_pix]] + 2.0
    ext = end_extensions(kept, xs[end_pix], ys[end_pix], end_dir, max_px)

    length_px = np.bincount(comp, weights=ell, minlength=n + 1) + np.bincount(comp[end_pix], weights=ext, minlength=n + 1)
    chain_px = np.bincount(comp, weights=chain_links(flat, idx, width), minlength=n + 1)
    mean_w = _weighted_mean(wpx, wweight, comp, n)
    max_w = _group_max(np.where(in_width, smooth(wpx), np.nan), comp, n)
    branches = _branches(flat, idx, deg, comp, n, (h + 2 * r, width), width)
    comp_area = stats[keep_ids, cv2.CC_STAT_AREA]

    mm = None
    if use_mm:
        mm = _measure_mm(calibration, kept, lab, n, xs, ys, comp, t, ell, wpx, in_width, smooth, end_pix, end_dir, ext,
                         undistorted)

    parts = []
    for i in range(1, n + 1):
        sid = keep_ids[i - 1]
        bbox = tuple(int(v) for v in stats[sid, :4])
        part = ComponentMeasurement(
            label=i, area_px=int(comp_area[i - 1]), length_px=float(length_px[i]),
            mean_width_px=float(np.nan_to_num(mean_w[i])), max_width_px=float(np.nan_to_num(max_w[i])),
            branches=int(branches[i]), bbox_xywh=bbox, chain_length_px=float(chain_px[i]),
        )
        if mm is not None:
            part.length_mm = float(mm["length"][i])
            part.mean_width_mm = _nan_none(mm["mean_width"][i])
            part.max_width_mm = _nan_none(mm["max_width"][i])
            part.area_mm2 = float(mm["area"][i])
            part.off_ground_px = int(mm["off_ground"][i])
        parts.append(part)
    return _totals(parts, n, removed, removed_px, use_mm)


def _measure_mm(calibration: Calibration, kept, lab, n, xs, ys, comp, t, ell, wpx, in_width, smooth, end_pix, end_dir,
                ext, undistorted: bool) -> dict:
    """Per-component mm values (arrays indexed by component label)."""
    h, w = kept.shape
    frame = (w, h)
    jac = calibration.jacobians(np.stack([xs, ys], axis=1).astype(np.float64), frame, undistorted)  # N x 2 x 2
    jt = np.einsum("nij,nj->ni", jac, t)
    along = np.linalg.norm(jt, axis=1)  # mm per px along the crack
    det = np.abs(jac[:, 0, 0] * jac[:, 1, 1] - jac[:, 0, 1] * jac[:, 1, 0])
    ok = np.isfinite(along) & np.isfinite(det) & (along > 0)
    seg_mm = np.where(ok, ell * along, 0.0)
    je = np.einsum("nij,nj->ni", jac[end_pix], end_dir)
    ext_mm = np.nan_to_num(ext * np.linalg.norm(je, axis=1), nan=0.0)
    length = np.bincount(comp, weights=seg_mm, minlength=n + 1) + np.bincount(comp[end_pix], weights=ext_mm, minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w_mm = np.where(ok, wpx * det / np.where(ok, along, 1.0), np.nan)
    weight_mm = np.where(ok & in_width, ell * along, 0.0)
    mean_width = _weighted_mean(np.nan_to_num(w_mm), weight_mm, comp, n)
    max_width = _group_max(np.where(weight_mm > 0, smooth(np.nan_to_num(w_mm)), np.nan), comp, n)

    area_map = calibration.area_map(frame, undistorted)
    my, mx = np.nonzero(kept)
    pix_area = area_map[my, mx].astype(np.float64)
    plab = lab[my, mx]
    area = np.bincount(plab, weights=pix_area, minlength=n + 1)
    off = np.bincount(plab, weights=(pix_area <= 0).astype(np.float64), minlength=n + 1)
    if off.sum() > 0:
        log.warning("%d crack pixels see no road surface (above the horizon); left out of the mm values", int(off.sum()))
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
