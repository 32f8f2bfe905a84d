"""`teacher export`: a trained teacher -> a model bundle; its options and the command."""

from __future__ import annotations

import argparse
from pathlib import Path

from crackedge.cli_options import add_out


def cmd_export(args: argparse.Namespace) -> int:
    from teacher.export import TeacherExportOptions, export_teacher

    precisions = [p.strip() for p in args.precisions.split(",")] if args.precisions else None
    opts = TeacherExportOptions(
        output=args.output, opset=args.opset, precisions=precisions, sam_checkpoint=args.sam_checkpoint,
        parity_data=args.parity_data, parity_split=args.parity_split, parity_images=args.parity_images,
        threshold=args.threshold, min_mask_iou=args.min_mask_iou, strict_parity=args.strict_parity,
        threads=args.threads, force=args.force,
    )
    meta = export_teacher(args.checkpoint, args.out, opts)
    print(f"bundle: {args.out} (teacher {meta.model_name}, input {meta.input.height}x{meta.input.width}, "
          f"crack probability at stride {meta.output.stride}, precision {meta.inference_precision})")
    for rec in meta.parity:
        print(f"  {rec.runtime:28s} max|diff| {rec.max_abs_diff:.2e}  mask IoU vs torch {rec.mask_iou:.4f}")
    print(f"  parity check: {meta.notes.get('parity_check', '?')}")
    return 0


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="a trained teacher -> a model bundle (ONNX, OpenVINO FP16 IR, parity records)",
        description="Exports CrackSAM (any backbone; LoRA merged into the weights, adapters exported as part of "
        "the graph) or PARNet in inference mode with constant folding to ONNX and an OpenVINO IR with FP16 "
        "weights, checks both against torch on --parity-data (else synthetic images) and writes the bundle "
        "`distill export` writes (metadata.yaml with model kind teacher). `crackedge serve` serves it; "
        "`edge run` runs it too (slowly). See docs/serve.md.")
    p.add_argument("checkpoint", type=Path, help="teacher checkpoint (best.pt of teacher train)")
    add_out(p, help="bundle folder to write")
    p.add_argument("--sam-checkpoint", type=Path, help="the SAM weights a delta checkpoint was trained on")
    p.add_argument("--output", choices=("native", "full"), default="native",
                   help="CrackSAM: native = crack probability at the decoder's stride 4 (default), full = at the "
                   "input resolution; PARNet always exports its full-resolution map")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17; SAM needs 12+ for Einsum)")
    p.add_argument("--parity-data", type=Path, metavar="DIR",
                   help="canonical dataset or image folder for the parity check (default: synthetic images)")
    p.add_argument("--parity-split", default="test", help="split of a canonical --parity-data (default test)")
    p.add_argument("--parity-images", type=int, default=8, help="images for the parity check (default 8)")
    p.add_argument("--precisions", metavar="LIST",
                   help="IR inference precisions to measure, e.g. f32 or f32,bf16 (default: all the CPU offers)")
    p.add_argument("--threshold", type=float, default=0.5, help="crack probability threshold (default 0.5)")
    p.add_argument("--min-mask-iou", type=float, default=0.99,
                   help="FP16 IR vs torch mask IoU needed (default 0.99)")
    p.add_argument("--strict-parity", action="store_true", help="write nothing when the parity check fails")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch and OpenVINO (default 2)")
    p.add_argument("--force", action="store_true", help="replace a non-empty OUT_DIR")
    p.set_defaults(func=cmd_export)
