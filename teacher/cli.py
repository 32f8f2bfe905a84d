"""`teacher`: the large crack-segmentation teachers (CrackSAM: SAM + adapter/LoRA, prompt-free;
PARNet: a CNN + Swin dual encoder).

Commands:
  train          train CrackSAM or PARNet on a canonical dataset (writes best.pt, last.pt, curves.png);
                 several GPUs: torchrun --nproc_per_node N -m teacher train ...
  eval           metrics of a trained teacher on a split, per noise case, beside trivial baselines, with overlays
  predict        crack masks and overlays for image files of any size (large ones as blended tiles)
  cache-logits   run the teacher once over a split's augmented views for distillation
  baseline       scores of the all-background and all-crack guesses on a split
  params         parameter counts (total / trainable) of CrackSAM variants, without allocating weights
  export         a trained teacher -> a model bundle (--out DIR) (ONNX, OpenVINO FP16 IR, parity), as `distill export` writes

A trained CrackSAM checkpoint is usually a "delta" (adapters/LoRA + decoder, a few MB) on top of the
original SAM weights: pass those with --sam-checkpoint wherever a checkpoint is loaded. PARNet
checkpoints (and CrackSAM trained from scratch) are full: they need nothing else.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Sequence, get_args

from crackedge.cli_options import (
    add_basis,
    add_data,
    add_eval_options,
    add_out,
    add_seed,
    add_split,
    add_torch_device,
    split_value,
    square_size,
)
from crackedge.cliutil import add_common_args, run_subcommand
from crackedge.config import read_yaml_mapping
from crackedge.errors import ConfigError
from teacher.models.sam_config import SAM_ARCHS, DeltaKind, LoRATarget
from teacher.tiling import DEFAULT_OVERLAP, MODES
from teacher.train_config import MODEL_NAMES

BACKBONES = tuple(SAM_ARCHS)
DELTAS = get_args(DeltaKind)


# option -> TeacherTrainConfig field, for every model (help, type and choices from the config models)
TRAIN_OPTIONS = {
    "--data": "data.root",
    "--train-split": "data.train_split",
    "--seed": "data.seed",
    "--labeled-fraction": "data.labeled_fraction",
    "--epochs": "optim.epochs",
    "--steps": "optim.steps",
    "--batch-size": "optim.batch_size",
    "--lr": "optim.lr",
    "--warmup-steps": "optim.warmup_steps",
    "--power": "optim.power",
    "--eval-every": "optim.eval_every",
    "--max-minutes": "optim.max_minutes",
    "--workers": "optim.workers",
    "--amp": "optim.amp",
    "--device": "device",
}
SIZE_OPTION = {"--size": "model.img_size"}
# options of one model family only
MODEL_OPTIONS = {
    "cracksam": {
        "--backbone": "model.backbone",
        "--delta": "model.delta",
        "--adapter-dim": "model.adapter.dim",
        "--lora-rank": "model.lora.rank",
        "--sam-checkpoint": "sam_checkpoint",
    },
    "parnet": {
        "--preset": "model.preset",
        "--swin-checkpoint": "model.swin.checkpoint",
    },
}


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def _model_name(args: argparse.Namespace, data: Dict[str, Any]) -> str:
    """--model, else model.model of --config, else cracksam; ConfigError if they disagree."""
    model = data.get("model")
    in_file = model.get("model") if isinstance(model, dict) else None
    if args.model is not None and in_file is not None and args.model != in_file:
        raise ConfigError(f"--model {args.model} contradicts model.model: {in_file} in {args.config}; drop one of them")
    return args.model or in_file or "cracksam"


def train_config_from_args(args: argparse.Namespace) -> Any:
    """TeacherTrainConfig from --config (optional YAML) with the command-line options on top; the
    model family's defaults (PARNet preset, optimiser defaults) fill in what neither sets."""
    from crackedge.cli_options import options_into, set_dotted
    from crackedge.config import parse_config
    from teacher.train_config import TeacherTrainConfig

    data: Dict[str, Any] = read_yaml_mapping(args.config) if args.config is not None else {}
    source = f"{args.config} + command-line options" if args.config is not None else "teacher train options"
    name = _model_name(args, data)
    for other, options in MODEL_OPTIONS.items():
        given = [o for o in options if getattr(args, _dest(o)) is not None]
        if other != name and given:
            raise ConfigError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to --model {other}, not {name}")
    if name != "cracksam" and args.train_encoder:
        raise ConfigError(f"--train-encoder applies to --model cracksam ({name} trains every weight)")
    preset = data.get("model", {}).get("preset") if isinstance(data.get("model"), dict) else None
    if args.preset is not None and preset is not None and preset != args.preset:
        raise ConfigError(f"--preset {args.preset} contradicts model.preset: {preset} in {args.config}; drop one of them")
    set_dotted(data, "model.model", name)
    options_into(data, args, {**TRAIN_OPTIONS, **SIZE_OPTION, **MODEL_OPTIONS[name]})
    if args.val_split is not None:
        set_dotted(data, "data.val_split", None if args.val_split.lower() == "none" else args.val_split)
    if "root" not in (data.get("data") or {}):
        raise ConfigError("pass --data DIR (a canonical dataset), or set data.root in --config")
    if args.train_encoder:
        set_dotted(data, "model.freeze_image_encoder", False)
    return parse_config(data, TeacherTrainConfig, source=source)


def cmd_train(args: argparse.Namespace) -> int:
    from teacher.train import distributed, train_teacher

    cfg = train_config_from_args(args)
    with distributed() as dist:
        result = train_teacher(cfg, args.out, resume=args.resume, dist=dist)
    if dist.is_main:
        print(f"best validation IoU {result.best_iou:.4f} at step {result.best_step} of {result.last_step}")
        print(f"checkpoint: {Path(args.out) / 'best.pt'}   curves: {Path(args.out) / 'curves.png'}")
    return 0


def _load(args: argparse.Namespace) -> Any:
    from crackedge.training.runtime import pick_device
    from teacher.api import load_teacher

    device = pick_device(args.device)
    return load_teacher(args.checkpoint, args.sam_checkpoint, device), device


def cmd_eval(args: argparse.Namespace) -> int:
    from crackedge.cli_options import eval_options_from
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


def cmd_params(args: argparse.Namespace) -> int:
    from crackedge.config import parse_config
    from teacher.models.sam_config import CrackSAMConfig
    from teacher.params import format_table, param_table

    overrides = {
        "img_size": args.size,
        "adapter": {"dim": args.adapter_dim},
        "lora": {"rank": args.lora_rank, "targets": args.lora_targets},
    }
    parse_config(overrides, CrackSAMConfig, source="teacher params options")  # ConfigError naming the option
    print(format_table(param_table(args.backbone, args.delta, **overrides)))
    return 0


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


def _add_export(sub: argparse._SubParsersAction) -> None:
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


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train CrackSAM or PARNet on a canonical dataset",
        description="Train a teacher with the shared loop (AdamW, linear warm-up + poly decay, mixed precision on CUDA). "
        "CrackSAM (default): frozen SAM image encoder + adapter/LoRA deltas, trainable prompt encoder and mask decoder, "
        "0.2 CE + 0.8 Dice. PARNet (--model parnet): every weight trains, deep-supervised loss on the fused and four "
        "side outputs. Writes OUT/config.yaml, best.pt (best validation IoU; a teacher checkpoint), last.pt (resume), "
        "history.jsonl, curves.png. Options override the values of --config. Several GPUs: "
        "torchrun --nproc_per_node N -m teacher train ... (--batch-size is per process). Examples: "
        "teacher train --data data/khanhha --out runs/cracksam --backbone vit_h --delta adapter "
        "--sam-checkpoint sam_vit_h_4b8939.pth;  teacher train --model parnet --preset paper "
        "--swin-checkpoint swin_tiny.pth --data data/deepcrack --out runs/parnet",
    )
    from crackedge.cli_options import add_config_options
    from teacher.models.parnet_config import ParnetConfig
    from teacher.models.sam_config import CrackSAMConfig
    from teacher.train_config import TeacherTrainConfig

    add_out(p)
    p.add_argument("--config", type=Path, metavar="YAML",
                   help="YAML file of TeacherTrainConfig (model, sam_checkpoint, parnet_loss, data, optim, device)")
    p.add_argument("--model", choices=MODEL_NAMES, help="teacher family (default cracksam, or model.model of --config)")
    p.add_argument("--size", type=square_size, metavar="N",
                   help="square input side: CrackSAM a multiple of 16, PARNet of 32 (default 448)")
    g = p.add_argument_group("CrackSAM options")
    cracksam = dict(MODEL_OPTIONS["cracksam"])
    g.add_argument("--sam-checkpoint", type=Path, metavar="PATH",
                   help="original SAM weights, e.g. sam_vit_h_4b8939.pth (needed except for tiny)")
    cracksam.pop("--sam-checkpoint")
    add_config_options(g, CrackSAMConfig, cracksam, strip="model.")
    g.add_argument("--train-encoder", action="store_true", help="train the image encoder too (tiny model from scratch)")
    g = p.add_argument_group("PARNet options")
    add_config_options(g, ParnetConfig, MODEL_OPTIONS["parnet"], strip="model.")
    g = p.add_argument_group("data and optimisation (budget in steps)",
                             "defaults shown are CrackSAM's; PARNet's are lr 3e-4, 100 warm-up steps, power 0.9")
    add_config_options(g, TeacherTrainConfig, TRAIN_OPTIONS)
    g.add_argument("--val-split", metavar="NAME", help="validation split (default val; 'none' for no validation)")
    g.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.set_defaults(func=cmd_train)


def _add_loading_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="teacher checkpoint (best.pt of teacher train)")
    p.add_argument("--sam-checkpoint", type=Path, help="the SAM weights a delta checkpoint was trained on")
    add_torch_device(p)
    p.add_argument("--amp", action="store_true", help="mixed precision on CUDA (default off: full-precision logits)")


def _add_eval(sub: argparse._SubParsersAction) -> None:
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


def _add_predict(sub: argparse._SubParsersAction) -> None:
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


def _add_cache(sub: argparse._SubParsersAction) -> None:
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


def _add_baseline(sub: argparse._SubParsersAction) -> None:
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


def _add_params(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "params",
        help="print total and trainable parameter counts of CrackSAM variants",
        description="Builds each CrackSAM variant on torch's meta device (no weights allocated, no "
        "checkpoint needed) and prints a markdown table of parameter counts in millions, next to the "
        "CrackSAM paper's figures where it reports them.",
    )
    p.add_argument("--backbone", nargs="+", choices=BACKBONES, default=["vit_b", "vit_l", "vit_h"], help="SAM image encoders (default: vit_b vit_l vit_h)")
    p.add_argument("--delta", nargs="+", choices=DELTAS, default=["adapter", "lora", "both"], help="delta kinds (default: adapter lora both)")
    p.add_argument("--size", type=square_size, default=448, metavar="N", help="input side in pixels, multiple of 16 (default: 448)")
    p.add_argument("--adapter-dim", type=int, default=32, help="adapter middle dimension d (default: 32)")
    p.add_argument("--lora-rank", type=int, default=4, help="LoRA rank r (default: 4)")
    p.add_argument("--lora-targets", nargs="+", choices=get_args(LoRATarget), default=["q", "v"], help="LoRA targets (default: q v)")
    p.set_defaults(func=cmd_params)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teacher", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in (_add_train, _add_eval, _add_predict, _add_cache, _add_baseline, _add_params, _add_export):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
