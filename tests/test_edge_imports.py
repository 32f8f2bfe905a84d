"""`edge` never imports torch (not even lazily), and no heavy runtime at import time."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import edge
from tests.conftest import run_python_without_torch


def _edge_modules() -> list[str]:
    """Every module of edge and of the ground parts it runs on: the runtime and the evaluator."""
    import crackedge.evaluation
    import crackedge.runtime

    mods = []
    for pkg in (edge, crackedge.runtime, crackedge.evaluation):
        root = Path(pkg.__file__).parent
        mods += [m.name for m in pkgutil.walk_packages([str(root)], prefix=pkg.__name__ + ".")]
    return sorted(m for m in mods if not m.endswith("__main__"))


def test_every_edge_module_imports_with_torch_blocked() -> None:
    mods = _edge_modules()
    assert {"edge.cli", "edge.pipeline", "edge.daemon", "edge.sources.picam",
            "crackedge.runtime.backends.openvino_backend", "crackedge.evaluation.loop"} <= set(mods)
    code = (
        "import importlib, sys\n"
        f"mods = {mods!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "heavy = [m for m in ('torch', 'torchvision', 'timm', 'segment_anything', 'openvino', 'picamera2', 'simplejpeg', 'onnx')\n"
        "         if sys.modules.get(m) is not None]\n"
        "print('HEAVY', heavy)\n"
        "from edge.cli import build_parser\n"
        "build_parser().parse_args(['check-config', 'x.yaml'])\n"
    )
    res = run_python_without_torch(code)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stdout, res.stdout


def test_no_edge_source_mentions_torch() -> None:
    root = Path(edge.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for name in ("import torch", "from torch", "import timm", "segment_anything", "torchvision"):
            assert name not in text, f"{path} mentions {name}"
