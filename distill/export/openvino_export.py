"""OpenVINO IR from the exported ONNX: FP16 weights, and optional INT8 by NNCF post-training quantization."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from crackedge.errors import require

log = logging.getLogger(__name__)


def ir_files(xml_path: Path) -> list[Path]:
    """The two files of an IR: model.xml and model.bin."""
    return [Path(xml_path), Path(xml_path).with_suffix(".bin")]


def save_ir_fp16(onnx_path: Path, xml_path: Path) -> list[Path]:
    """Convert `onnx_path` to OpenVINO IR with FP16-compressed weights (OpenVINO 2023+); returns its files."""
    ov = require("openvino", "train", "OpenVINO IR export")
    model = ov.convert_model(str(onnx_path))
    ov.save_model(model, str(xml_path), compress_to_fp16=True)
    return ir_files(xml_path)


def save_ir_int8(onnx_path: Path, xml_path: Path, calibration: Sequence, transform: Callable[[object], np.ndarray],
                 preset: str = "performance", fast_bias_correction: bool = True) -> list[Path]:
    """NNCF post-training INT8 quantization of the float model, saved as IR; returns its files.

    calibration: items (e.g. images) that `transform` turns into network inputs float32 1x3xHxW,
    preprocessed exactly as the bundle's metadata says. preset: "performance" (symmetric
    activations and weights) or "mixed" (asymmetric activations). fast_bias_correction=False runs
    NNCF's full bias correction: minutes instead of seconds, and on a distilled HRNet-W18 the
    difference between missing and meeting the 0.02 IoU criterion (docs/distill.md).
    """
    ov = require("openvino", "train", "OpenVINO IR export")
    nncf = require("nncf", "train", "INT8 quantization")
    presets = {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED}
    model = ov.convert_model(str(onnx_path))
    dataset = nncf.Dataset(list(calibration), transform)
    quantized = nncf.quantize(model, dataset, subset_size=len(calibration), preset=presets[preset],
                              fast_bias_correction=fast_bias_correction)
    ov.save_model(quantized, str(xml_path), compress_to_fp16=True)
    log.info("INT8 IR written: %s (%d calibration images, preset %s, %s bias correction)", xml_path,
             len(calibration), preset, "fast" if fast_bias_correction else "full")
    return ir_files(xml_path)
