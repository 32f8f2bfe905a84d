"""Print the lowest versions pyproject.toml declares for the core and the given extras, as pins.

    python tools/floors.py edge    ->  numpy==1.23.2  opencv-python-headless==4.6 ...  (one per line)

`make test-floors` installs exactly these into a fresh venv and runs the edge tests, so a floor that
cannot be installed or does not work is found by CI, not by a user on a Pi.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*$")


def floors(pyproject: Path, extras: list[str]) -> list[str]:
    """`name==floor` for every `name>=floor` requirement of the core and `extras` (others are an error)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    pins = []
    for req in reqs:
        m = FLOOR.match(req.split(";")[0])
        if not m:
            raise SystemExit(f"{pyproject}: requirement {req!r} has no plain '>=' floor to test")
        pins.append(f"{m.group(1)}=={m.group(2)}")
    return pins


if __name__ == "__main__":
    print("\n".join(floors(Path(__file__).resolve().parent.parent / "pyproject.toml", sys.argv[1:])))
