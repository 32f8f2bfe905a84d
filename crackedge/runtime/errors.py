"""Errors the edge daemon reports to the user (printed as `error: ...`, exit status 2)."""

from __future__ import annotations

from crackedge.errors import CrackedgeError


class DeviceError(CrackedgeError):
    """The configured inference device is not available; the message lists what was found."""


class InferenceError(CrackedgeError):
    """The runtime could not load or compile the model."""
