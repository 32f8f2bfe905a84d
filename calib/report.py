"""Human-readable summaries of a calibration (for `calib show` and after `calib camera/ground`)."""

from __future__ import annotations

from typing import List

import numpy as np

from calib.calibration import Calibration
from calib.ground import horizon_row

ROW_FRACTIONS = (("top row", 0.0), ("25% down", 0.25), ("centre", 0.5), ("75% down", 0.75), ("bottom row", 1.0))


def scale_rows(cal: Calibration) -> List[dict]:
    """mm per pixel at the centre column of a few rows: isotropic, across (x) and along (y) the image."""
    w, h = cal.image_size
    x = (w - 1) / 2.0
    out = []
    for name, f in ROW_FRACTIONS:
        y = f * (h - 1)
        j = cal.jacobians(np.array([[x, y]]))[0]
        iso = float(np.sqrt(abs(j[0, 0] * j[1, 1] - j[0, 1] * j[1, 0])))
        out.append({"where": name, "y": y, "mm_per_px": iso, "across_mm_per_px": float(np.linalg.norm(j[:, 0])),
                    "along_mm_per_px": float(np.linalg.norm(j[:, 1]))})
    return out


def _fmt(v: float, spec: str = ".3f") -> str:
    return "   n/a" if v is None or not np.isfinite(v) else format(v, spec)


def describe_intrinsics(cal: Calibration) -> List[str]:
    intr = cal.data.intrinsics
    if intr is None:
        return ["intrinsics: none (no lens model; pixels are used as they are) - run `calib camera` for one"]
    k = np.asarray(intr.camera_matrix)
    sd = intr.std_dev or {}
    pm = lambda key: f" +- {sd[key]:.2f}" if key in sd else ""  # noqa: E731
    lines = [
        f"intrinsics ({intr.method}{', ' + intr.distortion_model if intr.distortion_model else ''}):",
        f"  fx {k[0, 0]:.2f}{pm('fx')}  fy {k[1, 1]:.2f}{pm('fy')}  cx {k[0, 2]:.2f}{pm('cx')}  cy {k[1, 2]:.2f}{pm('cy')} px",
        f"  distortion (k1 k2 p1 p2 k3 ...): {' '.join(f'{v:.5f}' for v in intr.dist_coeffs)}",
    ]
    if intr.rms_px is not None:
        lines.append(f"  RMS reprojection error {intr.rms_px:.3f} px over {intr.images_used} images "
                     f"(aim for < 0.5 px)")
    if intr.per_image_rms_px:
        worst = sorted(intr.per_image_rms_px, key=lambda e: -e.rms_px)[:5]
        lines.append("  worst images: " + ", ".join(f"{e.image} {e.rms_px:.2f} px" for e in worst))
    if intr.coverage is not None:
        lines.append(f"  board coverage of the frame: {100 * intr.coverage:.0f}%")
    for r in intr.rejected:
        lines.append(f"  rejected {r.image}: {r.reason}")
    for w in intr.warnings:
        lines.append(f"  WARNING: {w}")
    return lines


def describe_ground(cal: Calibration) -> List[str]:
    g = cal.data.ground
    if g is None:
        return ["ground: none - run `calib ground` to measure in mm"]
    lines = [f"ground ({g.method}):"]
    if g.pose is not None:
        p = g.pose
        lines.append(f"  camera {p.height_mm:g} mm above the road, pitch {p.pitch_deg:g} deg below the horizon, "
                     f"roll {p.roll_deg:g}, yaw {p.yaw_deg:g}")
    if g.source:
        lines.append(f"  from {g.source}" + (f" ({g.board.cols}x{g.board.rows}, {g.board.square_mm:g} mm)" if g.board else ""))
    if g.fit_rms_mm is not None:
        lines.append(f"  fit error {g.fit_rms_mm:.3f} mm RMS")
    lines.append("  mm per pixel at the centre column (isotropic = sqrt of a pixel's ground area):")
    lines.append("    where          row   isotropic  across(x)  along(y)")
    for r in scale_rows(cal):
        lines.append(f"    {r['where']:<12} {r['y']:6.0f}   {_fmt(r['mm_per_px']):>8}   {_fmt(r['across_mm_per_px']):>8}  "
                     f"{_fmt(r['along_mm_per_px']):>8}")
    w, h = cal.image_size
    corners = cal.pixel_to_ground_mm(np.array([[0, h - 1], [w - 1, h - 1], [0, 0], [w - 1, 0]], dtype=np.float64))
    if np.all(np.isfinite(corners[:2])):
        lines.append(f"  bottom edge of the image spans {np.linalg.norm(corners[1] - corners[0]):.0f} mm of road")
    if np.all(np.isfinite(corners[2:])):
        lines.append(f"  top edge of the image spans {np.linalg.norm(corners[3] - corners[2]):.0f} mm of road")
    else:
        row = horizon_row(cal.homography, (w - 1) / 2.0)
        where = f" (horizon near row {row:.0f} of the undistorted image)" if row is not None else ""
        lines.append("  the top of the image sees no road" + where)
    for warning in g.warnings:
        lines.append(f"  WARNING: {warning}")
    return lines


def describe(cal: Calibration) -> str:
    w, h = cal.image_size
    lines = [f"calibration {cal.source}: {cal.data.format}, image size {w}x{h}"
             + (f", created {cal.data.created}" if cal.data.created else "")]
    lines += describe_intrinsics(cal)
    lines += describe_ground(cal)
    if cal.data.notes:
        lines.append(f"notes: {cal.data.notes}")
    return "\n".join(lines)
