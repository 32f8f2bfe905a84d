"""A small registry of student networks, keyed by name (timm `register_model` style).

Build functions live in one file per family (`hrnet.py`, `resnet.py`, `mobilenet.py`) and
register themselves with `@register_student(name)`; importing `distill.students` imports every
family, so the registry is full before `build_student` runs. `build_student(name)` with an unknown
name raises ValueError listing the valid names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from crackedge.errors import CrackedgeError

if TYPE_CHECKING:
    from distill.students.segmentor import StudentSegmentor

BuildFn = Callable[..., "StudentSegmentor"]

_REGISTRY: dict[str, BuildFn] = {}


class UnknownStudentError(CrackedgeError, ValueError):
    """An unknown student name (a ValueError, and a user error the CLIs print without a traceback)."""


def register_student(name: str) -> Callable[[BuildFn], BuildFn]:
    """Decorator: register `fn(weights: Path | None = None) -> StudentSegmentor` under `name`."""

    def deco(fn: BuildFn) -> BuildFn:
        if name in _REGISTRY:
            raise ValueError(f"student {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def list_students() -> list[str]:
    """Names of all registered students, sorted."""
    return sorted(_REGISTRY)


def build_student(name: str, weights: Optional[Path] = None) -> "StudentSegmentor":
    """Build the student `name`; backbone weights from a local timm state-dict file when given.

    Raises ValueError for an unknown name (listing the valid ones) and CheckpointError when the
    weights file is missing or does not fit the backbone.
    """
    if name not in _REGISTRY:
        raise UnknownStudentError(f"unknown student {name!r}; valid students: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](weights=weights)
