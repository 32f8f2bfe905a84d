"""OpenVINO inference (CPU, MYRIAD/NCS2, GPU, AUTO) through `openvino_compat`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np

from crackedge.runtime.backends.base import DoneCallback, InferenceBackend
from crackedge.runtime.backends.compile_ahead import compile_in_child, compile_key, is_compiled, mark_compiled
from crackedge.runtime.backends.openvino_compat import (
    OpenVinoApi,
    check_device,
    compile_properties,
    devices_needed_for,
    load_openvino_api,
    shared_core,
    type_name,
)
from crackedge.runtime.backends.openvino_compile import compiled_model
from crackedge.runtime.metadata import InputSpec

log = logging.getLogger(__name__)

DEFAULT_REQUESTS = {"MYRIAD": 4}  # 2 streams x 2, what the NCS2 wants when the property is unreadable


class OpenVinoBackend(InferenceBackend):
    def __init__(
        self,
        model_path: Path,
        device: str = "CPU",
        precision: Optional[str] = "f32",
        hint: str = "THROUGHPUT",
        threads: Optional[int] = None,
        num_requests: Optional[int] = None,
        cache_dir: Optional[Path] = None,
        output_name: Optional[str] = None,
        api: Optional[OpenVinoApi] = None,
        snippets: bool = False,
        u8_input: Optional[InputSpec] = None,
        compile_ahead: bool = False,
    ) -> None:
        """u8_input: the bundle's input spec, to take uint8 frames normalised inside the model
        (`with_u8_input`; OpenVINO 2023+ only: with 2022.3 the backend keeps float input). The compiled-model
        cache then keys on the model with those steps, which OpenVINO hashes after reading the IR.
        compile_ahead (with cache_dir, on CPU): a model not yet compiled into the cache with these settings
        is compiled there by a child process first, and this process imports the blob
        (crackedge.runtime.backends.compile_ahead); `info["compile_ahead"]` reports the child."""
        self.api = api or load_openvino_api()
        core = shared_core(self.api)
        available = devices_needed_for(core, device)
        check_device(device, available, self.api.version)
        props = compile_properties(device, precision, hint, threads, num_requests, snippets)
        if self.api.generation == "2022":
            u8_input = None  # no PrePostProcessor steps in 2022.3's API: float input
        ahead: Optional[dict[str, Any]] = None
        key = ""
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            key = compile_key(Path(model_path), device, props, u8_input, self.api.version)
            if compile_ahead and device == "CPU" and not is_compiled(cache_dir, key):
                ahead = self._compile_ahead(Path(model_path), Path(cache_dir), device, props, u8_input)
        # the Core is shared: a model opened without a cache must not write into another model's
        core.set_property({"CACHE_DIR": str(cache_dir) if cache_dir is not None else ""})
        self.compiled, self.input_tensor = compiled_model(core, Path(model_path), device, props, self.api, u8_input)
        if cache_dir is not None:
            mark_compiled(cache_dir, key)
        self.output_index = self._output_index(output_name)
        self.n_requests = num_requests or self._optimal_requests(device)
        self._queue = self.api.AsyncInferQueue(self.compiled, self.n_requests)
        self._queue.set_callback(self._on_done)
        self._sync = self.compiled.create_infer_request()
        self._callback: Optional[DoneCallback] = None
        applied = precision
        if device == "CPU":
            try:
                applied = type_name(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
            except Exception:
                pass
            if precision and applied != precision:
                log.warning(
                    "asked OpenVINO for %s inference on this CPU but it runs %s (the CPU lacks %s support); "
                    "check the bundle's parity records for %s or set model.precision explicitly",
                    precision, applied, precision, applied,
                )
        self.info = {
            "api": self.api.module,
            "version": self.api.version,
            "device": device,
            "available_devices": available,  # ["CPU"] alone for CPU: the other plugins are never loaded
            "model_file": Path(model_path).name,
            "precision": applied if device == "CPU" else ("f16" if device == "MYRIAD" else "device default"),
            "requests": self.n_requests,
            "performance_hint": hint,
            "input": "uint8 NHWC, normalised in the model" if self.input_tensor == "u8" else "float32 NCHW",
        }
        if ahead is not None:
            self.info["compile_ahead"] = ahead
        log.info(
            "OpenVINO %s (%s): %s on %s, precision %s, %d infer requests",
            self.api.version, self.api.module, Path(model_path).name, device, self.info["precision"], self.n_requests,
        )

    @staticmethod
    def _compile_ahead(model_path: Path, cache_dir: Path, device: str, props: dict[str, str],
                       u8_input: Optional[InputSpec]) -> dict[str, Any]:
        ahead = compile_in_child(model_path, cache_dir, device, props, u8_input)
        if ahead["ok"]:
            log.info("compiled %s into the model cache in a child process: %.1f s, its peak RSS %s MB",
                     model_path.name, ahead["seconds"], ahead["peak_mb"])
        else:
            log.warning("compiling %s ahead in a child process failed (%s); compiling it in this process",
                        model_path.name, ahead["error"])
        return ahead

    def _output_index(self, name: Optional[str]) -> int:
        outputs = list(self.compiled.outputs)
        if name:
            for i, out in enumerate(outputs):
                if name in set(getattr(out, "names", ()) or ()):
                    return i
        return 0

    def _optimal_requests(self, device: str) -> int:
        try:
            n = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            if n >= 1:
                return n
        except Exception:
            pass
        return DEFAULT_REQUESTS.get(device, 2)

    def infer(self, blob: np.ndarray) -> np.ndarray:
        self._sync.infer({0: blob})
        return np.array(self._sync.get_output_tensor(self.output_index).data, dtype=np.float32, copy=True)

    def set_callback(self, callback: DoneCallback) -> None:
        self._callback = callback

    def _on_done(self, request: Any, userdata: Any) -> None:
        cb = self._callback
        try:
            out = np.array(request.get_output_tensor(self.output_index).data, dtype=np.float32, copy=True)
        except Exception as err:  # report to the pipeline instead of dying in a runtime thread
            if cb is not None:
                cb(userdata, None, err)
            return
        if cb is not None:
            cb(userdata, out, None)

    def start_async(self, blob: np.ndarray, userdata: Any) -> None:
        self._queue.start_async({0: blob}, userdata)

    def wait_all(self) -> None:
        self._queue.wait_all()

    def close(self) -> None:
        self._callback = None  # a late callback after close must not reach a stopped pipeline
        try:
            if self._queue is not None:
                self._queue.wait_all()
        except Exception:
            pass
        self._queue = None
        self._sync = None
        self.compiled = None
