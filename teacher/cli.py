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
# (The docstring above is the --help text.) The options and commands: teacher.cli_train (train),
# teacher.cli_eval (eval, predict, cache-logits, baseline), teacher.cli_export (export); params and the parser here.

from __future__ import annotations

import argparse
from typing import Sequence, get_args

from crackedge.cli_options import square_size
from crackedge.cliutil import add_common_args, run_subcommand
from teacher.cli_eval import add_baseline, add_cache, add_eval, add_predict, cmd_baseline, cmd_cache_logits, cmd_eval, cmd_predict
from teacher.cli_export import add_export, cmd_export
from teacher.cli_train import MODEL_OPTIONS, SIZE_OPTION, TRAIN_OPTIONS, add_train, cmd_train, train_config_from_args
from teacher.models.sam_config import SAM_ARCHS, DeltaKind, LoRATarget

__all__ = ["BACKBONES", "DELTAS", "MODEL_OPTIONS", "SIZE_OPTION", "TRAIN_OPTIONS", "build_parser", "cmd_baseline",
           "cmd_cache_logits", "cmd_eval", "cmd_export", "cmd_params", "cmd_predict", "cmd_train", "main",
           "train_config_from_args"]

BACKBONES = tuple(SAM_ARCHS)
DELTAS = get_args(DeltaKind)


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
    for add in (add_train, add_eval, add_predict, add_cache, add_baseline, _add_params, add_export):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
