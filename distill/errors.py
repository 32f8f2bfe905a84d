"""Errors raised by `distill` for user input (checkpoints, export targets, bundles)."""

from __future__ import annotations

from crackedge.errors import CrackedgeError
from crackedge.export.errors import ExportError, UnsupportedOpsError

__all__ = ["CheckpointError", "ExportError", "UnsupportedOpsError"]


class CheckpointError(CrackedgeError):
    """A student checkpoint or a weights file is missing, unreadable or does not fit the model."""
