"""`distill`: students, channel-wise distillation, export to an edge model bundle, bundle evaluation.

  distill students                       list the registered students (input size, stride, parameters)
  distill train --teacher ... --student ... --data DIR --out DIR   distil a student (hard loss + CWD)
  distill export CHECKPOINT OUT_DIR      student checkpoint -> model bundle (ONNX opset 11, IR FP16, [INT8])
  distill eval BUNDLE --data DIR         evaluate the exported model itself (OpenVINO) on a dataset
  distill compare --data DIR --teacher-checkpoint PATH --out DIR   student + CWD vs student alone, same budget
  distill bench-steps --data DIR --teacher-checkpoint PATH          per-step time: cache vs student-only vs online
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from crackedge.cli_options import add_noise, add_out, add_size
from crackedge.cliutil import add_common_args, run_subcommand
from distill.cli_train import add_train

def cmd_students(args: argparse.Namespace) -> int:
    from distill.students import build_student, list_students
    from distill.students.segmentor import count_parameters

    print(f"{'student':<24} {'input':>9} {'stride':>6} {'params':>9}  head")
    for name in list_students():
        model = build_student(name)
        s = model.spec
        print(f"{name:<24} {s.input_size[0]:>4}x{s.input_size[1]:<4} {s.stride:>6} {count_parameters(model) / 1e6:>8.2f}M  {s.head}")
    return 0


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
    if check.startswith("FAILED"):
        print(f"\nWARNING: parity check {check}")
    else:
        print(f"parity check: {check}")
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


def _add_eval(sub) -> None:
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


def cmd_compare(args: argparse.Namespace) -> int:
    from distill.compare import CompareOptions, run_compare

    opts = CompareOptions(
        data=args.data, out=args.out, teacher_checkpoint=args.teacher_checkpoint, sam_checkpoint=args.sam_checkpoint,
        teacher_cache=args.teacher_cache, online_teacher=args.online_teacher, student=args.student,
        backbone_weights=args.backbone_weights, size=args.size, steps=args.steps, max_minutes=args.max_minutes,
        batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps, eval_every=args.eval_every,
        seed=args.seed, variants=args.variants, cwd_weight=args.cwd_weight, temperature=args.temperature,
        int8=args.int8, int8_full_bias_correction=args.int8_full_bias_correction, int8_ranges=args.int8_ranges,
        calib_images=args.calib_images,
        parity_images=args.parity_images, split=args.split,
        noise=tuple(args.noise), limit=args.limit, threads=args.threads, device=args.device,
        workers=args.workers,
    )
    result = run_compare(opts)
    print(result.table)
    print(f"written: {args.out / 'compare.md'}, {args.out / 'compare.yaml'}")
    return 0


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="the same student trained with and without the teacher on one budget, both exported and scored",
        description="Trains --student twice with identical data order, augmentation, seed, initial weights, steps and "
        "hyper-parameters: once with CWD against the teacher (its logits cached once into OUT/teacher_cache, so "
        "the run does not pay for the teacher), once with --teacher none. Exports both to bundles, scores both "
        "BUNDLES with `distill eval` on --split for every --noise case, scores the teacher the same way (torch f32), "
        "and prints and writes OUT/compare.md and OUT/compare.yaml. Re-running with the same options reuses "
        "finished steps and resumes an interrupted training. Example: distill compare --data data/crack500 "
        "--teacher-checkpoint runs/teacher/best.pt --student hrnet_w18 --size 224 --steps 200 --batch-size 4 "
        "--out runs/compare",
    )
    add_common_args(p)
    p.add_argument("--data", type=Path, required=True, help="canonical dataset (train, val, test splits)")
    p.add_argument("--out", type=Path, required=True, help="output folder (reused and resumed when re-run)")
    p.add_argument("--teacher-checkpoint", type=Path, metavar="PATH", help="teacher checkpoint (teacher train's best.pt)")
    p.add_argument("--sam-checkpoint", type=Path, metavar="PATH", help="SAM weights of a CrackSAM delta checkpoint")
    p.add_argument("--teacher-cache", type=Path, metavar="DIR",
                   help="an existing logit cache of the train split (instead of caching here)")
    p.add_argument("--online-teacher", action="store_true",
                   help="run the teacher on every batch instead of caching its logits (slower)")
    p.add_argument("--student", default="hrnet_w18", help="registered student (default hrnet_w18)")
    p.add_argument("--backbone-weights", type=Path, metavar="PATH", help="timm classification weights for the backbone")
    p.add_argument("--size", type=int, default=448, help="square input side of student and teacher (default 448)")
    p.add_argument("--steps", type=int, default=200, help="optimiser steps of EACH run: the budget (default 200)")
    p.add_argument("--max-minutes", type=float, help="also stop a run after this many minutes (its steps are reported)")
    p.add_argument("--batch-size", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    p.add_argument("--warmup-steps", type=int, help="linear warm-up steps (default steps/10)")
    p.add_argument("--eval-every", type=int, help="validate every N steps; best.pt by val IoU (default steps/4)")
    p.add_argument("--seed", type=int, default=0, help="seed of augmentation, sampling and initial weights (default 0)")
    p.add_argument("--variants", type=int, help="augmentation views per image (default: one per epoch of the budget, <= 8)")
    p.add_argument("--cwd-weight", type=float, default=5.0, help="CWD loss weight (default 5)")
    p.add_argument("--temperature", type=float, default=3.0, help="CWD temperature (default 3)")
    p.add_argument("--int8", action="store_true", help="also export, check and score INT8 models")
    p.add_argument("--int8-full-bias-correction", action="store_true",
                   help="NNCF's full bias correction for INT8 (minutes per model instead of seconds)")
    add_int8_ranges_arg(p)
    p.add_argument("--calib-images", type=int, default=20, metavar="N", help="INT8 calibration images (default 20)")
    p.add_argument("--parity-images", type=int, default=8, metavar="N", help="export parity images (default 8)")
    p.add_argument("--split", default="test", help="split to score (default test)")
    add_noise(p, ("clean", "dim", "blurry"))
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N images of the split")
    p.add_argument("--threads", type=int, help="torch/OpenVINO CPU threads (default: library defaults)")
    p.add_argument("--device", default="cpu", help="training device: cpu, cuda, auto (default cpu)")
    p.add_argument("--workers", type=int, default=0, help="data-loader workers (default 0)")
    p.set_defaults(func=cmd_compare)


def cmd_bench_steps(args: argparse.Namespace) -> int:
    from crackedge.fileio import atomic_write_text
    from distill.bench_steps import (
        BenchOptions,
        bench_steps,
        format_table,
        timings_json,
    )

    opts = BenchOptions(
        data=args.data, out=args.out, teacher_checkpoint=args.teacher_checkpoint, sam_checkpoint=args.sam_checkpoint,
        teacher_cache=args.teacher_cache, student=args.student, size=args.size, batch_size=args.batch_size,
        steps=args.steps, warmup=args.warmup, seed=args.seed, threads=args.threads, device=args.device,
    )
    timings = bench_steps(opts)
    print(format_table(timings, opts))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(timings_json(timings, opts), indent=2) + "\n")
        print(f"written: {args.json}")
    return 0


def _add_bench_steps(sub) -> None:
    p = sub.add_parser(
        "bench-steps",
        help="per-step training time: student-only vs CWD from a logit cache vs CWD with an online teacher",
        description="Times --steps training steps (after --warmup) of the same student on the same batches in "
        "three modes, interleaved step by step: hard loss only; + CWD from a logit cache; + CWD from the teacher "
        "run on every batch. Prints median and p90 seconds per step, the part spent on the teacher's logits, the "
        "data-loading time, and the ratio cache / student-only (goal <= 1.2). Without --teacher-cache the cache "
        "is made from --teacher-checkpoint into OUT/teacher_cache.",
    )
    add_common_args(p)
    p.add_argument("--data", type=Path, required=True, help="canonical dataset (train split)")
    p.add_argument("--out", type=Path, default=Path("runs/bench-steps"), help="folder for a cache made here")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="also write the timings as JSON (what `crackedge bench-report --bench-steps` reads)")
    p.add_argument("--teacher-checkpoint", type=Path, metavar="PATH", help="teacher checkpoint (online mode, cache)")
    p.add_argument("--sam-checkpoint", type=Path, metavar="PATH", help="SAM weights of a CrackSAM delta checkpoint")
    p.add_argument("--teacher-cache", type=Path, metavar="DIR", help="existing logit cache of the train split")
    p.add_argument("--student", default="hrnet_w18", help="registered student (default hrnet_w18)")
    p.add_argument("--size", type=int, default=448, help="square input side (default 448)")
    p.add_argument("--batch-size", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per mode (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per mode first (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto (default cpu)")
    p.set_defaults(func=cmd_bench_steps)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    p = sub.add_parser("students", help="list the registered students")
    add_common_args(p)
    p.set_defaults(func=cmd_students)
    add_train(sub, add_common_args)
    _add_export(sub)
    _add_eval(sub)
    _add_compare(sub)
    _add_bench_steps(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
