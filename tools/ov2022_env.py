"""The OpenVINO 2022.3 test environment: a Python 3.10 venv with openvino==2022.3.2 and the NCS2 set.

OpenVINO 2022.3 (the last release with the NCS2/MYRIAD plugin) has PyPI wheels for x86_64 and
CPython 3.7-3.10 only, and requires numpy < 1.25. This venv - `build/ov2022-venv`: crackedge's
requirements and its `ncs2` extra (read from pyproject.toml) with `constraints/ncs2.txt` - is where
`tests/test_openvino_2022.py` runs the edge backend's 2022.3 code path for real, with this checkout
on PYTHONPATH. crackedge itself is not built into the venv: an editable install of a checkout
whose `.venv` holds the training stack (6.5 GB) kept pip at full CPU for over 12 minutes; the
requirements alone install in under a minute.

    python tools/ov2022_env.py            create or update the venv (needs PyPI once); prints its python
    python tools/ov2022_env.py --check    print the python, or why there is none; exit 1 when none

Python 3.10 is looked up as $CRACKEDGE_PY310, `python3.10` on PATH, then pyenv's 3.10.x builds.
Stdlib only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / "build" / "ov2022-venv"
CONSTRAINTS = REPO / "constraints" / "ncs2.txt"
OPENVINO = "openvino==2022.3.2"
NO_PYTHON = ("no Python 3.10 on this machine (OpenVINO 2022.3 has wheels for CPython 3.7-3.10 on x86_64 only; "
             "Debian 12 ships 3.11): set CRACKEDGE_PY310=/path/to/python3.10, or `pyenv install 3.10`")


def find_python310() -> Optional[Path]:
    """A Python 3.10 interpreter, or None."""
    candidates = [os.environ.get("CRACKEDGE_PY310", ""), shutil.which("python3.10") or ""]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(str(pyenv_root / "versions" / "3.10*" / "bin" / "python3.10")), reverse=True)
    for c in candidates:
        if c and Path(c).is_file() and _version(Path(c)) == "3.10":
            return Path(c)
    return None


def _version(python: Path) -> str:
    try:
        out = subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def venv_python(venv: Optional[Path] = None) -> Path:
    return (venv or VENV) / "bin" / "python"


def requirements(pyproject: Optional[Path] = None) -> list[str]:
    """What `pip install "crackedge[ncs2]"` installs besides crackedge: its dependencies and the extra."""
    import tomllib

    project = tomllib.loads((pyproject or REPO / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"]) + list(project["optional-dependencies"]["ncs2"])


def _stamp() -> str:
    h = hashlib.sha256()
    for p in (CONSTRAINTS, REPO / "pyproject.toml"):
        h.update(p.read_bytes())
    return h.hexdigest()[:16] + " " + OPENVINO


def ready(venv: Optional[Path] = None) -> bool:
    """True when the venv exists and was made from today's constraints and pyproject."""
    venv = venv or VENV
    stamp = venv / ".crackedge-ov2022"
    return venv_python(venv).is_file() and stamp.is_file() and stamp.read_text().strip() == _stamp()


def ensure(venv: Optional[Path] = None, python: Optional[Path] = None) -> Path:
    """Create or update the venv; returns its python. RuntimeError naming the step that failed."""
    venv = venv or VENV
    if ready(venv):
        return venv_python(venv)
    python = python or find_python310()
    if python is None:
        raise RuntimeError(NO_PYTHON)
    if not venv_python(venv).is_file():
        subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    cmd = [str(venv_python(venv)), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS), OPENVINO, "pytest",
           *requirements()]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{done.stdout}{done.stderr}")
    (venv / ".crackedge-ov2022").write_text(_stamp() + "\n")
    return venv_python(venv)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only report; create nothing")
    args = ap.parse_args(argv)
    if args.check:
        if ready():
            print(venv_python())
            return 0
        py = find_python310()
        print(f"{VENV} not created yet (python 3.10: {py})" if py else NO_PYTHON)
        return 1
    try:
        print(ensure())
    except RuntimeError as err:
        print(f"skipped: {err}" if str(err) == NO_PYTHON else f"error: {err}", file=sys.stderr)
        return 0 if str(err) == NO_PYTHON else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
