"""Shared plumbing for the thin CLIs: logging setup and user errors printed without a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from crackedge.errors import CrackedgeError

EXIT_USER_ERROR = 2


# (logger, message start) of third-party warnings that say nothing to a user of these commands
HARMLESS = (
    # torch's C++-extension helper, imported by NNCF, on a machine with a CUDA toolkit but no GPU
    ("torch.utils.cpp_extension", "No CUDA runtime is found"),
)


def _drop_harmless(record: logging.LogRecord) -> bool:
    return not any(record.name == name and record.getMessage().startswith(start) for name, start in HARMLESS)


def setup_logging(verbose: int = 0) -> None:
    level = logging.WARNING - 10 * min(verbose, 2) if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for name, _ in HARMLESS:
        logging.getLogger(name).addFilter(_drop_harmless)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")


def run_subcommand(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse `argv`, call the chosen sub-command's `func(args) -> int`, map user errors to exit 2.

    Sub-parsers set `func` with `set_defaults(func=...)`. A CrackedgeError is printed as
    `error: <message>` on stderr; anything else is a bug and keeps its traceback.
    """
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USER_ERROR
    setup_logging(getattr(args, "verbose", 0))
    try:
        return int(func(args) or 0)
    except CrackedgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
