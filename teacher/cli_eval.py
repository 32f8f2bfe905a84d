"""`teacher eval`, `predict`, `cache-logits` (what a trained teacher is used for) and `baseline` (the trivial
guesses it is scored against): their options and commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crackedge.cli_options import add_basis, add_data, add_eval_options, add_out, add_seed, add_split, add_torch_device, split_value
from teacher.tiling import DEFAULT_OVERLAP, MODES


def _load(args: argparse.Namespace) -> Any:
    from crackedge.training.runtime import pick_device
    from teacher.api import load_teacher

    device = pick_device(args.device)
    return load_teacher(args.checkpoint, args.sam_checkpoint, device), device


def cmd_eval(args: argparse.Namespace) -> int:
    from crackedge.evaluation.command import eval_options_from
    from crackedge.evaluation import evaluate
    from crackedge.evaluation.reports import baseline_table
    from crackedge.fileio import sha256_file
    from teacher.api import teacher_name
    from teacher.predictor import TeacherPredictor

    from crackedge.training.runtime import pick_device
    from teacher.api import load_teacher
    from teacher.inference import ensemble_name

    device = pick_device(args.device)
    models = [load_teacher(c, args.sam_checkpoint, device) for c in args.checkpoint]
    predictor = TeacherPredictor(models, device, tta_views=8 if args.tta else 1)
    opts = eval_options_from(args, args.out)
    opts.baselines = True
    source = {"checkpoints": [str(c) for c in args.checkpoint],
              "checkpoints_sha256": [sha256_file(Path(c)) for c in args.checkpoint],
              "tta_views": predictor.tta_views, "runtime": "torch f32", "device": str(device)}
    result = evaluate(predictor, args.data, opts, source)
    for table in result.tables.values():
        print(table, end="\n\n")
    print(f"{args.split}: the teacher against trivial guesses, scored {result.basis} (IoU/F1: CrackSAM per-image "
          f"means at threshold {result.threshold}; pooled; DeepCrack ODS F and mIoU)")
    label = ensemble_name([teacher_name(m) for m in models]) + (" +TTA" if args.tta else "")
    print(baseline_table({f"{label} ({case})": m for case, m in result.metrics.items()} | result.baselines))
    print(f"metrics: {Path(args.out) / 'metrics.yaml'}   overlays: {Path(args.out)}/overlays_*.jpg")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from crackedge.evaluation.baselines import score_baselines
    from crackedge.evaluation.options import describe_basis
    from crackedge.evaluation.reports import baseline_table

    size = (args.size, args.size)
    reports = score_baselines(args.data, split_value(args.split), args.basis, size)
    print(f"{args.split} of {args.data}: scored {describe_basis(args.basis, size)}; IoU/F1: CrackSAM per-image means "
          "at threshold 0.5")
    print(baseline_table(reports))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from teacher.predict import predict_images

    model, device = _load(args)
    masks = predict_images(model, args.inputs, args.out, device, args.threshold, args.amp,
                           mode=args.mode, overlap=args.overlap, batch_size=args.batch_size)
    print(f"{len(masks)} mask(s) in {Path(args.out) / 'masks'}, overlays in {Path(args.out) / 'overlays'}")
    return 0


def cmd_cache_logits(args: argparse.Namespace) -> int:
    from crackedge.training.runtime import pick_device
    from teacher.api import load_teacher
    from teacher.cache_logits import cache_teacher_logits

    device = pick_device(args.device)
    models = [load_teacher(c, args.sam_checkpoint, device) for c in args.checkpoint]
    unlabeled: list[Path] = []
    if args.unlabeled:
        from crackedge.data.unlabeled import list_unlabeled_images

        unlabeled = list_unlabeled_images(args.unlabeled)
    path = cache_teacher_logits(
        models, args.checkpoint, args.data, args.split, args.out, args.variants, args.seed, args.augment,
        args.channels, device, args.batch_size, args.amp, args.workers, stored_size=args.stored_size,
        tta_views=8 if args.tta else 1, unlabeled=unlabeled, val_split=None if args.val_split == "none" else args.val_split,
        sam_checkpoint=args.sam_checkpoint,
    )
    print(f"logit cache: {path}")
    from crackedge.data.logit_cache import LogitCache

    for name, iou in (LogitCache.open(path).meta.get("teacher_val") or {}).get("crack_iou", {}).items():
        print(f"  {args.val_split} IoU {iou:.4f}  {name}")
    return 0


def _add_loading_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="teacher checkpoint (best.pt of teacher train)")
    p.add_argument("--sam-checkpoint", type=Path, help="the SAM weights a delta checkpoint was trained on")
    add_torch_device(p)
    p.add_argument("--amp", action="store_true", help="mixed precision on CUDA (default off: full-precision logits)")


def add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="metrics of a trained teacher on a dataset split, with overlays",
                       description="Scores the teacher on --split for each --noise case with the one evaluator "
                       "(crackedge.evaluation: CrackSAM per-image and pooled scores, DeepCrack ODS/OIS/mIoU, on the "
                       "--basis stated in every report) beside the all-background and all-crack guesses; writes "
                       "OUT/metrics.yaml, OUT/metrics.txt, OUT/overlays/ and OUT/overlays_<case>.jpg.")
    p.add_argument("checkpoint", type=Path, nargs="+",
                   help="teacher checkpoint(s) (best.pt of teacher train); several: their ensemble (averaged margins)")
    p.add_argument("--sam-checkpoint", type=Path, help="the SAM weights a delta checkpoint was trained on")
    add_torch_device(p)
    add_eval_options(p)
    add_out(p)
    p.add_argument("--tta", action="store_true", help="average the teacher over the 8 dihedral views of each image")
    p.set_defaults(func=cmd_eval)


def add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="crack masks and overlays for image files",
                       description="Writes OUT/masks/NAME.png (0/255, the image's size) and OUT/overlays/NAME.jpg.")
    _add_loading_args(p)
    p.add_argument("inputs", type=Path, nargs="+", help="image files or folders of images")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--threshold", type=float, default=0.5, help="crack probability threshold (default 0.5)")
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="tile: overlapping input-size tiles at the image's own scale, blended; resize: the whole image "
                   "resized to the input size; auto: tile when a side is more than 1.5x the input size (default auto)")
    p.add_argument("--overlap", type=float, default=DEFAULT_OVERLAP,
                   help=f"fraction of a tile shared with its neighbour (default {DEFAULT_OVERLAP})")
    p.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass (default 4)")
    p.set_defaults(func=cmd_predict)


def add_cache(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache-logits", help="store the teacher's logits for distillation (TTA, ensembles, unlabeled images)",
                       description="Runs the teacher once over every (image, augmentation variant) of --split and of "
                       "the --unlabeled images and writes a logit cache (index.yaml + logits.npy, float16) that "
                       "`distill train --teacher-cache` reads (use the same --seed/--variants/--unlabeled there). "
                       "Several CHECKPOINTs are averaged into one ensemble teacher; --tta averages each over the 8 "
                       "dihedral views. Every teacher, its TTA and the ensemble are scored on --val-split first and "
                       "the IoUs recorded in the cache.")
    p.add_argument("checkpoint", type=Path, nargs="+", help="teacher checkpoint(s) (best.pt of teacher train); "
                   "several: an ensemble (same input size)")
    p.add_argument("--sam-checkpoint", type=Path, help="the SAM weights a delta checkpoint was trained on")
    add_torch_device(p)
    p.add_argument("--amp", action="store_true", help="mixed precision on CUDA (default off: full-precision logits)")
    add_data(p)
    add_split(p, "train")
    add_out(p, help="cache folder")
    p.add_argument("--unlabeled", type=Path, nargs="+", metavar="DIR",
                   help="folders or files of unlabeled images to cache too (an `edge run` output gives its raw frames)")
    p.add_argument("--tta", action="store_true", help="average each teacher over the 8 dihedral views (8x the time)")
    p.add_argument("--val-split", default="val", metavar="NAME",
                   help="split the teachers are scored on before caching ('none': skip; default val)")
    p.add_argument("--variants", type=int, default=1, help="augmented views per image (default 1)")
    add_seed(p)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="augment the views (--no-augment: the plain resized images, needs --variants 1)")
    p.add_argument("--channels", type=int, choices=(1, 2),
                   help="2: both logits; 1: crack margin l_crack - l_background (default: 2 for one CrackSAM, 1 for "
                   "PARNet, TTA and ensembles)")
    p.add_argument("--stored-size", type=int,
                   help="area-average the logits down to this square size before storing (approximate: smaller cache, "
                   "thin cracks blurred; default: the native resolution)")
    p.add_argument("--batch-size", type=int, default=2, help="images per forward pass (default 2)")
    p.add_argument("--workers", type=int, default=0, help="data-loader workers (default 0)")
    p.set_defaults(func=cmd_cache_logits)


def add_baseline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="scores of the all-background and all-crack guesses on a split",
                       description="Scores two trivial predictions (background everywhere, crack everywhere) on the masks "
                       "of --split with the evaluator teacher eval uses, for comparison with a trained model "
                       "(teacher eval prints them beside the model's numbers too).")
    add_data(p)
    add_split(p, "val")
    add_basis(p)
    p.add_argument("--size", type=int, default=448, metavar="N",
                   help="the model input side that --basis input resizes to (default 448)")
    p.set_defaults(func=cmd_baseline)
