"""Inference backends behind one interface (`base.InferenceBackend`). Each keeps its heavy import
(openvino) inside its own module; `create_backend` picks one for a bundle and `RuntimeOptions`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from crackedge.runtime.backends.base import InferenceBackend
from crackedge.runtime.bundle import LoadedBundle
from crackedge.runtime.model_cache import model_cache_folder
from crackedge.runtime.options import RuntimeOptions
from crackedge.runtime.precision import PrecisionDecision, select_precision

log = logging.getLogger(__name__)


def create_backend(cfg: RuntimeOptions, bundle: LoadedBundle) -> tuple[InferenceBackend, str]:
    """The OpenVINO backend that runs `bundle` as `cfg` says, and the bundle model key it runs."""
    from crackedge.runtime.backends.openvino_backend import OpenVinoBackend
    from crackedge.runtime.backends.openvino_compat import (
        choose_model_key,
        load_openvino_api,
    )

    api = load_openvino_api()
    key = choose_model_key(bundle.meta, api.generation, cfg.model)
    decision = choose_precision(cfg, bundle, api)
    log.info("inference precision %s", decision.reason)
    if not decision.validated:
        log.warning("inference precision %s is not validated by the bundle's parity records: masks may differ from "
                    "the exported model's; check with `edge eval` on this machine", decision.precision)
    backend = OpenVinoBackend(
        bundle.model_file(key),
        device=cfg.device,
        precision=decision.precision,
        hint=cfg.performance_hint,
        threads=cfg.threads,
        num_requests=cfg.num_requests,
        cache_dir=model_cache_folder(cfg.cache_dir, bundle.model_fingerprint(key)) if cfg.cache_dir else None,
        output_name=bundle.meta.output.name,
        api=api,
        snippets=cfg.cpu_snippets,
        u8_input=bundle.meta.input if cfg.input_tensor == "u8" else None,
        compile_ahead=cfg.compile_ahead,
    )
    backend.info["model_key"] = key
    backend.info["model_sha256"] = bundle.model_sha256(key)
    backend.info["precision_reason"] = decision.reason
    backend.info["precision_validated"] = decision.validated
    return backend, key


def choose_precision(cfg: RuntimeOptions, bundle: LoadedBundle, api=None) -> PrecisionDecision:
    """The inference precision `cfg` asks for on this machine's device, and why (crackedge.runtime.precision)."""
    from crackedge.runtime.backends.openvino_compat import cpu_precisions, default_precision, load_openvino_api

    offered, default = ["f32"], None
    if cfg.device == "CPU":
        api = api or load_openvino_api()
        try:
            offered, default = cpu_precisions("CPU", api), default_precision("CPU", api)
        except Exception as err:  # an OpenVINO that cannot say: assume the reference precision only
            log.warning("OpenVINO %s does not report the CPU's precisions (%s); assuming f32 only", api.version, err)
    return select_precision(bundle.meta, cfg.precision, cfg.device, offered, default)


def open_model(model_path: Path, device: str = "CPU", precision: Optional[str] = "f32",
               threads: Optional[int] = None) -> InferenceBackend:
    """One model file (IR or ONNX) for one-at-a-time inference (export checks, evaluation): LATENCY hint,
    one request. `backend.infer(x)` runs it; `backend.info["precision"]` is the precision it really runs.
    precision None: the device's own default."""
    from crackedge.runtime.backends.openvino_backend import OpenVinoBackend

    return OpenVinoBackend(Path(model_path), device=device, precision=precision, hint="LATENCY", threads=threads,
                           num_requests=1)
