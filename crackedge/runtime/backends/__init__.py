"""Inference backends behind one interface (`base.InferenceBackend`). Each keeps its heavy import
(openvino) inside its own module; `create_backend` picks one for a bundle and `RuntimeOptions`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from crackedge.runtime.backends.base import InferenceBackend
from crackedge.runtime.bundle import LoadedBundle
from crackedge.runtime.options import RuntimeOptions


def create_backend(cfg: RuntimeOptions, bundle: LoadedBundle) -> tuple[InferenceBackend, str]:
    """The OpenVINO backend that runs `bundle` as `cfg` says, and the bundle model key it runs."""
    from crackedge.runtime.backends.openvino_backend import OpenVinoBackend
    from crackedge.runtime.backends.openvino_compat import (
        choose_model_key,
        load_openvino_api,
    )

    api = load_openvino_api()
    key = choose_model_key(bundle.meta, api.generation, cfg.model)
    precision = bundle.meta.inference_precision if cfg.precision == "bundle" else cfg.precision
    backend = OpenVinoBackend(
        bundle.model_file(key),
        device=cfg.device,
        precision=precision,
        hint=cfg.performance_hint,
        threads=cfg.threads,
        num_requests=cfg.num_requests,
        cache_dir=cfg.cache_dir,
        output_name=bundle.meta.output.name,
        api=api,
    )
    backend.info["model_key"] = key
    backend.info["model_sha256"] = bundle.model_sha256(key)
    return backend, key


def open_model(model_path: Path, device: str = "CPU", precision: Optional[str] = "f32",
               threads: Optional[int] = None) -> InferenceBackend:
    """One model file (IR or ONNX) for one-at-a-time inference (export checks, evaluation): LATENCY hint,
    one request. `backend.infer(x)` runs it; `backend.info["precision"]` is the precision it really runs.
    precision None: the device's own default."""
    from crackedge.runtime.backends.openvino_backend import OpenVinoBackend

    return OpenVinoBackend(Path(model_path), device=device, precision=precision, hint="LATENCY", threads=threads,
                           num_requests=1)
