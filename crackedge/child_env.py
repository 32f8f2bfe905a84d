"""The environment for a child `python -m edge|distill|...` started by this code."""

from __future__ import annotations

import os
from pathlib import Path


def checkout_env() -> dict[str, str]:
    """os.environ with this checkout first on PYTHONPATH, so the child imports the same code even
    when the package is not installed."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env
