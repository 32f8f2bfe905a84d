"""`distill eval BUNDLE` and `edge eval BUNDLE`: one command, registered by both tools (the training box
has distill, the vehicle has edge); the bundle is scored as the vehicle runs it."""

from __future__ import annotations

import argparse
from pathlib import Path

from typing import Optional

from crackedge.cli_options import add_eval_options, add_runtime_device, add_threads, split_value
from crackedge.evaluation.options import EvalOptions


def eval_options_from(args: argparse.Namespace, out: Optional[Path] = None) -> EvalOptions:
    """EvalOptions from the options of `add_eval_options` (and --out when given)."""
    return EvalOptions(split=split_value(args.split), noise=tuple(args.noise), basis=args.basis,
                       threshold=args.threshold, out_dir=out, overlays=args.overlays, limit=args.limit)


def add_bundle_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle folder written by `distill export`")
    add_eval_options(p)
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write metrics.yaml, metrics.txt and error overlays here (default: print only)")
    add_runtime_device(p)
    p.add_argument("--model", choices=["auto", "ir_fp16", "ir_int8", "onnx"], default="auto",
                   help="which model file of the bundle (default auto: the FP16 IR on OpenVINO 2023+, "
                   "model.onnx on 2022.3)")
    p.add_argument("--precision", choices=["auto", "bundle", "f32", "bf16", "f16"], default="auto",
                   help="CPU inference precision; auto (default, as `edge run`): the fastest this CPU offers that the "
                   "bundle validated; bundle: the precision declared at export")
    add_threads(p)


def bundle_eval_command(args: argparse.Namespace) -> int:
    from crackedge.evaluation.bundle import evaluate_bundle
    from crackedge.runtime.options import RuntimeOptions

    runtime = RuntimeOptions(device=args.device, model=args.model, precision=args.precision, threads=args.threads,
                             performance_hint="LATENCY", num_requests=1)
    result = evaluate_bundle(args.bundle, args.data, eval_options_from(args, args.out), runtime)
    for table in result.tables.values():
        print(table, end="\n\n")
    print(f"median inference {result.latency_ms:.1f} ms/image; {result.model}")
    if args.out:
        print(f"metrics and {len(result.overlays)} overlays written to {args.out}")
    return 0
