"""ONNX -> OpenVINO IR with FP16-compressed weights (OpenVINO 2023+)."""

from __future__ import annotations

from pathlib import Path

from crackedge.errors import require


def ir_files(xml_path: Path) -> list[Path]:
    """The two files of an IR: model.xml and model.bin."""
    return [Path(xml_path), Path(xml_path).with_suffix(".bin")]


def save_ir_fp16(onnx_path: Path, xml_path: Path) -> list[Path]:
    """Convert `onnx_path` to OpenVINO IR with FP16-compressed weights (OpenVINO 2023+); returns its files."""
    ov = require("openvino", "train", "OpenVINO IR export")
    model = ov.convert_model(str(onnx_path))
    ov.save_model(model, str(xml_path), compress_to_fp16=True)
    return ir_files(xml_path)
