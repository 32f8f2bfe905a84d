"""Atomic checkpoint files (torch.save to a temp file, then rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from crackedge.errors import CrackedgeError


class CheckpointError(CrackedgeError):
    """A checkpoint file is missing, unreadable or of the wrong kind."""


def save_checkpoint(path: str | Path, obj: dict[str, Any]) -> Path:
    """torch.save `obj` atomically: an interrupted save never corrupts the previous file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, what: str = "checkpoint", hint: str = "") -> dict[str, Any]:
    """Load a checkpoint dict on CPU; CheckpointError naming the file (and `hint`) on failure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}" + (f" ({hint})" if hint else ""))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated zip, pickle errors, ...
        raise CheckpointError(f"{what} {path} could not be read ({type(err).__name__}: {err}); is the file complete?") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} {path} holds a {type(obj).__name__}, not a checkpoint dictionary")
    return obj
