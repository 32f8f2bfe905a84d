"""The `crackedge prepare` options and what it prints (the CLI module only wires these in).

Importing this module is cheap (argparse only); the work is imported when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crackedge.cli_options import add_out, add_seed

FORMAT_CHOICES = ["auto", "crackforest", "crack500", "deepcrack", "pairs", "images"]


def _ratios(text: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers like 0.6,0.2,0.2, got {text!r}") from None
    if len(vals) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers (train,val,test), got {text!r}")
    return vals  # type: ignore[return-value]


def _crack_values(text: str) -> tuple[int, ...]:
    from crackedge.data.mask_values import parse_crack_values
    from crackedge.errors import DataError

    try:
        return parse_crack_values(text)
    except DataError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_prepare_args(parser: argparse.ArgumentParser) -> None:
    """Add the `prepare` arguments and options to `parser`."""
    parser.add_argument("src", type=Path, help="the dataset as published, or a folder of images (--format images)")
    add_out(parser, help="a new or empty output folder (written only when the run succeeds)")
    parser.add_argument("--format", default="auto", choices=FORMAT_CHOICES,
                        help="source layout (default: detected); images = unlabeled images, see docs/data.md")
    parser.add_argument("--strict", action="store_true", help="fail on the first unusable item instead of skipping it")
    parser.add_argument("--split-ratios", type=_ratios, default=(0.6, 0.2, 0.2), metavar="TR,VA,TE",
                        help="train,val,test ratios for sources without a split (default 0.6,0.2,0.2; 0,0,1 = all test)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="DeepCrack: share of train used as val (default 0.1)")
    add_seed(parser)
    parser.add_argument("--mask-threshold", type=int, default=None,
                        help="grey/JPEG masks: crack = value > this (default 127)")
    parser.add_argument("--crack-values", type=_crack_values, default=(), metavar="V[,V...]",
                        help="masks with more than two values: the value(s) that mark cracks, e.g. 255; every "
                             "other value is background (replaces the threshold)")
    parser.add_argument("--cfd-label3", choices=["background", "crack"], default="background",
                        help="CrackForest label 3 (intact pavement enclosed by cracks); default background")
    parser.add_argument("--cfd-label4", choices=["crack", "background"], default="crack",
                        help="CrackForest label 4 (faint hairline cracks); default crack")


def options_from_args(args: argparse.Namespace):
    """PrepareOptions from parsed arguments; DataError for contradicting options."""
    from crackedge.data.formats.options import PrepareOptions
    from crackedge.errors import DataError

    if args.crack_values and args.mask_threshold is not None:
        raise DataError("--crack-values and --mask-threshold exclude each other: crack values name the crack pixels "
                        "exactly, the threshold reads every value above it as crack; pass one")
    return PrepareOptions(strict=args.strict, ratios=args.split_ratios, seed=args.seed, val_fraction=args.val_fraction,
                          mask_threshold=127 if args.mask_threshold is None else args.mask_threshold,
                          crack_values=tuple(args.crack_values), cfd_label3=args.cfd_label3, cfd_label4=args.cfd_label4)


def _items(info: dict[str, Any]) -> list[str]:
    from crackedge.data.mask_values import format_table

    lines = []
    if info.get("mask_values"):
        lines += format_table(info["mask_values"])
    lines += [f"note: {n}" for n in info.get("notes", [])]
    lines += [f"warning: {w}" for w in info.get("warnings", [])]
    skipped = info.get("skipped", [])
    if skipped:
        lines.append(f"skipped {len(skipped)} item(s):")
        lines += [f"  {s['item']}: {s['reason']}" for s in skipped]
    return lines


def run_prepare(args: argparse.Namespace) -> int:
    """`crackedge prepare`: convert, then print counts, the mask value table, notes, warnings and every skip."""
    from crackedge.data.prepare import prepare, prepare_unlabeled

    if args.format == "images":
        if args.crack_values or args.mask_threshold is not None:
            from crackedge.errors import DataError

            raise DataError("--format images reads no masks; drop --crack-values/--mask-threshold")
        unl = prepare_unlabeled(args.src, args.out, strict=args.strict)
        print(f"wrote {len(unl)} unlabeled images to {unl.root}; format images (labels: none, no masks, no splits)")
        for line in _items(unl.info):
            print(line)
        return 0
    ds = prepare(args.src, args.out, args.format, options_from_args(args))
    counts = ", ".join(f"{s} {len(ds.names(s))}" for s in ds.splits)
    print(f"wrote {len(ds)} image/mask pairs to {ds.root} ({counts}); format {ds.info.get('format')}")
    for line in _items(ds.info):
        print(line)
    return 0
