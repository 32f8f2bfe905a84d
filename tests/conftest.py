"""Shared fixtures and marker handling.

- `data` tests need the real datasets (../shared/datasets beside the checkout, or
  $CRACKEDGE_SHARED_DATA); they are skipped with a reason when absent.
- `gpu` tests need CUDA; `pi` tests need Raspberry Pi hardware; both skip elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path:
    env = os.environ.get("CRACKEDGE_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    data_dir = shared_datasets_dir()
    skip_data = pytest.mark.skip(reason=f"real datasets not found at {data_dir} (set CRACKEDGE_SHARED_DATA)")
    skip_gpu = pytest.mark.skip(reason="no CUDA GPU")
    skip_pi = pytest.mark.skip(reason="needs Raspberry Pi hardware")
    skip_browser = pytest.mark.skip(reason="headless Chromium not found (apt install chromium)")
    has_data = data_dir.is_dir()
    has_browser = shutil.which("chromium") is not None or shutil.which("chromium-browser") is not None
    gpu_checked: bool | None = None
    for item in items:
        if "data" in item.keywords and not has_data:
            item.add_marker(skip_data)
        if "gpu" in item.keywords:
            if gpu_checked is None:
                gpu_checked = _has_cuda()
            if not gpu_checked:
                item.add_marker(skip_gpu)
        if "pi" in item.keywords:
            item.add_marker(skip_pi)
        if "browser" in item.keywords and not has_browser:
            item.add_marker(skip_browser)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_datasets_dir()


def run_python_without_torch(code: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter where importing torch, timm or segment_anything fails."""
    prelude = (
        "import sys\n"
        "for _m in ('torch', 'torchvision', 'timm', 'segment_anything'):\n"
        "    sys.modules[_m] = None\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=str(cwd or REPO_ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
