"""Batch-1 latency and async throughput of one network in torch eager, ONNX Runtime and OpenVINO.

Each function measures one configuration and returns a plain dict (JSON-able). Every measurement is
capped by time (`max_seconds`) with a minimum number of samples, so a slow model costs a bounded
amount of time. Heavy imports (torch, onnxruntime, openvino) happen inside the functions.

OpenVINO is compiled with the vehicle's properties (`crackedge.runtime.backends.openvino_compat`: API of
OpenVINO 2023+ or 2022.3 for the NCS2, explicit INFERENCE_PRECISION_HINT, PERFORMANCE_HINT) and
driven through an AsyncInferQueue with the device's optimal number of requests, like edge does.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from crackedge.timing import time_call

log = logging.getLogger(__name__)


def torch_latency(model: Any, size: tuple[int, int], channels_last: bool, max_seconds: float, warmup: int = 2,
                  repeats: int = 50, threads: Optional[int] = None) -> dict[str, Any]:
    """Latency of `model` (eval mode, no grad) on a 1x3xHxW float32 input.

    channels_last converts the model's weights and the input to NHWC memory format in place.
    Returns {"latency": Timing.to_dict()}.
    """
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    x = torch.randn(1, 3, int(size[0]), int(size[1]))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    model.eval()

    def run() -> None:
        with torch.inference_mode():
            model(x)

    return {"latency": time_call(run, repeats=repeats, warmup=warmup, max_seconds=max_seconds).to_dict(),
            "threads": torch.get_num_threads()}


def onnxruntime_latency(onnx_path: Path, blob: np.ndarray, max_seconds: float, warmup: int = 2, repeats: int = 50,
                        threads: Optional[int] = None) -> dict[str, Any]:
    """Latency of ONNX Runtime's CPU provider (all graph optimisations) on `blob` (float32 1x3xHxW)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    timing = time_call(lambda: sess.run(None, {name: blob}), repeats=repeats, warmup=warmup, max_seconds=max_seconds)
    return {"latency": timing.to_dict(), "version": ort.__version__, "threads": threads}


@functools.lru_cache(maxsize=1)
def _openvino():
    """(OpenVinoApi, one Core for the whole process).

    One Core on purpose: with a new Core per compiled model, destroying a compiled model after
    AsyncInferQueue callbacks can deadlock on the GIL (OpenVINO 2026.4, seen within ~16 cycles).
    """
    from crackedge.runtime.backends.openvino_compat import load_openvino_api

    api = load_openvino_api()
    return api, api.Core()


def openvino_version() -> str:
    return _openvino()[0].version


def openvino_default_precision(device: str = "CPU") -> str:
    """The inference precision the OpenVINO `device` plugin uses when none is set ('bf16' on x86 CPUs with
    bf16, 'f16' on ARMv8.2+, else 'f32'); 'device default' for non-CPU devices."""
    from crackedge.runtime.backends.openvino_compat import type_name

    if device != "CPU":
        return "device default"
    try:
        return type_name(_openvino()[1].get_property(device, "INFERENCE_PRECISION_HINT"))
    except Exception:  # very old releases without the property
        return "f32"


class OpenVinoModel:
    """One compiled model with the vehicle's compile properties (crackedge.runtime.backends.openvino_compat).

    infer(blob) runs a synchronous request; `queue` is an AsyncInferQueue of `requests` requests.
    """

    def __init__(self, model_path: Path, device: str, precision: str, hint: str, threads: Optional[int]):
        from crackedge.runtime.backends.openvino_compat import (
            check_device,
            compile_model,
            compile_properties,
            type_name,
        )
        from crackedge.runtime.options import RuntimeOptions

        api, core = _openvino()
        check_device(device, [str(d) for d in core.available_devices], api.version)
        props = compile_properties(device, precision, hint, threads, snippets=RuntimeOptions().cpu_snippets)
        self.compiled = compile_model(core, core.read_model(str(model_path)), device, props)
        try:
            self.requests = max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        except Exception:
            self.requests = 4 if device == "MYRIAD" else 2
        self.precision = precision if device == "CPU" else ("f16" if device == "MYRIAD" else "device default")
        if device == "CPU":
            try:
                self.precision = type_name(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
            except Exception:
                pass
        self._sync = self.compiled.create_infer_request()
        self.queue = api.AsyncInferQueue(self.compiled, self.requests)

    def infer(self, blob: np.ndarray) -> None:
        self._sync.infer({0: blob})

    def close(self) -> None:
        self.queue.wait_all()
        time.sleep(0.05)  # let the runtime's callback threads leave Python before the model is destroyed
        self.queue = self._sync = self.compiled = None


def async_throughput(model: OpenVinoModel, blob: np.ndarray, max_seconds: float, min_results: int = 8) -> dict[str, Any]:
    """Inferences per second with all of `model.requests` requests kept busy (AsyncInferQueue).

    Submits back to back for `max_seconds` (at least `min_results` + requests inferences), then
    measures the rate over completion times after the first `requests` (the pipeline warm-up).
    """
    stamps: list[float] = []
    lock = threading.Lock()

    def done(_request: Any, _userdata: Any) -> None:
        with lock:
            stamps.append(time.perf_counter())

    model.queue.set_callback(done)
    n_req = model.requests
    start = time.perf_counter()
    submitted = 0
    while time.perf_counter() - start < max_seconds or submitted < min_results + n_req:
        model.queue.start_async({0: blob}, submitted)  # waits for a free request when all are busy
        submitted += 1
    model.queue.wait_all()
    steady = sorted(stamps)[n_req:]
    fps = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) >= 2 and steady[-1] > steady[0] else float("nan")
    return {"fps": fps, "requests": n_req, "inferences": submitted}


def openvino_measure(model_path: Path, blob: np.ndarray, device: str, precision: str, max_seconds: float,
                     throughput: bool = True, warmup: int = 2, repeats: int = 50,
                     threads: Optional[int] = None) -> dict[str, Any]:
    """OpenVINO latency (LATENCY hint, synchronous requests) and, optionally, async throughput
    (THROUGHPUT hint, the device's optimal number of infer requests) of one model file at `precision`.

    Returns {"precision": applied, "latency": {...}, "throughput_fps", "requests", "version"}; the applied
    precision is read back from the compiled model (it can differ from the one asked for).
    """
    lat = OpenVinoModel(model_path, device, precision, "LATENCY", threads)
    timing = time_call(lambda: lat.infer(blob), repeats=repeats, warmup=warmup, max_seconds=max_seconds)
    out: dict[str, Any] = {"precision": lat.precision, "latency": timing.to_dict(), "throughput_fps": None,
                           "requests": None, "version": openvino_version()}
    lat.close()
    if throughput:
        thr = OpenVinoModel(model_path, device, precision, "THROUGHPUT", threads)
        for _ in range(warmup):
            thr.infer(blob)
        res = async_throughput(thr, blob, max_seconds)
        thr.close()
        out.update(throughput_fps=res["fps"], requests=res["requests"], throughput_inferences=res["inferences"])
    return out
