"""`distill` command line: a thin layer over library functions (placeholder until the distill issue lands)."""

from __future__ import annotations

import argparse
from typing import Sequence

from crackedge.cliutil import add_common_args, run_subcommand


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill", description=__doc__)
    add_common_args(parser)
    parser.add_subparsers(title="commands", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
