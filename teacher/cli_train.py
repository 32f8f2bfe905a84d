"""`teacher train` options: generated from TeacherTrainConfig and the model configs (CrackSAM, PARNet), read
into a TeacherTrainConfig on top of --config, and the command itself."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict

from crackedge.cli_options import add_out, square_size
from crackedge.config import read_yaml_mapping
from crackedge.errors import ConfigError
from teacher.train_config import MODEL_NAMES

# option -> TeacherTrainConfig field, for every model (help, type and choices from the config models)
TRAIN_OPTIONS = {
    "--data": "data.root",
    "--train-split": "data.train_split",
    "--seed": "data.seed",
    "--labeled-fraction": "data.labeled_fraction",
    "--pseudo-labels": "data.pseudo_labels",
    "--photometric": "data.photometric",
    "--crop": "data.crop",
    "--epochs": "optim.epochs",
    "--steps": "optim.steps",
    "--batch-size": "optim.batch_size",
    "--lr": "optim.lr",
    "--warmup-steps": "optim.warmup_steps",
    "--power": "optim.power",
    "--eval-every": "optim.eval_every",
    "--val-basis": "optim.val_basis",
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


def add_train(sub: argparse._SubParsersAction) -> None:
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
