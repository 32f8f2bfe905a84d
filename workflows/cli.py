"""`crackedge` command line: data preparation, synthetic data, dataset checks, the end-to-end demo,
the benchmark report and `serve` (bundles behind Triton Inference Server). Thin layer over library functions."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from crackedge.cli_options import (
    add_data,
    add_out,
    add_seed,
    add_size,
    add_threads,
    add_torch_device,
    parse_runtime_device,
    square_size,
)
from crackedge.cliutil import add_common_args, run_subcommand


def cmd_prepare(args: argparse.Namespace) -> int:
    from workflows.prepare_cli import run_prepare

    return run_prepare(args)


def cmd_synth(args: argparse.Namespace) -> int:
    from crackedge.synth import write_synthetic_dataset

    ds = write_synthetic_dataset(args.out, args.train, args.val, args.test, args.size, args.seed)
    print(f"wrote {len(ds)} synthetic images to {ds.root} (" + ", ".join(f"{s} {len(ds.names(s))}" for s in ds.splits) + ")")
    return 0


def cmd_check_data(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from crackedge.data.layout import CrackDataset
    from crackedge.errors import DataError

    ds = CrackDataset.open(args.data)
    problems, crack_frac = [], []
    for name in tqdm(ds.names(), desc="checking", unit="img"):
        try:
            _, mask = ds.read(name)
            crack_frac.append(float(mask.mean()))
        except DataError as err:
            problems.append(str(err))
    splits = ", ".join(f"{s} {len(ds.names(s))}" for s in ds.splits) or "no splits"
    print(f"{ds.root}: {len(ds)} images ({splits}); crack pixels {100 * np.mean(crack_frac or [0]):.2f}% on average")
    for p in problems:
        print(f"problem: {p}")
    return 1 if problems else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from workflows.demo import DemoConfig, run_demo

    cfg = DemoConfig(out=args.out, data=args.data, seed=args.seed, student=args.student, device=args.device,
                     max_minutes=args.max_minutes)
    if args.size:
        cfg.size = args.size
    if args.student_steps:
        cfg.student_steps = args.student_steps
    if args.student_crop is not None:
        cfg.student_crop = args.student_crop or None
    if args.teacher_crop is not None:
        cfg.teacher_crop = args.teacher_crop or None
    if args.quick:  # a smoke run: minutes, not a result
        cfg.n_train, cfg.n_val, cfg.n_test, cfg.n_unlabeled, cfg.size = 8, 4, 4, 4, 96
        cfg.teacher_steps, cfg.student_steps, cfg.edge_frames, cfg.variants = 20, 10, 6, 1
    res = run_demo(cfg)
    print("\n".join(["", "crackedge demo summary:"] + [f"  {ln}" for ln in res.lines]))
    for warning in res.warnings:
        print(f"WARNING: {warning}")
    return 0


def cmd_bench_report(args: argparse.Namespace) -> int:
    from workflows.bench.report import ReportOptions, run_report

    def split(text: str | None) -> list[str]:
        return [v.strip() for v in text.split(",") if v.strip()] if text else []

    opts = ReportOptions(
        out_dir=args.out, markdown=args.markdown, work_dir=args.work_dir, only=tuple(split(args.only)),
        render_only=args.render_only, quick=args.quick, compare=args.compare[0] if args.compare else None,
        more_compare=tuple(args.compare[1:]) if args.compare else (), bench_steps=args.bench_steps,
        soak_json=args.soak_json, serve_json=args.serve_json,
        bundles=list(args.bundle or []), device=args.device, students=split(args.students) or None,
        size=args.size, threads=args.threads, max_seconds=args.max_seconds, calib_data=args.calib_data,
        edge_frames=args.edge_frames, edge_rounds=args.edge_rounds, edge_precision=args.edge_precision,
    )
    if args.edge_students:
        opts.edge_students = tuple(split(args.edge_students))
    path = run_report(opts)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from workflows.prepare_cli import add_prepare_args

    parser = argparse.ArgumentParser(prog="crackedge", description=__doc__)
    add_common_args(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("prepare", help="convert a published dataset layout into the canonical layout",
                       description="Convert CrackForest, CRACK500, DeepCrack, a folder of image/mask pairs, or a "
                                   "folder of unlabeled images (--format images) into the canonical layout; see "
                                   "docs/data.md. Problem items are skipped and listed (or fail with --strict); "
                                   "a failed run leaves no output folder.")
    add_prepare_args(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("synth", help="generate a synthetic crack dataset (seeded, exact masks)")
    add_out(p, help="the dataset folder to write")
    p.add_argument("--train", type=int, default=64, help="training images (default 64)")
    p.add_argument("--val", type=int, default=16, help="validation images (default 16)")
    p.add_argument("--test", type=int, default=16, help="test images (default 16)")
    add_size(p, "image size, N or HxW (default 448)", default=(448, 448))
    add_seed(p)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("check-data", help="verify every image/mask pair of a canonical dataset")
    add_data(p)
    p.set_defaults(func=cmd_check_data)

    p = sub.add_parser("demo", help="run the main job end to end on built-in synthetic data (or --data DIR)",
                       description="Synthetic crack images (and unlabeled frames) -> a PARNet teacher -> its logits "
                       "cached -> an HRNet student distilled -> a model bundle -> both scored on held-back images -> "
                       "the edge daemon on a simulated camera. Budgets are in steps; --max-minutes is a safety net "
                       "per training stage that the summary reports loudly when it cuts.")
    add_out(p, default=Path("runs/demo"), help="result folder")
    add_data(p, required=False, help="a canonical dataset instead of synthetic data")
    p.add_argument("--size", type=square_size, default=None, metavar="N",
                   help="teacher/student input side (default 256, for CPU speed)")
    p.add_argument("--student", default="hrnet_w18_small_v2",
                   help="student to distill (default hrnet_w18_small_v2; hrnet_w18 is the papers' student, ~2x slower per step)")
    p.add_argument("--student-steps", type=int, default=None, metavar="N", help="student training steps (default 800)")
    p.add_argument("--student-crop", type=int, default=None, metavar="N",
                   help="the student trains on random NxN windows of its views (default 160; 0: whole images)")
    p.add_argument("--teacher-crop", type=int, default=None, metavar="N",
                   help="the teacher trains on random NxN windows of its images (default 160; 0: whole images)")
    add_torch_device(p, default="cpu")
    p.add_argument("--max-minutes", type=float, default=30.0,
                   help="safety net per training stage (default 30); budgets are in steps")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (a few minutes; numbers mean nothing)")
    add_seed(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "bench-report", help="measure and write BENCHMARKS.md (inference, teachers, edge pipeline, distillation, accuracy, "
        "soak, serving)",
        description="Regenerate BENCHMARKS.md and its plots. Sections: inference (every student, every runtime), "
                    "teachers (SAM ViT-B/L/H encoders, PARNet), edge (edge bench per bundle, JPEG decode cost), "
                    "distill (from `distill bench-steps --json`), accuracy (from `distill compare`), soak (from "
                    "`edge soak --json`, 30 minutes, never run here), serve (from `python -m workflows.serve.bench`, "
                    "needs Triton, never run here). Results are "
                    "cached as JSON in OUT/results/ so --render-only and --only SECTION need not measure everything "
                    "again. The full run takes about half an hour on a quiet 2-core CPU; --quick is a 1-2 minute "
                    "smoke run whose numbers mean nothing.")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64x64, one student, tiny teachers, ~0.3 s per measurement; writes runs/bench-quick/")
    p.add_argument("--only", metavar="SECTIONS", help="comma-separated sections to measure: inference,teachers,edge,distill,accuracy,soak,serve "
                   "(the others are rendered from their cached results; soak and serve are read, not run)")
    p.add_argument("--render-only", action="store_true", help="measure nothing; re-render from the cached results")
    add_out(p, required=False, help="results/ and plots (default benchmarks/)")
    p.add_argument("--markdown", type=Path, default=None, help="report file (default BENCHMARKS.md)")
    p.add_argument("--work-dir", type=Path, default=None,
                   help="random-weight checkpoints and bundles (default runs/bench-report/work; reused when unchanged)")
    p.add_argument("--compare", type=Path, nargs="+", default=None, metavar="DIR",
                   help="`distill compare` output folders (accuracy section): the first in full with its figures, "
                   "each further one as a subsection of tables (e.g. all labels, then 20 %% labels)")
    p.add_argument("--bench-steps", type=Path, default=None, help="a `distill bench-steps` JSON (distillation-cost section)")
    p.add_argument("--soak-json", type=Path, default=None, metavar="FILE",
                   help="an `edge soak --json` report to copy into OUT/results/edge_soak.json (soak section)")
    p.add_argument("--serve-json", type=Path, default=None, metavar="FILE",
                   help="a `python -m workflows.serve.bench` JSON to copy into OUT/results/serve.json (serve section)")
    p.add_argument("--bundle", type=Path, action="append",
                   help="bundle for the edge section (repeatable; default: the inference section's bundles)")
    p.add_argument("--device", type=parse_runtime_device, default="CPU", metavar="DEVICE",
                   help="where the bundles run (OpenVINO) in the inference and edge sections: cpu, ncs2, gpu, auto "
                   "(default cpu)")
    p.add_argument("--students", help="comma-separated students (default: all registered)")
    p.add_argument("--edge-students", help=f"students whose bundles the edge section runs (default {','.join(('hrnet_w18', 'mobilenetv3_large_100'))})")
    p.add_argument("--size", type=int, default=448, help="student and teacher input side (default 448)")
    add_threads(p)
    p.add_argument("--max-seconds", type=float, default=8.0, help="time cap per latency/throughput measurement (default 8)")
    p.add_argument("--calib-data", type=Path, default=None,
                   help="images for INT8 calibration (default: synthetic crack images)")
    p.add_argument("--edge-frames", type=int, default=200, help="frames per edge bench run (default 200)")
    p.add_argument("--edge-rounds", type=int, default=2,
                   help="alternating raw/pipeline rounds per edge bench run; medians reported (default 2)")
    p.add_argument("--edge-precision", default="auto", choices=["auto", "bundle", "f32", "f16", "bf16"],
                   help="model.precision of the edge section's runs (default auto, the daemon's: the fastest the "
                   "CPU offers that the bundle validated; bundle: the precision declared at export)")
    p.set_defaults(func=cmd_bench_report)

    from workflows.serve.command import add_serve_parser

    add_serve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
