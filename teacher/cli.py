"""`teacher`: the large crack-segmentation teachers (CrackSAM: SAM + adapter/LoRA, prompt-free).

Commands:
  train          fine-tune CrackSAM on a canonical dataset (writes best.pt, last.pt, curves.png)
  eval           metrics of a trained teacher on a split, per noise case, with overlays
  predict        crack masks and overlays for image files
  cache-logits   run the teacher once over a split's augmented views for distillation
  params         parameter counts (total / trainable) of CrackSAM variants, without allocating weights

A trained CrackSAM checkpoint is a "delta" (adapters/LoRA + decoder, a few MB) on top of the original
SAM weights: pass those with --sam-checkpoint wherever a checkpoint is loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Sequence, get_args

from crackedge.cliutil import add_common_args, run_subcommand
from crackedge.errors import ConfigError
from teacher.models.sam_config import SAM_ARCHS, DeltaKind, LoRATarget

BACKBONES = tuple(SAM_ARCHS)
DELTAS = get_args(DeltaKind)
NOISE_CASES = ("clean", "dim", "blurry")


def _set(data: Dict[str, Any], dotted: str, value: Any) -> None:
    """data["a"]["b"] = value for dotted = "a.b" (only when value is not None)."""
    if value is None:
        return
    *parents, leaf = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[leaf] = value


# option name -> key in TeacherTrainConfig
TRAIN_OVERRIDES = {
    "data": "data.root",
    "train_split": "data.train_split",
    "seed": "data.seed",
    "backbone": "model.backbone",
    "delta": "model.delta",
    "img_size": "model.img_size",
    "adapter_dim": "model.adapter.dim",
    "lora_rank": "model.lora.rank",
    "sam_checkpoint": "sam_checkpoint",
    "epochs": "optim.epochs",
    "steps": "optim.steps",
    "batch_size": "optim.batch_size",
    "lr": "optim.lr",
    "warmup_steps": "optim.warmup_steps",
    "eval_every": "optim.eval_every",
    "max_minutes": "optim.max_minutes",
    "workers": "optim.workers",
    "device": "device",
}


def train_config_from_args(args: argparse.Namespace) -> Any:
    """TeacherTrainConfig from --config (optional YAML) with the command-line options on top."""
    from crackedge.config import load_config, parse_config
    from teacher.train import TeacherTrainConfig

    data: Dict[str, Any] = {}
    source = "teacher train options"
    if args.config is not None:
        data = load_config(args.config, TeacherTrainConfig).model_dump(mode="json")  # validates the file itself
        source = f"{args.config} + command-line options"
    for option, key in TRAIN_OVERRIDES.items():
        value = getattr(args, option)
        _set(data, key, str(value) if isinstance(value, Path) else value)
    if args.val_split is not None:
        data.setdefault("data", {})["val_split"] = None if args.val_split.lower() == "none" else args.val_split
    if "root" not in data.get("data", {}):
        raise ConfigError("pass --data DIR (a canonical dataset), or set data.root in --config")
    if args.train_encoder:
        _set(data, "model.freeze_image_encoder", False)
    if args.no_amp:
        _set(data, "optim.amp", False)
    return parse_config(data, TeacherTrainConfig, source=source)


def cmd_train(args: argparse.Namespace) -> int:
    from teacher.train import train_teacher

    cfg = train_config_from_args(args)
    result = train_teacher(cfg, args.out, resume=args.resume)
    print(f"best validation IoU {result.best_iou:.4f} at step {result.best_step} of {result.last_step}")
    print(f"checkpoint: {Path(args.out) / 'best.pt'}   curves: {Path(args.out) / 'curves.png'}")
    return 0


def _load(args: argparse.Namespace) -> Any:
    from crackedge.training.runtime import pick_device
    from teacher.api import load_teacher

    device = pick_device(args.device)
    return load_teacher(args.checkpoint, args.sam_checkpoint, device), device


def cmd_eval(args: argparse.Namespace) -> int:
    from teacher.evaluate import evaluate_teacher

    model, device = _load(args)
    reports = evaluate_teacher(
        model, args.data, args.split, args.out, args.noise, device, args.batch_size, args.threshold,
        args.overlays, args.amp, args.workers,
    )
    for case, report in reports.items():
        print(report.format(f"== {args.split} ({case}) =="))
    print(f"metrics: {Path(args.out) / 'metrics.yaml'}   overlays: {Path(args.out)}/overlays_*.jpg")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from teacher.predict import predict_images

    model, device = _load(args)
    masks = predict_images(model, args.inputs, args.out, device, args.threshold, args.amp)
    print(f"{len(masks)} mask(s) in {Path(args.out) / 'masks'}, overlays in {Path(args.out) / 'overlays'}")
    return 0


def cmd_cache_logits(args: argparse.Namespace) -> int:
    from teacher.cache_logits import cache_teacher_logits

    model, device = _load(args)
    path = cache_teacher_logits(
        model, args.checkpoint, args.data, args.split, args.out, args.variants, args.seed, not args.no_augment,
        args.channels, device, args.batch_size, args.amp, args.workers,
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
        help="fine-tune CrackSAM on a canonical dataset",
        description="Fine-tune CrackSAM (frozen SAM image encoder + adapter/LoRA deltas, trainable prompt encoder "
        "and mask decoder) with 0.2 CE + 0.8 Dice, AdamW, warm-up + poly schedule. Writes OUT/config.yaml, "
        "best.pt (best validation IoU; a teacher checkpoint), last.pt (resume), history.jsonl, curves.png. "
        "Options override the values of --config. Example: teacher train --data data/khanhha --out runs/cracksam "
        "--backbone vit_h --delta adapter --sam-checkpoint sam_vit_h_4b8939.pth",
    )
    p.add_argument("--data", type=Path, help="canonical dataset folder (or data.root in --config)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--config", type=Path, help="YAML file of TeacherTrainConfig (model, sam_checkpoint, data, optim, device)")
    p.add_argument("--backbone", choices=BACKBONES, help="SAM image encoder (default vit_h)")
    p.add_argument("--delta", choices=DELTAS, help="adapter | lora | both | none (default adapter)")
    p.add_argument("--sam-checkpoint", type=Path, help="original SAM weights, e.g. sam_vit_h_4b8939.pth (needed except for tiny)")
    p.add_argument("--img-size", type=int, help="input side, multiple of 16 (default 448)")
    p.add_argument("--train-encoder", action="store_true", help="train the image encoder too (tiny model from scratch)")
    p.add_argument("--adapter-dim", type=int, help="adapter middle dimension (default 32)")
    p.add_argument("--lora-rank", type=int, help="LoRA rank (default 4)")
    p.add_argument("--train-split", help="training split (default train)")
    p.add_argument("--val-split", help="validation split (default val; 'none' for no validation)")
    p.add_argument("--epochs", type=float, help="training epochs (default 20; ignored with --steps)")
    p.add_argument("--steps", type=int, help="optimiser steps")
    p.add_argument("--batch-size", type=int, help="images per step (default 4)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 4e-4)")
    p.add_argument("--warmup-steps", type=int, help="linear warm-up steps (default 300)")
    p.add_argument("--eval-every", type=int, help="validate every N steps (default 200)")
    p.add_argument("--max-minutes", type=float, help="stop (evaluate and save) after this wall-clock time")
    p.add_argument("--workers", type=int, help="data-loader workers (default 0)")
    p.add_argument("--seed", type=int, help="augmentation/sampling/initialisation seed (default 0)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
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
    p.add_argument("--channels", type=int, choices=(1, 2), default=2, help="2: both logits; 1: crack margin (default 2)")
    p.add_argument("--batch-size", type=int, default=2, help="images per forward pass (default 2)")
    p.add_argument("--workers", type=int, default=0, help="data-loader workers (default 0)")
    p.set_defaults(func=cmd_cache_logits)


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
    for add in (_add_train, _add_eval, _add_predict, _add_cache, _add_params):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
