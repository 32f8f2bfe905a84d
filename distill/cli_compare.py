"""`distill compare` (distilled vs alone, several seeds, several evaluation sets) and `distill bench-steps`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from crackedge.cli_options import add_noise, add_out, add_split, add_threads


def cmd_compare(args: argparse.Namespace) -> int:
    from distill.cli_train import train_config_from_args
    from distill.compare import CompareOptions, parse_eval_set, run_compare

    cfg = train_config_from_args(args)
    split = args.split
    sets = [parse_eval_set(cfg.data.root, split, set())]
    for text in args.eval_data or []:
        sets.append(parse_eval_set(text, split, {s.name for s in sets}))
    opts = CompareOptions(
        train=cfg, out=args.out, seeds=tuple(args.seeds), eval_sets=sets, split=split, noise=tuple(args.noise),
        online_teacher=args.online_teacher, int8=args.int8, int8_full_bias_correction=args.int8_full_bias_correction,
        int8_ranges=args.int8_ranges, calib_images=args.calib_images, parity_images=args.parity_images,
        limit=args.limit, threads=args.threads,
    )
    result = run_compare(opts)
    print(result.table)
    print(f"written: {args.out / 'compare.md'}, {args.out / 'compare.yaml'}")
    return 0


def add_compare(sub, add_common_args) -> None:
    from distill.cli_export import add_int8_ranges_arg
    from distill.cli_train import add_train_options

    p = sub.add_parser(
        "compare",
        help="the same student with and without the teacher, several seeds, bundles scored on several datasets",
        description="For every --seeds value trains the student twice with identical data, labeled subset, "
        "augmentation views, steps, schedule and seed (initial weights, batch order): distilled (hard loss on "
        "labeled items + the soft loss against the teacher on every item, including --unlabeled images and the "
        "items beyond --labeled-fraction) and alone (the hard loss on the same labeled items). The teacher's logits "
        "are cached once into OUT/teacher_cache (or --teacher-cache). Exports every run, scores the BUNDLES on "
        "--split of --data and on every --eval-data set for each --noise case, scores the teacher the same way "
        "(torch f32), and writes OUT/compare.md and OUT/compare.yaml: per-seed figures, mean ± sd, and the paired "
        "difference. Re-running reuses finished stages. Takes every `distill train` option. Example: distill "
        "compare --data data/crack500 --teacher-cache runs/cache --student hrnet_w18 --size 224 --steps 600 "
        "--batch-size 4 --seeds 0 1 2 --eval-data data/crackforest:all --out runs/compare",
    )
    add_common_args(p)
    add_out(p, help="output folder (reused and resumed when re-run)")
    add_train_options(p)
    g = p.add_argument_group("comparison")
    g.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="S",
                   help="run seeds; each gives one distilled and one alone run (default 0)")
    g.add_argument("--eval-data", nargs="+", metavar="DIR[:SPLIT]",
                   help="more canonical datasets to score on (their --split when they have it, else every image; "
                   "DIR:all for every image)")
    add_split(g)
    add_noise(g, ("clean", "dim", "blurry"))
    g.add_argument("--limit", type=int, metavar="N", help="score only the first N images of each set")
    g.add_argument("--online-teacher", action="store_true",
                   help="run the teacher on every batch instead of caching its logits (slower)")
    g.add_argument("--int8", action="store_true", help="also export, check and score INT8 models")
    g.add_argument("--int8-full-bias-correction", action="store_true",
                   help="NNCF's full bias correction for INT8 (minutes per model instead of seconds)")
    add_int8_ranges_arg(g)
    g.add_argument("--calib-images", type=int, default=20, metavar="N", help="INT8 calibration images (default 20)")
    g.add_argument("--parity-images", type=int, default=8, metavar="N", help="export parity images (default 8)")
    add_threads(g)
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


def add_bench_steps(sub, add_common_args) -> None:
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


