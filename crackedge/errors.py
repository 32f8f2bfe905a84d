"""User-facing errors: every message names the file, key or value at fault and the fix."""

from __future__ import annotations


class CrackedgeError(Exception):
    """An error caused by the user's input or environment, printed without a traceback by the CLIs."""


class ConfigError(CrackedgeError):
    """A configuration file or value is invalid."""


class DataError(CrackedgeError):
    """A dataset, image or mask cannot be used as given."""


class MissingDependencyError(CrackedgeError):
    """An optional package is needed for this command but is not installed."""


def require(module: str, extra: str, purpose: str):
    """Import an optional module or raise a MissingDependencyError that says how to install it.

    >>> np = require("numpy", "core", "arrays")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{module.split('.')[0]}', which is not importable "
            f"({exc}). Install it with: pip install 'crackedge[{extra}]'"
        ) from exc
