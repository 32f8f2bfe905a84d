"""Triton Python-backend model that serves one crackedge bundle (copied as `<repo>/<name>/1/model.py`).

Runs inside Triton's `triton_python_backend_stub`, with the interpreter and packages of the
environment that started the server. `initialize` opens the bundle with crackedge.runtime (hashes
checked, OpenVINO on CPU at the bundle's precision, THROUGHPUT hint with several infer requests);
`execute` gets every request the dynamic batcher grouped, starts them all on the infer-request pool
(OpenVINO's CPU streams run them in parallel) and answers each with the crack probability
[1, 1, h, w]. A request that cannot be decoded gets its own error; the others still succeed.

Tensors cross the stub through DLPack, not through numpy's C API: the stub in the nvidia-pytriton
wheel was compiled against numpy 1.x, and with numpy 2 its `as_numpy()` / `Tensor(name, array)`
read the wrong item size (docs/serve.md).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend


class _DLPackView:
    """Presents a pb_utils.Tensor to np.from_dlpack (legacy, unversioned DLPack capsule)."""

    def __init__(self, tensor) -> None:
        self.tensor = tensor

    def __dlpack__(self, stream=None):
        return self.tensor.to_dlpack()

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def _ignore_consumed_capsules(unraisable) -> None:
    """numpy's capsule destructor complains about a capsule the stub consumed and renamed; harmless."""
    if isinstance(unraisable.exc_value, ValueError) and "PyCapsule_GetPointer" in str(unraisable.exc_value):
        return
    sys.__unraisablehook__(unraisable)


def _mapped_libpython():
    """The libpython file this process has mapped (Linux), or None."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split()
                if len(parts) >= 6 and "/libpython3" in parts[-1]:
                    return os.path.realpath(parts[-1])
    except OSError:
        pass
    return None


def check_libpython() -> None:
    """Fail loudly when this stub embeds another build's libpython than the standard library it imports
    belongs to (the libpython trap, docs/serve.md): e.g. the system's 3.11.2 under pyenv's 3.11.7
    stdlib, where multiprocessing fails with `'_thread.RLock' object has no attribute '_recursion_count'`."""
    import sysconfig

    libdir = sysconfig.get_config_var("LIBDIR") or ""  # from the stdlib's _sysconfigdata: its own build
    expected = os.path.realpath(os.path.join(libdir, f"libpython{sys.version_info[0]}.{sys.version_info[1]}.so.1.0"))
    mapped = _mapped_libpython()
    if mapped and os.path.exists(expected) and mapped != expected:
        raise RuntimeError(
            f"crackedge: Triton's Python stub runs {mapped} under the standard library of {sys.prefix}, whose own "
            f"libpython is {expected}: start the server with `crackedge serve`, or put {libdir} first on "
            "LD_LIBRARY_PATH")


class TritonPythonModel:
    def initialize(self, args) -> None:
        check_libpython()
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in (config.get("parameters") or {}).items()}
        code = params.get("crackedge_path")
        if code and os.path.isdir(code) and code not in sys.path:
            sys.path.insert(0, code)  # the same crackedge as the process that wrote this repository
        sys.unraisablehook = _ignore_consumed_capsules

        from crackedge.runtime.backends import create_backend
        from crackedge.runtime.bundle import load_bundle
        from crackedge.runtime.decode import MaskDecoder
        from crackedge.runtime.options import RuntimeOptions
        from crackedge.runtime.preprocess import Preprocessor

        bundle_dir = Path(params["bundle"])
        if not bundle_dir.is_absolute():
            bundle_dir = Path(args["model_repository"]) / args["model_version"] / bundle_dir
        self.bundle = load_bundle(bundle_dir)
        meta = self.bundle.meta
        opts = RuntimeOptions(
            device=params.get("device") or "CPU",
            precision=params.get("precision") or "bundle",
            num_requests=int(params["requests"]) if params.get("requests") else None,
            threads=int(params["threads"]) if params.get("threads") else None,
            performance_hint="THROUGHPUT",
        )
        self.backend, self.model_key = create_backend(opts, self.bundle)
        self.preprocess = Preprocessor(meta.input, self.backend.input_tensor)
        self.decoder = MaskDecoder(meta.output, meta.threshold)
        self.height, self.width = meta.input.height, meta.input.width
        self._done: dict[int, tuple] = {}
        self._lock = threading.Lock()
        self.backend.set_callback(self._on_done)
        from crackedge.runtime import wire

        self.wire = wire
        pb_utils.Logger.log_info(
            f"crackedge: {meta.model.kind} {meta.model_name} from {bundle_dir} "
            f"({meta.models[self.model_key]}, {self.backend.info.get('precision')}, "
            f"{self.backend.n_requests} infer requests, numpy {np.__version__})"
        )

    def _on_done(self, token, output, error) -> None:
        with self._lock:
            self._done[token] = (output, error)

    def _blob(self, payload: np.ndarray) -> np.ndarray:
        kind = self.wire.kind_of(payload, self.height, self.width)
        if kind == "float32":
            return payload.view(np.float32).reshape(1, 3, self.height, self.width).copy()
        return self.preprocess(self.wire.decode_rgb(payload, kind, self.height, self.width))

    def execute(self, requests):
        responses = [None] * len(requests)
        started = []
        for i, request in enumerate(requests):
            try:
                tensor = pb_utils.get_input_tensor_by_name(request, self.wire.INPUT_NAME)
                payload = np.ascontiguousarray(np.from_dlpack(_DLPackView(tensor))).reshape(-1)
                self.backend.start_async(self._blob(payload), i)  # waits for a free infer request
                started.append(i)
            except Exception as err:  # this request only
                responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"crackedge: {err}"))
        self.backend.wait_all()
        with self._lock:
            done, self._done = self._done, {}
        for i in started:
            output, error = done.get(i, (None, RuntimeError("no result")))
            if error is not None or output is None:
                responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(f"crackedge: inference failed: {error}"))
                continue
            prob = np.ascontiguousarray(self.decoder.probability(output)[None, None], dtype=np.float32)
            responses[i] = pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor.from_dlpack(self.wire.OUTPUT_NAME, prob)])
        return responses

    def finalize(self) -> None:
        self.backend.close()
