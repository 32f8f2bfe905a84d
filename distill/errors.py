"""Errors raised by `distill` for user input (checkpoints, export targets, bundles)."""

from __future__ import annotations

from crackedge.errors import CrackedgeError


class CheckpointError(CrackedgeError):
    """A student checkpoint or a weights file is missing, unreadable or does not fit the model."""


class ExportError(CrackedgeError):
    """The model cannot be exported as asked (wrong opset, unsupported op, failed parity)."""


class UnsupportedOpsError(ExportError):
    """The exported graph contains ops the chosen target cannot run."""
