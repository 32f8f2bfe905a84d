"""`teacher`: the large crack-segmentation teachers (CrackSAM, PARNet).

Commands:
  params   parameter counts (total / trainable) of CrackSAM variants, measured without allocating weights
(train, eval, predict and cache-logits follow once crackedge.training and crackedge.data land.)
"""

from __future__ import annotations

import argparse
from typing import Sequence, get_args

from crackedge.cliutil import add_common_args, run_subcommand
from teacher.models.sam_config import SAM_ARCHS, DeltaKind, LoRATarget

BACKBONES = tuple(SAM_ARCHS)
DELTAS = get_args(DeltaKind)


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
    _add_params(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
