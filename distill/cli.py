"""`distill`: students, channel-wise distillation, export to an edge model bundle, bundle evaluation.

  distill students                       list the registered students (input size, stride, parameters)
  distill export CHECKPOINT OUT_DIR      student checkpoint -> model bundle (ONNX opset 11, IR FP16, [INT8])
  distill eval BUNDLE --data DIR         evaluate the exported model itself (OpenVINO) on a dataset
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from crackedge.cliutil import add_common_args, run_subcommand


def cmd_students(args: argparse.Namespace) -> int:
    from distill.students import build_student, list_students
    from distill.students.segmentor import count_parameters

    print(f"{'student':<24} {'input':>9} {'stride':>6} {'params':>9}  head")
    for name in list_students():
        model = build_student(name)
        s = model.spec
        print(f"{name:<24} {s.input_size[0]:>4}x{s.input_size[1]:<4} {s.stride:>6} {count_parameters(model) / 1e6:>8.2f}M  {s.head}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from distill.export.bundle_export import ExportOptions, export_bundle

    opts = ExportOptions(
        target=args.target,
        int8=args.int8,
        calib_data=args.calib_data,
        parity_data=args.parity_data,
        calib_images=args.calib_images,
        parity_images=args.parity_images,
        input_size=tuple(args.input_size) if args.input_size else None,
        threshold=args.threshold,
        min_mask_iou=args.min_mask_iou,
        threads=args.threads,
        force=args.force,
    )
    meta = export_bundle(args.checkpoint, args.out_dir, opts)
    print(f"bundle: {args.out_dir}  ({meta.student}, {meta.input.height}x{meta.input.width}, "
          f"{meta.output.kind} at stride {meta.output.stride}, inference precision {meta.inference_precision})")
    print(f"{'runtime':<30} {'images':>6} {'max|diff|':>10} {'mask IoU':>9} {'IoU vs GT':>9}")
    for rec in meta.parity:
        gt = "-" if rec.crack_iou_vs_gt is None else f"{rec.crack_iou_vs_gt:.4f}"
        print(f"{rec.runtime:<30} {rec.images:>6} {rec.max_abs_diff:>10.2e} {rec.mask_iou:>9.4f} {gt:>9}")
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a student checkpoint to a model bundle for edge",
        description="Write OUT_DIR with model.onnx (opset 11), model.xml/.bin (OpenVINO IR, FP16 weights), "
        "optionally model_int8.xml/.bin, and metadata.yaml (preprocessing, output layout, parity, hashes). "
        "Parity vs torch is measured on --parity-data (else --calib-data, else synthetic images).",
    )
    add_common_args(p)
    p.add_argument("checkpoint", type=Path, help="student checkpoint (best.pt from `distill train`)")
    p.add_argument("out_dir", type=Path, help="bundle folder to write")
    p.add_argument("--target", choices=["cpu", "ncs2"], default="cpu",
                   help="ncs2: refuse ops the NCS2 (MYRIAD, OpenVINO 2022.3) cannot run (default: cpu)")
    p.add_argument("--int8", action="store_true", help="also write an INT8 IR (NNCF post-training quantization)")
    p.add_argument("--calib-data", type=Path, metavar="DIR",
                   help="images for INT8 calibration: canonical dataset (train split) or a folder of images "
                   "(default: synthetic images, noted in the metadata)")
    p.add_argument("--parity-data", type=Path, metavar="DIR",
                   help="images for the parity check: canonical dataset (val/test split) or a folder of images")
    p.add_argument("--calib-images", type=int, default=20, metavar="N", help="calibration images (default 20)")
    p.add_argument("--parity-images", type=int, default=8, metavar="N", help="parity images (default 8)")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                   help="network input size, multiples of 32 (default: the student's, 448 448)")
    p.add_argument("--threshold", type=float, default=0.5, help="crack probability threshold (default 0.5)")
    p.add_argument("--min-mask-iou", type=float, default=0.99,
                   help="mask IoU vs torch a reduced inference precision needs to be declared (default 0.99)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for the checks (default 2)")
    p.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    p.set_defaults(func=cmd_export)


def cmd_eval(args: argparse.Namespace) -> int:
    from distill.evaluate import EvalOptions, evaluate_bundle

    opts = EvalOptions(
        split=None if args.split == "all" else args.split,
        noise=tuple(c.strip() for c in args.noise.split(",") if c.strip()),
        model=args.model,
        device=args.device,
        precision=args.precision,
        out_dir=args.out,
        overlays=args.overlays,
        threads=args.threads,
        limit=args.limit,
    )
    result = evaluate_bundle(args.bundle, args.data, opts)
    for table in result.tables.values():
        print(table, end="\n\n")
    print(f"median inference {result.latency_ms:.1f} ms/image ({args.device}:{result.precision})")
    if args.out:
        print(f"metrics and {len(result.overlays)} overlays written to {args.out}")
    return 0


def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model bundle (the exported model, in OpenVINO) on a dataset",
        description="Run the bundle's model as the vehicle would (its metadata's preprocessing, OpenVINO, "
        "output upsampled to the image and thresholded) and report both metric conventions per noise case.",
    )
    add_common_args(p)
    p.add_argument("bundle", type=Path, help="bundle folder written by `distill export`")
    p.add_argument("--data", type=Path, required=True, help="canonical dataset folder")
    p.add_argument("--split", default="test", help="split to evaluate, or 'all' (default: test)")
    p.add_argument("--noise", default="clean", help="comma-separated noise cases: clean,dim,blurry (default: clean)")
    p.add_argument("--model", choices=["ir_fp16", "ir_int8", "onnx"], default="ir_fp16",
                   help="which model file of the bundle (default: ir_fp16)")
    p.add_argument("--device", default="CPU", help="OpenVINO device (default: CPU)")
    p.add_argument("--precision", choices=["f32", "bf16", "f16"],
                   help="CPU inference precision (default: the bundle's validated inference_precision)")
    p.add_argument("--out", type=Path, metavar="DIR", help="write metrics.yaml, metrics.txt and overlays here")
    p.add_argument("--overlays", type=int, default=4, metavar="N", help="overlay images per noise case (default 4)")
    p.add_argument("--threads", type=int, help="CPU inference threads (default: OpenVINO's choice)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N images")
    p.set_defaults(func=cmd_eval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    p = sub.add_parser("students", help="list the registered students")
    add_common_args(p)
    p.set_defaults(func=cmd_students)
    _add_export(sub)
    _add_eval(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
