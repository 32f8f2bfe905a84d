"""`distill export` (a student checkpoint -> a model bundle) and `distill eval` (a bundle scored as the vehicle runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from crackedge.cli_options import add_out, add_size


def add_int8_ranges_arg(p: argparse.ArgumentParser) -> None:
    """--int8-ranges, shared by export and compare."""
    from distill.export.openvino_export import ACTIVATION_RANGES

    p.add_argument("--int8-ranges", choices=ACTIVATION_RANGES, default=ACTIVATION_RANGES[0],
                   help="how INT8 activation ranges are set from the calibration images: histogram (least "
                   "quantisation error, clips outliers), mean-minmax (NNCF's default), minmax (default histogram)")


def cmd_export(args: argparse.Namespace) -> int:
    from distill.export.bundle_export import ExportOptions, export_bundle

    opts = ExportOptions(
        target=args.target,
        int8=args.int8,
        calib_data=args.calib_data,
        parity_data=args.parity_data,
        calib_images=args.calib_images,
        parity_images=args.parity_images,
        input_size=args.size,
        threshold=args.threshold,
        min_mask_iou=args.min_mask_iou,
        max_int8_drop=args.max_int8_drop,
        int8_preset=args.int8_preset,
        int8_fast_bias_correction=not args.int8_full_bias_correction,
        int8_activation_ranges=args.int8_ranges,
        strict_parity=args.strict_parity,
        parity_split=args.parity_split,
        threads=args.threads,
        force=args.force,
    )
    meta = export_bundle(args.checkpoint, args.out, opts)
    print(f"bundle: {args.out}  ({meta.student}, {meta.input.height}x{meta.input.width}, "
          f"{meta.output.kind} at stride {meta.output.stride}, inference precision {meta.inference_precision})")
    print(f"{'runtime':<30} {'images':>6} {'max|diff|':>10} {'mask IoU':>9} {'IoU vs GT':>9}")
    for rec in meta.parity:
        gt = "-" if rec.crack_iou_vs_gt is None else f"{rec.crack_iou_vs_gt:.4f}"
        print(f"{rec.runtime:<30} {rec.images:>6} {rec.max_abs_diff:>10.2e} {rec.mask_iou:>9.4f} {gt:>9}")
    check = meta.notes.get("parity_check", "")
    if check.startswith(("FAILED", "UNVERIFIED")):
        print(f"\nWARNING: parity check {check}")
    else:
        print(f"parity check: {check}")
    return 0


def add_export(sub, add_common_args) -> None:
    p = sub.add_parser(
        "export",
        help="export a student checkpoint to a model bundle for edge",
        description="Write OUT_DIR with model.onnx (opset 11), model.xml/.bin (OpenVINO IR, FP16 weights), "
        "optionally model_int8.xml/.bin, and metadata.yaml (preprocessing, output layout, parity, hashes). "
        "Parity vs torch is measured on --parity-data (else --calib-data, else synthetic images).",
    )
    add_common_args(p)
    p.add_argument("checkpoint", type=Path, help="student checkpoint (best.pt from `distill train`)")
    add_out(p, help="bundle folder to write")
    p.add_argument("--target", choices=["cpu", "ncs2"], default="cpu",
                   help="ncs2: refuse ops the NCS2 (MYRIAD, OpenVINO 2022.3) cannot run (default: cpu)")
    p.add_argument("--int8", action="store_true", help="also write an INT8 IR (NNCF post-training quantization)")
    p.add_argument("--calib-data", type=Path, metavar="DIR",
                   help="images for INT8 calibration: canonical dataset (train split) or a folder of images "
                   "(default: synthetic images, noted in the metadata)")
    p.add_argument("--parity-data", type=Path, metavar="DIR",
                   help="images for the parity check: canonical dataset (val/test split) or a folder of images")
    p.add_argument("--calib-images", type=int, default=20, metavar="N", help="calibration images (default 20)")
    p.add_argument("--int8-preset", choices=["performance", "mixed"], default="performance",
                   help="NNCF preset: symmetric (performance) or asymmetric (mixed) activations (default performance)")
    p.add_argument("--int8-full-bias-correction", action="store_true",
                   help="NNCF's full bias correction instead of the fast one: minutes instead of seconds, "
                   "often less INT8 loss")
    add_int8_ranges_arg(p)
    p.add_argument("--parity-images", type=int, default=8, metavar="N", help="parity images (default 8)")
    p.add_argument("--parity-split", default="test", metavar="SPLIT",
                   help="split of a canonical --parity-data to check on (default test; falls back to test, val)")
    add_size(p, "network input size, N or HxW, multiples of 32 (default: the size the checkpoint was trained at, "
             "else the student's, 448)")
    p.add_argument("--threshold", type=float, default=0.5, help="crack probability threshold (default 0.5)")
    p.add_argument("--min-mask-iou", type=float, default=0.99,
                   help="mask IoU vs torch the FP16 IR needs at its declared precision; a reduced precision "
                   "below it is not declared (default 0.99)")
    p.add_argument("--max-int8-drop", type=float, default=0.02,
                   help="crack IoU vs ground truth the INT8 IR may lose against FP32 torch (default 0.02)")
    p.add_argument("--strict-parity", action="store_true",
                   help="fail (write no bundle) when a parity criterion is missed; default: warn and record it")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for the checks (default 2)")
    p.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    p.set_defaults(func=cmd_export)


def add_eval(sub, add_common_args) -> None:
    from crackedge.evaluation.command import (
        add_bundle_eval_arguments,
        bundle_eval_command,
    )

    p = sub.add_parser(
        "eval",
        help="evaluate a model bundle (the exported model, in OpenVINO) on a dataset",
        description="Run the bundle's model as the vehicle would (its metadata's preprocessing, OpenVINO, "
        "output upsampled to the image and thresholded) and report both metric conventions per noise case, "
        "scored on the stated --basis. The same command as `edge eval`.",
    )
    add_common_args(p)
    add_bundle_eval_arguments(p)
    p.set_defaults(func=bundle_eval_command)


