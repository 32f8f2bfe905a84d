"""Compiling one OpenVINO model file for a device: from its path (so a compiled-model cache is used), or
read and given uint8 input steps first. Used by the backend (crackedge.runtime.backends.openvino_backend)
and by the child that compiles a model into the cache ahead of it (crackedge.runtime.backends.compile_ahead)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from crackedge.runtime.backends.openvino_compat import OpenVinoApi, compile_model
from crackedge.runtime.errors import InferenceError
from crackedge.runtime.metadata import BundleError, InputSpec


def _compile(core: Any, model_path: Path, device: str, props: dict[str, Any], version: str, model: Any = None) -> Any:
    """The model file compiled for `device`, from its path.

    From the path, not from a read `ov.Model`: with a cache (CACHE_DIR) that holds the model, OpenVINO
    then imports the compiled blob without reading the IR (HRNet-W18 448 FP16 IR, warm cache: 0.8 ->
    0.5-0.6 s; a process that kept the read model would also hold ~30 MB more, which the daemon, freeing
    it after compiling, does not: its VmHWM is the same either way). Such a blob is keyed by the file's
    path, size and time, not its content, so `cache_dir` must be the model's own folder
    (crackedge.runtime.model_cache). A file OpenVINO cannot read is a BundleError, one it cannot
    compile an InferenceError, each naming the file. A plugin that does not know SNIPPETS_MODE
    (OpenVINO 2022.3) compiles without it. `model`: the file already read and changed (`with_u8_input`);
    the cache is then keyed on a hash of that model, which costs the read: a warm start of the HRNet-W18 448
    FP16 IR takes 0.39 s instead of 0.22 s (2-core Zen 5).
    """
    try:
        return compile_model(core, model if model is not None else str(model_path), device, props)
    except Exception as err:
        if model is None:
            _read(core, model_path, version)
        extra = " (is another process using the NCS2? it cannot be shared)" if device == "MYRIAD" else ""
        raise InferenceError(
            f"OpenVINO {version} could not compile {model_path.name} for {device} with {props}: "
            f"{str(err).strip().splitlines()[-1] if str(err).strip() else err}{extra}"
        ) from None


def compiled_model(core: Any, model_path: Path, device: str, props: dict[str, str], api: OpenVinoApi,
                   u8_input: Optional[InputSpec] = None) -> tuple[Any, str]:
    """The compiled model and its input tensor ("u8" or "f32"): from the path, or with `u8_input` (OpenVINO
    2023+) read and given the uint8 input steps (`with_u8_input`) first. The Core's CACHE_DIR is the caller's."""
    if u8_input is not None and api.generation != "2022":
        model = with_u8_input(_read(core, model_path, api.version), u8_input)
        compiled = _compile(core, model_path, device, props, api.version, model)
        del model  # the compiled model keeps what it needs
        return compiled, "u8"
    return _compile(core, model_path, device, props, api.version), "f32"


def _read(core: Any, model_path: Path, version: str) -> Any:
    try:
        return core.read_model(str(model_path))
    except Exception as err:
        raise BundleError(f"OpenVINO {version} cannot read {model_path}: {err}") from None


def with_u8_input(model: Any, spec: InputSpec) -> Any:
    """The model taking 1xHxWx3 uint8 RGB at its input size, normalised inside (OpenVINO's
    PrePostProcessor, 2023+ API): u8 -> f32, RGB -> the network's colour order, (x - mean) / std,
    NHWC -> NCHW. The steps join the compiled graph (the CPU plugin folds them into its first layers),
    so the host only resizes, and the host's input is a quarter of the float one."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model)
    inp = ppp.input(0)
    inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    inp.model().set_layout(ov.Layout("NCHW"))
    steps = inp.preprocess().convert_element_type(ov.Type.f32)
    if spec.color_order == "BGR":
        steps = steps.reverse_channels()
    steps.mean([float(v) for v in spec.mean]).scale([float(v) for v in spec.std])
    return ppp.build()
