"""ONNX export at opset 11 with the TorchScript exporter, and checks of what was written.

The dynamo exporter (torch.onnx.export(dynamo=True), the default in new torch) ignores
opset_version=11, writes opset 18 and does not raise (FACTS.md); so we export with dynamo=False
and read the opset back from the file.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from crackedge.export.errors import ExportError

log = logging.getLogger(__name__)

ONNX_OPSET = 11
INPUT_NAME = "image"
OUTPUT_NAME = "crack"


def export_onnx(module, path: Path, input_size: tuple[int, int], opset: int = ONNX_OPSET) -> Path:
    """Export `module` (eval mode; x: 1 x 3 x H x W) to `path`, then check opset and graph.

    Static shapes (batch 1, H x W = input_size): what OpenVINO 2022.3 / the NCS2 want.
    Raises ExportError if the file's opset is not `opset` or onnx.checker rejects it.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, *input_size, dtype=torch.float32)
    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in torch 2.9+ and says so; it is the one that honours opset 11.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        # Static-shape comparisons in the heads are constant for the fixed export size.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            (dummy,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            do_constant_folding=True,
        )
    check_onnx(path, opset)
    return path


def onnx_opset(model) -> int:
    """The default-domain opset version of an onnx.ModelProto (0 when absent)."""
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 0


def check_onnx(path: Path, opset: int = ONNX_OPSET) -> None:
    """onnx.checker.check_model + the written opset must equal `opset`; ExportError otherwise."""
    import onnx

    model = onnx.load(str(path))
    written = onnx_opset(model)
    if written != opset:
        raise ExportError(
            f"{path}: written with ONNX opset {written}, expected {opset} (the NCS2's OpenVINO 2022.3 needs it). "
            "Was it exported with the dynamo exporter? Use torch.onnx.export(..., dynamo=False)."
        )
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:  # onnx raises ValidationError / InferenceError
        raise ExportError(f"{path}: onnx.checker rejected the exported model: {err}") from None
    log.info("ONNX written: %s (opset %d, %d nodes)", path, written, len(model.graph.node))
