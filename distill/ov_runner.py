"""A minimal OpenVINO (2023+) runner for export checks and `distill eval`.

Kept small on purpose; the vehicle runtime is `edge`'s (distill never imports edge). The CPU
plugin picks bf16 on x86 CPUs that have it and f16 on ARMv8.2 unless told otherwise, so the
inference precision is always set explicitly here and read back from the compiled model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from crackedge.errors import MissingDependencyError, require

# OpenVINO OPTIMIZATION_CAPABILITIES entries -> INFERENCE_PRECISION_HINT values.
_CAPABILITY_TO_PRECISION = {"FP32": "f32", "BF16": "bf16", "FP16": "f16"}


def _ov():
    return require("openvino", "train", "OpenVINO inference")


def cpu_precisions(device: str = "CPU") -> list[str]:
    """Inference precisions `device` offers here, in order f32, bf16, f16 (f32 always first)."""
    caps = _ov().Core().get_property(device, "OPTIMIZATION_CAPABILITIES")
    found = [_CAPABILITY_TO_PRECISION[c] for c in caps if c in _CAPABILITY_TO_PRECISION]
    return [p for p in ("f32", "bf16", "f16") if p in found or p == "f32"]


def default_precision(device: str = "CPU") -> Optional[str]:
    """The inference precision `device` runs when no hint is set ('bf16' on x86 with bf16, 'f16' on
    ARMv8.2, else 'f32'); None when the device does not report one."""
    try:
        value = _ov().Core().get_property(device, "INFERENCE_PRECISION_HINT")
    except RuntimeError:
        return None
    name = value.get_type_name() if hasattr(value, "get_type_name") else str(value)
    return {"bfloat16": "bf16", "float16": "f16", "float32": "f32"}.get(name, name)


class OpenVINORunner:
    """Compile an IR (.xml) or ONNX file and run it on single preprocessed inputs.

    runner(x: float32 1 x 3 x H x W) -> float32 array of the model's one output.
    """

    def __init__(self, model_path: Path, device: str = "CPU", precision: Optional[str] = None,
                 threads: Optional[int] = None):
        ov = _ov()
        model_path = Path(model_path)
        if not model_path.is_file():
            raise MissingDependencyError(f"model file not found: {model_path}")
        core = ov.Core()
        config: dict[str, object] = {}
        if precision is not None:
            config["INFERENCE_PRECISION_HINT"] = precision
        if threads is not None and device == "CPU":
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.model_path = model_path
        self.device = device
        self.compiled = core.compile_model(core.read_model(str(model_path)), device, config)
        self.request = self.compiled.create_infer_request()

    @property
    def precision(self) -> str:
        """The inference precision the compiled model actually uses (e.g. 'f32', 'bf16')."""
        try:
            return self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        except (RuntimeError, AttributeError):  # devices without the property
            return "unknown"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return self.request.get_output_tensor(0).data.copy()
