"""Reading grey masks as crack/background, and a survey of the values the masks of a dataset hold.

Binary masks (0/255 PNG, 0/1 PNG, JPEG-compressed 0/255) are read with a threshold: crack = value
> 127. Some published sets hold more classes in one mask (a UAV bridge-deck set: 0 background,
204 planking, 255 crack); the threshold then turns the extra class into crack. `MaskValueSurvey`
finds such values and reports them with their pixel shares; `MaskRule(crack_values=(255,))` reads
only the named values as crack.

What counts as a class value, not JPEG noise or anti-aliasing:

- the background level: the most common value over all masks;
- the crack level: the value present that is farthest from the background level;
- an extra class: any other value holding >= 0.5 % of the pixels of one lossless mask (PNG, BMP,
  TIFF) or of all JPEG masks together, or >= 5 % of one JPEG mask. Only pixels that are not a
  transition count here: a pixel with both a darker and a brighter 4-neighbour is the edge between
  two other values (anti-aliasing, a 0 -> 53 -> 255 ramp), not a class of its own.

In JPEG masks the values within 8 grey levels of a class value belong to it (compression ringing:
CRACK500's masks stay within 8 of 0 and 255; a JPEG crack edge can put up to ~0.8 % of a small mask
on a single grey value, hence the 5 % bar for one JPEG mask).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crackedge.errors import DataError

LOSSY_SUFFIXES = (".jpg", ".jpeg")
NOISE_TOLERANCE = 8  # JPEG: grey levels around a class value that belong to it
MIN_SHARE = 0.005  # share of a lossless mask (or of all JPEG masks) that makes a value a class
MIN_SHARE_ONE_JPEG = 0.05  # share of one JPEG mask that makes a value a class
MAX_LISTED = 20  # masks named on screen; dataset.yaml lists all


def is_lossy(path: Path) -> bool:
    """True for JPEG masks, whose values are blurred by compression."""
    return Path(path).suffix.lower() in LOSSY_SUFFIXES


def parse_crack_values(text: str) -> tuple[int, ...]:
    """'255' or '204,255' -> (204, 255); DataError for anything but integers 0-255."""
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise DataError(f"--crack-values must be comma-separated integers 0-255 like 255 or 204,255, got {text!r}") from None
    if not values or any(not 0 <= v <= 255 for v in values):
        raise DataError(f"--crack-values must be comma-separated integers 0-255 like 255 or 204,255, got {text!r}")
    return values


@dataclass(frozen=True)
class MaskRule:
    """How a grey mask becomes {0, 1}: `crack_values` when given, else value > `threshold`."""

    threshold: int = 127
    crack_values: tuple[int, ...] = ()

    def describe(self) -> str:
        if self.crack_values:
            return f"crack values {', '.join(map(str, self.crack_values))}"
        return f"threshold {self.threshold} (crack = value > {self.threshold})"

    def binarize(self, gray: np.ndarray, lossy: bool) -> tuple[np.ndarray, str]:
        """HxW uint8 grey -> (HxW uint8 {0,1}, a short note on how it was read)."""
        values = np.unique(gray)
        if self.crack_values:
            if lossy:
                return _nearest_level_crack(gray, self.crack_values), f"JPEG mask, crack = nearest level in {list(self.crack_values)}"
            lut = np.isin(np.arange(256), self.crack_values).astype(np.uint8)
            return lut[gray], f"mask read with crack values {list(self.crack_values)}"
        if lossy:
            note = f"JPEG mask thresholded at {self.threshold}"
        elif set(values.tolist()) <= {0, 1}:
            return gray.astype(np.uint8), "0/1 mask"
        elif set(values.tolist()) <= {0, 255}:
            note = "0/255 mask"
        else:
            note = f"grey mask with {len(values)} levels thresholded at {self.threshold}"
        return (gray > self.threshold).astype(np.uint8), note


def _nearest_level_crack(gray: np.ndarray, crack_values: tuple[int, ...]) -> np.ndarray:
    """JPEG mask: each pixel joins the nearest class level (0, 255, the crack values and any value
    holding >= 0.5 % of this mask); crack where that level is a crack value."""
    hist = np.bincount(gray.ravel(), minlength=256)
    levels = set(crack_values) | {0, 255}
    for v in np.argsort(hist)[::-1]:
        if hist[v] < MIN_SHARE * gray.size:
            break
        if all(abs(int(v) - lv) > NOISE_TOLERANCE for lv in levels):
            levels.add(int(v))
    lv = np.array(sorted(levels))
    nearest = lv[np.abs(np.arange(256)[:, None] - lv[None, :]).argmin(axis=1)]
    return np.isin(nearest, crack_values).astype(np.uint8)[gray]


def _plateau_hist(gray: np.ndarray) -> np.ndarray:
    """Pixels per value that are not a transition (no darker and brighter 4-neighbour at once)."""
    g = gray.astype(np.int16)
    p = np.pad(g, 1, mode="edge")
    darker = np.zeros(g.shape, bool)
    brighter = np.zeros(g.shape, bool)
    for n in (p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]):
        darker |= n < g
        brighter |= n > g
    return np.bincount(gray[~(darker & brighter)].ravel(), minlength=256)


@dataclass
class _MaskHist:
    source: str
    values: np.ndarray  # grey values present
    counts: np.ndarray  # pixels per value
    plateau: np.ndarray  # of those, pixels that are not a transition between two other values
    crack: np.ndarray  # of those, pixels read as crack
    lossy: bool


class MaskValueSurvey:
    """Collects, per mask, how many pixels hold each grey value and how many were read as crack."""

    def __init__(self) -> None:
        self._masks: list[_MaskHist] = []

    def __len__(self) -> int:
        return len(self._masks)

    def add(self, source: str, gray: np.ndarray, mask01: np.ndarray, lossy: bool) -> None:
        hist = np.bincount(gray.ravel(), minlength=256)
        crack = np.bincount(gray[mask01 > 0].ravel(), minlength=256)
        nz = np.nonzero(hist)[0]
        self._masks.append(_MaskHist(source, nz, hist[nz], _plateau_hist(gray)[nz], crack[nz], lossy))

    def report(self, rule: MaskRule) -> dict[str, Any] | None:
        """The value table, the masks holding more than two classes, and warnings (yaml-ready).

        DataError when crack values are given and none of them occurs in any mask.
        """
        if not self._masks:
            return None
        total = np.zeros(256, np.int64)
        crack = np.zeros(256, np.int64)
        lossy_plateau = np.zeros(256, np.int64)
        for m in self._masks:
            total[m.values] += m.counts
            crack[m.values] += m.crack
            if m.lossy:
                lossy_plateau[m.values] += m.plateau
        any_lossy = any(m.lossy for m in self._masks)
        tol = NOISE_TOLERANCE if any_lossy else 0
        present = np.nonzero(total)[0]
        bg = int(total.argmax())
        crack_level = int(present[np.abs(present - bg).argmax()]) if len(present) > 1 else None
        main_levels = [bg] + ([crack_level] if crack_level is not None else [])
        extras = _extra_levels(self._masks, total, lossy_plateau, main_levels, tol)
        levels = main_levels + extras
        level_of = _assign_levels(present, levels, tol)  # grey value -> level (or absent: other)

        n_px = int(total.sum())
        rows, holding = [], {lv: 0 for lv in levels}
        multi: list[str] = []
        for m in self._masks:
            n = int(m.counts.sum())
            per_level: dict[int, int] = {}
            for v, c in zip(m.values.tolist(), m.counts.tolist()):
                if v in level_of:
                    per_level[level_of[v]] = per_level.get(level_of[v], 0) + c
            for lv, c in per_level.items():
                holds = c >= (MIN_SHARE * n if m.lossy and lv in extras else 1)
                holding[lv] += holds
            if any(per_level.get(lv, 0) >= (MIN_SHARE * n if m.lossy else 1) for lv in extras):
                multi.append(m.source)
        for lv in sorted(levels):
            vals = [v for v, l in level_of.items() if l == lv]
            px = int(total[vals].sum())
            crack_share = float(crack[vals].sum()) / px if px else 0.0
            rows.append({
                "value": lv, "share": px / n_px, "masks": holding[lv],
                "read_as": _read_as(crack_share),
                "kind": "background" if lv == bg else "crack" if lv == crack_level else "extra class",
            })
        other_px = n_px - sum(int(total[[v for v, l in level_of.items() if l == r["value"]]].sum()) for r in rows)
        report: dict[str, Any] = {
            "masks": len(self._masks),
            "jpeg_masks": sum(m.lossy for m in self._masks),
            "reading": rule.describe(),
            "values": rows,
            "other_share": other_px / n_px,
            "crack_share": float(crack.sum()) / n_px,
            "extra_values": extras,
            "multi_valued_masks": multi,
            "warnings": [],
            "notes": [],
        }
        _check_crack_values(rule, present, tol, report)
        _add_warnings(rule, bg, crack_level, report)
        return report


def _extra_levels(masks: list[_MaskHist], total: np.ndarray, lossy_plateau: np.ndarray, main: list[int], tol: int) -> list[int]:
    near_main = np.zeros(256, bool)
    for lv in main:
        near_main[max(0, lv - tol): lv + tol + 1] = True
    found: set[int] = set()
    lossy_px = sum(int(m.counts.sum()) for m in masks if m.lossy)
    if lossy_px:
        found |= {int(v) for v in np.nonzero((lossy_plateau >= MIN_SHARE * lossy_px) & ~near_main)[0]}
    for m in masks:
        bar = (MIN_SHARE_ONE_JPEG if m.lossy else MIN_SHARE) * int(m.counts.sum())
        found |= {int(v) for v, c in zip(m.values, m.plateau) if c >= bar and not near_main[v]}
    groups: list[list[int]] = []
    for v in sorted(found):  # JPEG: neighbouring values are one class
        if groups and v - groups[-1][-1] <= tol:
            groups[-1].append(v)
        else:
            groups.append([v])
    return [max(g, key=lambda v: int(total[v])) for g in groups]


def _assign_levels(present: np.ndarray, levels: list[int], tol: int) -> dict[int, int]:
    out = {}
    for v in present.tolist():
        dist = [abs(v - lv) for lv in levels]
        i = int(np.argmin(dist))
        if dist[i] <= tol:
            out[v] = levels[i]
    return out


def _read_as(crack_share: float) -> str:
    if crack_share >= 0.99:
        return "crack"
    if crack_share <= 0.01:
        return "background"
    return f"mixed ({100 * crack_share:.0f} % crack)"


def _check_crack_values(rule: MaskRule, present: np.ndarray, tol: int, report: dict[str, Any]) -> None:
    if not rule.crack_values:
        return
    missing = [c for c in rule.crack_values if not np.any(np.abs(present - c) <= tol)]
    held = ", ".join(f"{r['value']} ({100 * r['share']:.2f} %)" for r in report["values"])
    if len(missing) == len(rule.crack_values):
        raise DataError(
            f"none of --crack-values {','.join(map(str, rule.crack_values))} occurs in any mask; the masks hold {held}. "
            "Pass the value(s) that mark cracks"
        )
    if missing:
        report["warnings"].append(f"crack value(s) {', '.join(map(str, missing))} occur in no mask (the masks hold {held})")


def _add_warnings(rule: MaskRule, bg: int, crack_level: int | None, report: dict[str, Any]) -> None:
    multi, extras = report["multi_valued_masks"], report["extra_values"]
    if extras:
        listed = ", ".join(Path(s).name for s in multi[:MAX_LISTED]) + (", ..." if len(multi) > MAX_LISTED else "")
        extra_txt = ", ".join(str(v) for v in extras)
        rows = {r["value"]: r for r in report["values"]}
        read = "; ".join(f"{v} read as {rows[v]['read_as']}" for v in extras)
        if rule.crack_values:
            report["notes"].append(
                f"{len(multi)} of {report['masks']} masks hold more than two classes (value(s) {extra_txt} besides "
                f"{bg} and {crack_level}); read with {rule.describe()}: {read}")
        else:
            report["warnings"].append(
                f"{len(multi)} of {report['masks']} masks hold more than two classes: value(s) {extra_txt} besides "
                f"background {bg} and crack {crack_level} ({read} with {rule.describe()}). If only {crack_level} marks "
                f"cracks, rerun with --crack-values {crack_level} (a comma list selects several). Masks: {listed}")
    if report["crack_share"] == 0:
        report["warnings"].append(
            f"no mask pixel was read as crack with {rule.describe()}; the masks hold "
            + ", ".join(str(r["value"]) for r in report["values"]) + ": name the crack value(s) with --crack-values")
    elif report["crack_share"] > 0.5:
        report["warnings"].append(
            f"{100 * report['crack_share']:.0f} % of all mask pixels were read as crack with {rule.describe()}: are "
            "the masks inverted (crack dark on white) or is the crack value another one? Check with --crack-values")


def _pct(share: float) -> str:
    return "  <0.01%" if 0 < share < 0.0001 else f"{100 * share:>7.2f}%"


def format_table(report: dict[str, Any]) -> list[str]:
    """Screen lines: one row per class value with its share of all mask pixels and how it was read."""
    kind = f", {report['jpeg_masks']} JPEG" if report.get("jpeg_masks") else ""
    lines = [f"mask values over {report['masks']} masks{kind} (read with {report['reading']}):",
             f"  {'value':>5}  {'pixels':>8}  {'masks':>6}  read as"]
    for r in report["values"]:
        tag = "   <- extra class" if r["kind"] == "extra class" else ""
        lines.append(f"  {r['value']:>5}  {_pct(r['share'])}  {r['masks']:>6}  {r['read_as']}{tag}")
    if report["other_share"] > 0:
        lines.append(f"  {'other':>5}  {_pct(report['other_share'])}  {'':>6}  JPEG noise / anti-aliasing "
                     "(values near a class value are counted with it)")
    return lines
