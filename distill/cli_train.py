"""`distill train` options, generated from DistillTrainConfig (one vocabulary with `distill compare`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from crackedge.cli_options import add_config_options, add_out, config_from_options, square_size
from crackedge.errors import ConfigError

# option -> DistillTrainConfig field; help, type, choices and defaults come from the model
STUDENT_OPTIONS = {
    "--student": "student.name",
    "--backbone-weights": "student.weights",
    "--size": "student.size",
}
TEACHER_OPTIONS = {
    "--teacher": "teacher.kind",
    "--teacher-checkpoint": "teacher.checkpoint",
    "--sam-checkpoint": "teacher.sam_checkpoint",
    "--teacher-cache": "teacher.cache",
}
LOSS_OPTIONS = {
    "--soft-loss": "loss.soft",
    "--cwd-weight": "loss.cwd_weight",
    "--kl-weight": "loss.kl_weight",
    "--pseudo-weight": "loss.pseudo_weight",
    "--temperature": "loss.temperature",
    "--soft-warmup-steps": "loss.soft_warmup_steps",
    "--soft-on": "loss.soft_on",
}
DATA_OPTIONS = {
    "--data": "data.root",
    "--train-split": "data.train_split",
    "--variants": "data.variants",
    "--data-seed": "data.seed",
    "--labeled-fraction": "data.labeled_fraction",
    "--unlabeled-share": "data.unlabeled_share",
    "--augment": "data.augment",
    "--batch-dihedral": "data.batch_dihedral",
    "--crop": "data.crop",
    "--photometric": "data.photometric",
}
OPTIM_OPTIONS = {
    "--steps": "optim.steps",
    "--epochs": "optim.epochs",
    "--batch-size": "optim.batch_size",
    "--lr": "optim.lr",
    "--warmup-steps": "optim.warmup_steps",
    "--eval-every": "optim.eval_every",
    "--val-basis": "optim.val_basis",
    "--max-minutes": "optim.max_minutes",
    "--workers": "optim.workers",
    "--amp": "optim.amp",
    "--device": "device",
    "--seed": "seed",
}
TRAIN_OPTIONS = {**STUDENT_OPTIONS, **TEACHER_OPTIONS, **LOSS_OPTIONS, **DATA_OPTIONS, **OPTIM_OPTIONS}


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Every DistillTrainConfig option, in groups, plus --config, --val-split and --unlabeled."""
    from distill.train_config import DistillTrainConfig

    p.add_argument("--config", type=Path, metavar="YAML",
                   help="a DistillTrainConfig file (student, teacher, data, loss, optim, device); options override it")
    for title, options in (("student", STUDENT_OPTIONS), ("teacher", TEACHER_OPTIONS), ("loss", LOSS_OPTIONS),
                           ("data", DATA_OPTIONS), ("optimisation (budget in steps)", OPTIM_OPTIONS)):
        add_config_options(p.add_argument_group(title), DistillTrainConfig, options, types={"--size": square_size})
    p.add_argument("--val-split", metavar="NAME", help="validation split, or 'none' (default val)")
    p.add_argument("--unlabeled", type=Path, nargs="+", metavar="DIR",
                   help="folders or files of unlabeled images (an `edge run` output folder gives its raw frames); "
                   "they get the soft loss only")


def train_config_from_args(args: argparse.Namespace):
    """DistillTrainConfig from --config (optional YAML) with the command-line options on top."""
    from distill.train_config import DistillTrainConfig

    extra: dict = {}
    if args.val_split is not None:
        extra["data.val_split"] = None if args.val_split.lower() == "none" else args.val_split
    if args.unlabeled:
        extra["data.unlabeled"] = [str(p) for p in args.unlabeled]
    if args.config is None and args.data is None:
        raise ConfigError("pass --data DIR (a canonical dataset), or set data.root in --config")
    return config_from_options(DistillTrainConfig, args, TRAIN_OPTIONS, args.config, extra)


def cmd_train(args: argparse.Namespace) -> int:
    from crackedge.training.loop import budget_warning
    from distill.train import train_student

    cfg = train_config_from_args(args)
    result = train_student(cfg, args.out, resume=args.resume)
    print(f"best validation IoU {result.best_iou:.4f} at step {result.best_step} of {result.last_step}")
    print(f"checkpoint: {Path(args.out) / 'best.pt'}   curves: {Path(args.out) / 'curves.png'}")
    warning = budget_warning(Path(args.out))
    if warning:
        print(warning)
    return 0


def add_train(sub, add_common_args) -> None:
    p = sub.add_parser(
        "train",
        help="train a student from ground truth and a teacher (CWD, KL, pseudo-labels), labeled and unlabeled images",
        description="Train a student with 0.2 CE + 0.8 Dice on the labeled masks plus a soft loss against a "
        "teacher's logits (--soft-loss cwd: channel-wise distillation, weight 5; kl: pixel-wise KL; pseudo: the hard loss against the "
        "teacher's mask; or several joined by '+', e.g. kl+pseudo), live "
        "(--teacher-checkpoint) or from a `teacher cache-logits` cache (--teacher-cache; the teacher never runs). "
        "Unlabeled images (--unlabeled DIR, or the split's items beyond --labeled-fraction) get the soft loss only; "
        "--unlabeled-share of each batch is drawn from them. Without a teacher: hard loss only. AdamW, warm-up + "
        "poly; the budget is --steps (or --epochs); --max-minutes is a safety net that says loudly when it cuts a "
        "run. Writes OUT/config.yaml, best.pt (best validation IoU; what `distill export` takes), last.pt "
        "(--resume), history.jsonl, curves.png, budget.yaml. Example: distill train --teacher-cache runs/cache "
        "--student hrnet_w18 --data data/crack500 --size 224 --steps 600 --out runs/hr18",
    )
    add_common_args(p)
    add_out(p)
    add_train_options(p)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.set_defaults(func=cmd_train)
