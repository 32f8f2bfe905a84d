"""How a bundle's model is run: device, which model file, precision, requests, threads (torch-free).

`RuntimeOptions` is the one description every runtime path shares: the edge daemon's `model:`
config section extends it (edge.config.ModelConfig), and `distill eval`, the export checks and the
benchmarks build it from their command-line options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, model_validator

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
    cpu_snippets: bool = Field(
        default=False,
        description="the CPU plugin's JIT fusion of element-wise subgraphs (OpenVINO SNIPPETS_MODE). Off by default: "
        "on a 2-core x86 at bf16 it held 7-9 MB (HRNet-W18 FP16 IR) to 15-18 MB (its INT8 IR) more in `edge run` for "
        "no measured speed (docs/edge.md, Memory); an OpenVINO without the setting (2022.3) runs its default",
    )
    input_tensor: Literal["f32", "u8"] = Field(
        default="f32",
        description="what the host hands the model: f32 (1x3xHxW float32, normalised on the host: the reference path "
        "of export parity and evaluation) or u8 (1xHxWx3 uint8 at the network size, normalised inside the compiled "
        "model by OpenVINO's PrePostProcessor: less host CPU and a quarter of the input memory; OpenVINO 2023+, "
        "ignored on 2022.3). The vehicle daemon's default is u8",
    )
    cache_dir: Optional[Path] = Field(default=None, description="OpenVINO compiled-model cache (faster restarts): "
                                      "a folder per model content, the 3 most recently used kept (crackedge.runtime.model_cache)")
    compile_ahead: bool = Field(
        default=True,
        description="with cache_dir, on CPU: a model not yet in the cache is compiled there by a short child process "
        "and this process imports the blob, so it never holds the compile's transient memory (HRNet-W18 INT8 IR: "
        "15-25 MB of the daemon's peak; crackedge.runtime.backends.compile_ahead). false: compile in-process",
    )


def device_name(text: str) -> str:
    """A device as typed (`cpu`, `ncs2`, `MYRIAD` ...) -> its OpenVINO name; ValueError naming the choices."""
    name = DEVICE_ALIASES.get(text.strip().lower(), text.strip().upper())
    if name not in DEVICES:
        raise ValueError(f"unknown inference device {text!r}; choose one of cpu, ncs2 (MYRIAD), gpu, auto")
    return name


class RemoteOptions(StrictModel):
    """A model served over KServe v2 (`crackedge serve`, any Triton or KServe server) that the vehicle
    uses while the link is good, with the local bundle as the fallback (crackedge.runtime.backends.fallback)."""

    url: str = Field(description="http://HOST:PORT[/PREFIX] or https://... of the server's HTTP endpoint")
    model_name: str = Field(min_length=1, description="the served model's name (crackedge serve prints it)")
    timeout_s: float = Field(default=1.0, gt=0, le=60,
                             description="a frame without an answer after this long goes to the local model")
    requests: int = Field(default=4, ge=1, le=32, description="requests in flight to the server")
    wire: Literal["jpeg", "uint8", "float32"] = Field(
        default="jpeg", description="what a frame travels as: JPEG of the network-size image (default, ~20x "
        "smaller than uint8), raw uint8 pixels, or the float32 network input (docs/serve.md)")
    jpeg_quality: int = Field(default=90, ge=30, le=100)
    retry_initial_s: float = Field(default=1.0, gt=0, description="first wait before asking a failed server again")
    retry_max_s: float = Field(default=30.0, gt=0, description="backoff ceiling (doubles up to this)")
    headers: dict[str, str] = Field(default_factory=dict,
                                    description="extra HTTP headers, e.g. Authorization for a proxy in front")

    @model_validator(mode="after")
    def _check(self) -> "RemoteOptions":
        if not (self.url.startswith("http://") or self.url.startswith("https://")):
            raise ValueError(f"url must start with http:// or https:// (got {self.url!r})")
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be >= retry_initial_s")
        return self
