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

A trained CrackSAM checkpoint is usually a "delta" (adapters/LoRA + decoder, a few MB) on top of the
original SAM weights: pass those with --sam-checkpoint wherever a checkpoint is loaded. PARNet
checkpoints (and CrackSAM trained from scratch) are full: they need nothing else.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Sequence, get_args

from crackedge.cliutil import add_common_args, run_subcommand
from crackedge.config import read_yaml_mapping
from crackedge.errors import ConfigError
from teacher.models.parnet_config import PARNET_PRESETS
from teacher.models.sam_config import SAM_ARCHS, DeltaKind, LoRATarget
from teacher.tiling import DEFAULT_OVERLAP, MODES
from teacher.train_config import MODEL_NAMES

BACKBONES = tuple(SAM_ARCHS)
DELTAS = get_args(DeltaKind)
NOISE_CASES = ("clean", "dim", "blurry")


def _set(data: Dict[str, Any], dotted: str, value: Any) -> None:
    """data["a"]["b"] = value for dotted = "a.b" (only when value is not None)."""
    if value is None:
        return
    *parents, leaf = dotted.split(".")
    for i, key in enumerate(parents):
        if data.get(key) is None:
            data[key] = {}
        data = data[key]
        if not isinstance(data, dict):
            where = ".".join(parents[: i + 1])
            raise ConfigError(f"{where}: expected a mapping of keys in --config, got {type(data).__name__}")
    data[leaf] = value


# option name -> key in TeacherTrainConfig, for every model
TRAIN_OVERRIDES = {
    "data": "data.root",
    "train_split": "data.train_split",
    "seed": "data.seed",
    "img_size": "model.img_size",
    "epochs": "optim.epochs",
    "steps": "optim.steps",
    "batch_size": "optim.batch_size",
    "lr": "optim.lr",
    "warmup_steps": "optim.warmup_steps",
    "power": "optim.power",
    "eval_every": "optim.eval_every",
    "max_minutes": "optim.max_minutes",
    "workers": "optim.workers",
    "amp": "optim.amp",
    "device": "device",
}
# options of one model family only
MODEL_OVERRIDES = {
    "cracksam": {
        "backbone": "model.backbone",
        "delta": "model.delta",
        "adapter_dim": "model.adapter.dim",
        "lora_rank": "model.lora.rank",
        "sam_checkpoint": "sam_checkpoint",
    },
    "parnet": {
        "preset": "model.preset",
        "swin_checkpoint": "model.swin.checkpoint",
    },
}


def _option_name(dest: str) -> str:
    return "--" + dest.replace("_", "-")


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
    from crackedge.config import parse_config
    from teacher.train_config import TeacherTrainConfig

    data: Dict[str, Any] = {}
    source = "teacher train options"
    if args.config is not None:
        data = read_yaml_mapping(args.config)
        source = f"{args.config} + command-line options"
    name = _model_name(args, data)
    for other, options in MODEL_OVERRIDES.items():
        given = [_option_name(o) for o in options if getattr(args, o) is not None]
        if other != name and given:
            raise ConfigError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to --model {other}, not {name}")
    if name != "cracksam" and args.train_encoder:
        raise ConfigError(f"--train-encoder applies to --model cracksam ({name} trains every weight)")
    preset = data.get("model", {}).get("preset") if isinstance(data.get("model"), dict) else None
    if args.preset is not None and preset is not None and preset != args.preset:
        raise ConfigError(f"--preset {args.preset} contradicts model.preset: {preset} in {args.config}; drop one of them")
    _set(data, "model.model", name)
    for option, key in {**TRAIN_OVERRIDES, **MODEL_OVERRIDES[name]}.items():
        value = getattr(args, option)
        _set(data, key, str(value) if isinstance(value, Path) else value)
    if args.val_split is not None:
        data.setdefault("data", {})["val_split"] = None if args.val_split.lower() == "none" else args.val_split
    if "root" not in (data.get("data") or {}):
        raise ConfigError("pass --data DIR (a canonical dataset), or set data.root in --config")
    if args.train_encoder:
        _set(data, "model.freeze_image_encoder", False)
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
    from teacher.api import teacher_name
    from teacher.baselines import comparison_table, score_baselines
    from teacher.evaluate import evaluate_teacher
    from teacher.inference import input_size

    model, device = _load(args)
    baselines = score_baselines(args.data, args.split, input_size(model), args.threshold)
    reports = evaluate_teacher(
        model, args.data, args.split, args.out, args.noise, device, args.batch_size, args.threshold,
        args.overlays, args.amp, args.workers, baselines=baselines,
    )
    for case, report in reports.items():
        print(report.format(f"== {args.split} ({case}) =="))
    rows = {f"{teacher_name(model)} ({case})": r for case, r in reports.items()}
    print(f"\n{args.split}: the teacher against trivial guesses (IoU/F1: CrackSAM per-image means at threshold "
          f"{args.threshold}; pooled; DeepCrack ODS F and mIoU)")
    print(comparison_table({**rows, **baselines}))
    print(f"metrics: {Path(args.out) / 'metrics.yaml'}   overlays: {Path(args.out)}/overlays_*.jpg")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from teacher.baselines import comparison_table, score_baselines

    size = None if args.img_size == 0 else args.img_size
    reports = score_baselines(args.data, args.split, size, args.threshold)
    where = "at their own size" if size is None else f"resized to {size}x{size} (nearest), as teacher eval sees them"
    print(f"{args.split} of {args.data}: masks {where}; IoU/F1: CrackSAM per-image means at threshold {args.threshold}")
    print(comparison_table(reports))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from teacher.predict import predict_images

    model, device = _load(args)
    masks = predict_images(model, args.inputs, args.out, device, args.threshold, args.amp,
                           mode=args.mode, overlap=args.overlap, batch_size=args.batch_size)
    print(f"{len(masks)} mask(s) in {Path(args.out) / 'masks'}, overlays in {Path(args.out) / 'overlays'}")
    return 0


def cmd_cache_logits(args: argparse.Namespace) -> int:
    from teacher.cache_logits import cache_teacher_logits

    model, device = _load(args)
    path = cache_teacher_logits(
        model, args.checkpoint, args.data, args.split, args.out, args.variants, args.seed, not args.no_augment,
        args.channels, device, args.batch_size, args.amp, args.workers, stored_size=args.stored_size,
    )
    print(f"logit cache: {path}")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from crackedge.config import parse_config
    from teacher.models.sam_config import CrackSAMConfig
    from teacher.params import format_table, param_table

    overrides = {
        "img_size": args.img_size,
        "adapter": {"dim": args.adapter_dim},
        "lora": {"rank": args.lora_rank, "targets": args.lora_targets},
    }
    parse_config(overrides, CrackSAMConfig, source="teacher params options")  # ConfigError naming the option
    print(format_table(param_table(args.backbone, args.delta, **overrides)))
    return 0


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
    p.add_argument("--data", type=Path, help="canonical dataset folder (or data.root in --config)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--config", type=Path, help="YAML file of TeacherTrainConfig (model, sam_checkpoint, parnet_loss, data, optim, device)")
    p.add_argument("--model", choices=MODEL_NAMES, help="teacher family (default cracksam, or model.model of --config)")
    p.add_argument("--img-size", type=int, help="square input side: CrackSAM multiple of 16, PARNet of 32 (default 448)")
    g = p.add_argument_group("CrackSAM options")
    g.add_argument("--backbone", choices=BACKBONES, help="SAM image encoder (default vit_h)")
    g.add_argument("--delta", choices=DELTAS, help="adapter | lora | both | none (default adapter)")
    g.add_argument("--sam-checkpoint", type=Path, help="original SAM weights, e.g. sam_vit_h_4b8939.pth (needed except for tiny)")
    g.add_argument("--train-encoder", action="store_true", help="train the image encoder too (tiny model from scratch)")
    g.add_argument("--adapter-dim", type=int, help="adapter middle dimension (default 32)")
    g.add_argument("--lora-rank", type=int, help="LoRA rank (default 4)")
    g = p.add_argument_group("PARNet options")
    g.add_argument("--preset", choices=PARNET_PRESETS, help="widths: paper (56 M parameters) or small (3 M, CPU) (default paper)")
    g.add_argument("--swin-checkpoint", type=Path, help="local timm Swin state dict to initialise the Swin encoder (default random)")
    g = p.add_argument_group("data and optimisation")
    g.add_argument("--train-split", help="training split (default train)")
    g.add_argument("--val-split", help="validation split (default val; 'none' for no validation)")
    g.add_argument("--epochs", type=float, help="training epochs (default 20; ignored with --steps)")
    g.add_argument("--steps", type=int, help="optimiser steps")
    g.add_argument("--batch-size", type=int, help="images per step and process (default 4)")
    g.add_argument("--lr", type=float, help="peak learning rate (default CrackSAM 4e-4, PARNet 3e-4)")
    g.add_argument("--warmup-steps", type=int, help="linear warm-up steps (default CrackSAM 300, PARNet 100)")
    g.add_argument("--power", type=float, help="poly decay exponent after warm-up (default CrackSAM 6, PARNet 0.9)")
    g.add_argument("--eval-every", type=int, help="validate every N steps (default 200)")
    g.add_argument("--max-minutes", type=float, help="stop (evaluate and save) after this wall-clock time (single process)")
    g.add_argument("--workers", type=int, help="data-loader workers (default 0)")
    g.add_argument("--seed", type=int, help="augmentation/sampling/initialisation seed (default 0)")
    g.add_argument("--device", help="auto | cpu | cuda | cuda:N (default auto; under torchrun each process takes cuda:LOCAL_RANK)")
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision on CUDA: bf16 where supported, else fp16 with loss scaling (default on; no effect on CPU)")
    g.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.set_defaults(func=cmd_train)


def _add_loading_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="teacher checkpoint (best.pt of teacher train)")
    p.add_argument("--sam-checkpoint", type=Path, help="the SAM weights a delta checkpoint was trained on")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--amp", action="store_true", help="mixed precision on CUDA (default off: full-precision logits)")


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="metrics of a trained teacher on a dataset split, with overlays",
                       description="Scores the teacher on --split for each --noise case (CrackSAM per-image and pooled "
                       "scores, DeepCrack ODS/OIS/mIoU); writes OUT/metrics.yaml and OUT/overlays_<case>.jpg.")
    _add_loading_args(p)
    p.add_argument("--data", type=Path, required=True, help="canonical dataset folder")
    p.add_argument("--split", default="test", help="split to score (default test)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--noise", nargs="+", choices=NOISE_CASES, default=["clean"], help="noise cases (default clean)")
    p.add_argument("--batch-size", type=int, default=2, help="images per forward pass (default 2)")
    p.add_argument("--threshold", type=float, default=0.5, help="crack probability threshold (default 0.5)")
    p.add_argument("--overlays", type=int, default=8, help="images in each overlay sheet (default 8)")
    p.add_argument("--workers", type=int, default=0, help="data-loader workers (default 0)")
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
    p = sub.add_parser("cache-logits", help="store the teacher's logits for distillation",
                       description="Runs the teacher once over every (image, augmentation variant) of --split and "
                       "writes a logit cache (index.yaml + logits.npy, float16, the teacher's native resolution) "
                       "that `distill train --teacher-cache` reads. Use the same --seed/--variants there.")
    _add_loading_args(p)
    p.add_argument("--data", type=Path, required=True, help="canonical dataset folder")
    p.add_argument("--split", default="train", help="split to cache (default train)")
    p.add_argument("--out", type=Path, required=True, help="cache folder")
    p.add_argument("--variants", type=int, default=1, help="augmented views per image (default 1)")
    p.add_argument("--seed", type=int, default=0, help="augmentation seed (default 0)")
    p.add_argument("--no-augment", action="store_true", help="cache the plain resized images (needs --variants 1)")
    p.add_argument("--channels", type=int, choices=(1, 2),
                   help="2: both logits; 1: crack margin l_crack - l_background (default: 2 for CrackSAM, 1 for PARNet, "
                   "whose logits are (0, margin))")
    p.add_argument("--stored-size", type=int,
                   help="area-average the logits down to this square size before storing (approximate: smaller cache, "
                   "thin cracks blurred; default: the teacher's native resolution, PARNet's is its full input size)")
    p.add_argument("--batch-size", type=int, default=2, help="images per forward pass (default 2)")
    p.add_argument("--workers", type=int, default=0, help="data-loader workers (default 0)")
    p.set_defaults(func=cmd_cache_logits)


def _add_baseline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="scores of the all-background and all-crack guesses on a split",
                       description="Scores two trivial predictions (background everywhere, crack everywhere) on the masks "
                       "of --split with the same metrics as teacher eval, for comparison with a trained teacher "
                       "(teacher eval prints them beside the model's numbers too).")
    p.add_argument("--data", type=Path, required=True, help="canonical dataset folder")
    p.add_argument("--split", default="val", help="split to score (default val)")
    p.add_argument("--img-size", type=int, default=448,
                   help="resize the masks (nearest) to this square size, as teacher eval does for a model of that input "
                   "size; 0: their own size (default 448)")
    p.add_argument("--threshold", type=float, default=0.5, help="crack probability threshold (default 0.5)")
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
    p.add_argument("--img-size", type=int, default=448, help="input side in pixels, multiple of 16 (default: 448)")
    p.add_argument("--adapter-dim", type=int, default=32, help="adapter middle dimension d (default: 32)")
    p.add_argument("--lora-rank", type=int, default=4, help="LoRA rank r (default: 4)")
    p.add_argument("--lora-targets", nargs="+", choices=get_args(LoRATarget), default=["q", "v"], help="LoRA targets (default: q v)")
    p.set_defaults(func=cmd_params)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teacher", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in (_add_train, _add_eval, _add_predict, _add_cache, _add_baseline, _add_params):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
