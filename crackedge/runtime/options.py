"""How a bundle's model is run: device, which model file, precision, requests, threads (torch-free).

`RuntimeOptions` is the one description every runtime path shares: the edge daemon's `model:`
config section extends it (edge.config.ModelConfig), and `distill eval`, the export checks and the
benchmarks build it from their command-line options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field

from crackedge.config import StrictModel

#: OpenVINO device names the runtime accepts (MYRIAD = Intel NCS2, needs OpenVINO 2022.3)
DEVICES = ("CPU", "MYRIAD", "GPU", "AUTO")
Device = Literal["CPU", "MYRIAD", "GPU", "AUTO"]
#: aliases a user may type for a device (`--device ncs2`)
DEVICE_ALIASES = {"ncs2": "MYRIAD", "myriad": "MYRIAD", "cpu": "CPU", "gpu": "GPU", "auto": "AUTO"}
#: the bundle model keys (crackedge.runtime.metadata.MODEL_*), plus auto
ModelKey = Literal["auto", "onnx", "ir_fp16", "ir_int8"]
PrecisionChoice = Literal["auto", "bundle", "f32", "f16", "bf16"]


class RuntimeOptions(StrictModel):
    device: Device = Field("CPU", description="OpenVINO device: CPU, MYRIAD (NCS2), GPU or AUTO")
    model: ModelKey = Field(
        default="auto", description="auto: model.onnx on OpenVINO 2022.3 (NCS2), the FP16 IR on 2023+"
    )
    precision: PrecisionChoice = Field(
        default="auto",
        description="CPU INFERENCE_PRECISION_HINT. auto: the fastest precision this CPU offers whose parity record in "
        "the bundle passes (crackedge.runtime.precision); bundle: the precision declared at export; f32/f16/bf16: forced",
    )
    num_requests: Optional[int] = Field(
        default=None, ge=1, le=16, description="infer requests in flight (None: the device's optimal number)"
    )
    threads: Optional[int] = Field(default=None, ge=1, description="CPU inference threads (None: OpenVINO default)")
    performance_hint: Literal["THROUGHPUT", "LATENCY"] = "THROUGHPUT"
    cache_dir: Optional[Path] = Field(default=None, description="OpenVINO model cache (faster restarts)")


def device_name(text: str) -> str:
    """A device as typed (`cpu`, `ncs2`, `MYRIAD` ...) -> its OpenVINO name; ValueError naming the choices."""
    name = DEVICE_ALIASES.get(text.strip().lower(), text.strip().upper())
    if name not in DEVICES:
        raise ValueError(f"unknown inference device {text!r}; choose one of cpu, ncs2 (MYRIAD), gpu, auto")
    return name
