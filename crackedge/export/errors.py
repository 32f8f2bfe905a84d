"""Errors of the export machinery shared by `distill export` and `teacher export`."""

from __future__ import annotations

from crackedge.errors import CrackedgeError


class ExportError(CrackedgeError):
    """The model cannot be exported as asked (wrong opset, unsupported op, failed parity)."""


class UnsupportedOpsError(ExportError):
    """The exported graph contains ops the chosen target cannot run."""
