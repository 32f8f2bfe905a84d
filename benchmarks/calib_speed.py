"""Old against new `calib.measure.measure_crack`, per mask, on camera-frame masks.

    python benchmarks/calib_speed.py [--kind thin|heavy|both] [--masks 6] [--repeat 5] [--frame-size 1280x720]
                                     [--mask-dir DIR] [--only old|new|new-nocap|none]

"old" is the frozen copy of the measurement before the speed-up (tests/calib_reference), "new" the
current one with its default max_area_fraction (0.25: heavier masks are reported too_large, area
only) and without a limit ("new, no cap"). Masks: calib.bench.frame_masks (thin ragged cracks with
specks; heavy masks like an untrained model's, 6-60 % of the frame) and, with --mask-dir, every
PNG there (crack = non-zero), e.g. masks saved from `edge bench`'s model. Each mask is measured
old, new, new-no-cap in turn, `repeat` times; the median CPU time of this process (all threads,
time.process_time) is printed per mask and per kind, with how far the new values are from the old
ones (largest relative difference of length, mean and max width over the mask and its parts;
branches and components must be equal). --only runs one implementation over all masks (for timing
whole processes from outside, e.g. with /usr/bin/time).

Run from the repository root; it needs the tests/ folder (the reference), so not on the Pi: there
use `calib bench --frames`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from calib.bench import frame_masks
from calib.measure import measure_crack
from tests.calib_reference.measure import measure_crack as reference_measure

VALUES = ("length_px", "mean_width_px", "max_width_px")


def _cpu_ms(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) * 1e3


def _difference(new: dict, old: dict) -> tuple[float, bool]:
    """Largest relative difference of VALUES over the totals and parts; whether counts agree."""
    worst, counts = 0.0, new["components"] == old["components"] and new["branches"] == old["branches"]
    for a, b in [(new, old), *zip(new["parts"], old["parts"])]:
        for key in VALUES:
            worst = max(worst, abs(a[key] - b[key]) / max(abs(b[key]), 1e-12))
        counts &= a["branches"] == b["branches"] and a["area_px"] == b["area_px"]
    return worst, counts


def _masks(kind: str, count: int, size: tuple[int, int], mask_dir: Optional[Path]) -> list[tuple[str, str, np.ndarray]]:
    out = []
    for k in (("thin", "heavy") if kind == "both" else (kind,)):
        out += [(k, name, m) for name, m in frame_masks(k, count, size)]
    if mask_dir is not None:
        for path in sorted(mask_dir.glob("*.png")):
            m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            out.append(("files", path.stem[:24], (m > 0).astype(np.uint8)))
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=("thin", "heavy", "both"), default="both")
    p.add_argument("--masks", type=int, default=6, help="masks of each kind (default 6)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per mask and implementation (default 5)")
    p.add_argument("--frame-size", default="1280x720", metavar="WxH")
    p.add_argument("--mask-dir", type=Path, help="also every PNG mask in this folder")
    p.add_argument("--only", choices=("old", "new", "new-nocap", "none"),
                   help="run one implementation only, no comparison, no output (none: only make the masks, the "
                   "baseline to subtract when timing whole processes)")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.frame_size.lower().split("x"))
    masks = _masks(args.kind, args.masks, size, args.mask_dir)
    impls = {
        "old": lambda m: reference_measure(m).to_dict(),
        "new": lambda m: measure_crack(m).to_dict(),
        "new, no cap": lambda m: measure_crack(m, max_area_fraction=None).to_dict(),
    }
    if args.only == "none":
        return 0
    if args.only:
        fn = impls[args.only.replace("-nocap", ", no cap")]
        for _ in range(args.repeat):
            for _, _, m in masks:
                fn(m)
        return 0
    for _, _, m in masks[:2]:  # warm-up: imports, first allocations, caches
        for fn in impls.values():
            fn(m)
    print(f"{len(masks)} masks, {args.repeat} runs each; median CPU ms per mask (all threads of this process)")
    print(f"  {'kind':<6} {'mask':<24} {'crack':>6} {'parts':>5} {'old':>8} {'new':>8} {'x':>5} {'no cap':>8} {'x':>5}"
          "  max rel diff  counts")
    # one implementation over all masks, then the next (memory reuse as in a daemon), `repeat` rounds
    times = {k: [[] for _ in masks] for k in impls}
    for _ in range(args.repeat):
        for k, fn in impls.items():
            for i, (_, _, m) in enumerate(masks):
                times[k][i].append(_cpu_ms(lambda fn=fn, m=m: fn(m)))
    per_kind: dict[str, list[tuple[float, float, float]]] = {}
    for i, (kind, name, m) in enumerate(masks):
        old, new, nocap = (float(np.median(times[k][i])) for k in impls)
        diff, counts = _difference(impls["new, no cap"](m), impls["old"](m))
        capped = measure_crack(m).too_large
        per_kind.setdefault(kind, []).append((old, new, nocap))
        print(f"  {kind:<6} {name:<24} {100 * m.mean():5.1f}% {impls['old'](m)['components']:5d} {old:8.2f} {new:8.2f} "
              f"{old / new:5.1f} {nocap:8.2f} {old / nocap:5.1f}  {diff:12.1e}  {'equal' if counts else 'DIFFER'}"
              f"{'  (too_large)' if capped else ''}")
    print("median over the masks of each kind:")
    for kind, rows in per_kind.items():
        old, new, nocap = (float(np.median([r[i] for r in rows])) for i in range(3))
        print(f"  {kind:<6} old {old:8.2f} ms   new {new:8.2f} ms (x{old / new:.1f})   new, no cap {nocap:8.2f} ms "
              f"(x{old / nocap:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
