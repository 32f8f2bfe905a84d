"""One small compatibility layer over the two OpenVINO Python APIs the daemon meets.

- OpenVINO 2022.3 (the last release with the NCS2/MYRIAD plugin, built from source on a Pi):
  `from openvino.runtime import Core, AsyncInferQueue`; no `openvino.Core`. It reads ONNX up to
  ~opset 16 and IR v11 up to opset 10 only: IR saved by OpenVINO 2023.1+ does not load, so it reads
  the bundle's `model.onnx`.
- OpenVINO 2023+ (pip wheels for x86 and aarch64): `import openvino as ov; ov.Core`; reads the
  bundle's FP16 IR `model.xml`. `openvino.runtime` was removed in 2026.0.

Everything else (read_model, compile_model with a property dict, AsyncInferQueue with
set_callback/start_async/wait_all, get_output_tensor) is the same in both.

OpenVINO itself is imported without its model converter (`openvino_import`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional

from crackedge.errors import MissingDependencyError
from crackedge.runtime.backends.openvino_import import import_for_runtime
from crackedge.runtime.errors import DeviceError
from crackedge.runtime.metadata import (
    MODEL_IR_FP16,
    MODEL_ONNX,
    BundleError,
    BundleMetadata,
)

Generation = Literal["2022", "2023+"]

INSTALL_HINT = (
    "Install OpenVINO: `pip install openvino` (2023+, CPU on x86 and aarch64), or for an Intel NCS2 an "
    "OpenVINO 2022.3 build with the MYRIAD plugin (see docs/pi-install.md)"
)

DEVICE_HINTS = {
    "MYRIAD": (
        "the NCS2 (MYRIAD) needs OpenVINO 2022.3 built with the MYRIAD plugin (2023+ has no MYRIAD), the "
        "udev rules systemd/99-ncs2.rules installed, and the stick plugged in (`lsusb` shows 03e7:2485 or "
        "03e7:f63b); only one process can use it at a time"
    ),
    "GPU": "GPU needs an Intel GPU with its OpenCL/Level Zero driver (intel-opencl-icd) and a user in group 'render'",
    "CPU": "the CPU plugin ships in every OpenVINO package; reinstall OpenVINO",
}

log = logging.getLogger(__name__)


@dataclass
class OpenVinoApi:
    generation: Generation
    version: str
    Core: Any
    AsyncInferQueue: Any
    module: str  # "openvino" or "openvino.runtime"


def load_openvino_api(import_module: Optional[Callable[[str], Any]] = None) -> OpenVinoApi:
    """Import whichever OpenVINO API is installed (2023+ preferred). MissingDependencyError when none is.

    import_module: how to import a module by name (tests pass fakes); by default `openvino` is
    imported without its model converter (`openvino_import.import_openvino_runtime`)."""
    if import_module is None:
        import_module = import_for_runtime
    try:
        ov = import_module("openvino")
    except ImportError as err:
        raise MissingDependencyError(f"OpenVINO is not importable ({err}). {INSTALL_HINT}") from None
    if hasattr(ov, "Core") and hasattr(ov, "AsyncInferQueue"):
        version = ov.get_version() if hasattr(ov, "get_version") else getattr(ov, "__version__", "?")
        return OpenVinoApi("2023+", str(version), ov.Core, ov.AsyncInferQueue, "openvino")
    try:
        rt = import_module("openvino.runtime")
    except ImportError as err:
        raise MissingDependencyError(
            f"found a package 'openvino' without openvino.Core or openvino.runtime ({err}). {INSTALL_HINT}"
        ) from None
    version = rt.get_version() if hasattr(rt, "get_version") else "2022.x"
    return OpenVinoApi("2022", str(version), rt.Core, rt.AsyncInferQueue, "openvino.runtime")


_CORES: dict[int, Any] = {}


def shared_core(api: OpenVinoApi) -> Any:
    """One OpenVINO Core per process (per API), reused by every backend.

    A Core per backend costs plugin loading each time, and destroying a Core while another one's
    async requests have just run their callbacks can hang at exit (seen with OpenVINO 2026 on x86
    when a benchmark opened and closed several backends in one process).
    """
    key = id(api.Core)
    if key not in _CORES:
        _CORES[key] = api.Core()
    return _CORES[key]


def choose_model_key(meta: BundleMetadata, generation: Generation, requested: str = "auto") -> str:
    """Which of the bundle's models this OpenVINO can run: a key of `meta.models`."""
    if requested == "auto":
        if generation == "2022":
            key = MODEL_ONNX
        else:
            key = MODEL_IR_FP16 if MODEL_IR_FP16 in meta.models else MODEL_ONNX
    else:
        key = requested
    if generation == "2022" and key != MODEL_ONNX:
        raise BundleError(
            f"model: {key} cannot run on OpenVINO 2022.3: IR saved by OpenVINO 2023.1+ does not load there; "
            "use model: onnx (or auto)"
        )
    if key not in meta.models:
        raise BundleError(f"the bundle has no {key!r} model (it has: {', '.join(sorted(meta.models)) or 'none'})")
    return key


def devices_needed_for(core: Any, device: str) -> list[str]:
    """The devices `check_device` needs to see for `device`.

    For CPU only the CPU plugin is asked (one property read): `core.available_devices` loads every
    plugin OpenVINO ships (NPU, GPU, ...), which costs the daemon ~6 MB of resident memory for plugins
    it never uses. When the CPU plugin does not answer, or for any other device, every device is listed.
    """
    if device == "CPU":
        try:
            core.get_property("CPU", "FULL_DEVICE_NAME")
            return ["CPU"]
        except Exception:
            pass
    return [str(d) for d in core.available_devices]


def check_device(device: str, available: list[str], version: str) -> None:
    """DeviceError naming what was found and what to install/plug when `device` is not available."""
    if device == "AUTO":
        return
    if any(d == device or d.startswith(device + ".") for d in available):
        return
    found = ", ".join(available) if available else "no devices"
    raise DeviceError(
        f"inference device {device!r} not found; OpenVINO {version} sees: {found}. "
        f"{DEVICE_HINTS.get(device, '')}. Or set model.device to one of: {found}"
    )


def compile_properties(
    device: str, precision: Optional[str], hint: str = "THROUGHPUT", threads: Optional[int] = None,
    num_requests: Optional[int] = None, snippets: bool = True,
) -> dict[str, str]:
    """Properties for compile_model. On CPU the inference precision is set explicitly: otherwise the
    CPU plugin picks bf16 on x86 CPUs with bf16 and f16 on ARMv8.2 (Pi 5), which changes results.
    snippets False: SNIPPETS_MODE=DISABLE on CPU (the plugin's element-wise subgraph JIT, whose per-stream
    kernels cost memory; `SNIPPETS_KEY`, dropped again by `without_snippets` where the plugin lacks it)."""
    props = {"PERFORMANCE_HINT": hint}
    if device == "CPU":
        if precision:  # None: the plugin's own default
            props["INFERENCE_PRECISION_HINT"] = precision
        if threads:
            props["INFERENCE_NUM_THREADS"] = str(threads)
        if not snippets:
            props[SNIPPETS_KEY] = "DISABLE"
    if num_requests and hint == "THROUGHPUT":
        props["PERFORMANCE_HINT_NUM_REQUESTS"] = str(num_requests)
    return props


#: the CPU plugin's setting for its element-wise subgraph JIT (2023.0+; 2022.3 refuses the key)
SNIPPETS_KEY = "SNIPPETS_MODE"


def without_snippets(props: dict[str, str], err: BaseException) -> Optional[dict[str, str]]:
    """`props` without SNIPPETS_MODE when compiling with it failed because the plugin does not know the key
    (an OpenVINO before 2023.0), else None: the failure has another cause."""
    if SNIPPETS_KEY in props and SNIPPETS_KEY in str(err):
        return {k: v for k, v in props.items() if k != SNIPPETS_KEY}
    return None


def compile_model(core: Any, model: Any, device: str, props: dict[str, str]) -> Any:
    """core.compile_model(model, device, props), again without SNIPPETS_MODE where the plugin refuses that
    key (`without_snippets`); any other failure is raised as it came. `model`: a path or a read ov.Model."""
    try:
        return core.compile_model(model, device, props)
    except Exception as err:
        fallback = without_snippets(props, err)
        if fallback is None:
            raise
        log.info("the %s plugin has no %s: compiling with its default", device, SNIPPETS_KEY)
        return core.compile_model(model, device, fallback)


def type_name(value: Any) -> str:
    """'f32' for ov.Type f32 (2023+) or the plain string 2022.3 returns."""
    get = getattr(value, "get_type_name", None)
    return str(get()) if callable(get) else str(value)


#: OPTIMIZATION_CAPABILITIES entries -> INFERENCE_PRECISION_HINT values
_CAPABILITY_TO_PRECISION = {"FP32": "f32", "BF16": "bf16", "FP16": "f16"}


def cpu_precisions(device: str = "CPU", api: Optional[OpenVinoApi] = None) -> list[str]:
    """Inference precisions `device` offers here, in order f32, bf16, f16 (f32 always first)."""
    core = shared_core(api or load_openvino_api())
    caps = core.get_property(device, "OPTIMIZATION_CAPABILITIES")
    found = [_CAPABILITY_TO_PRECISION[c] for c in caps if c in _CAPABILITY_TO_PRECISION]
    return [p for p in ("f32", "bf16", "f16") if p in found or p == "f32"]


def default_precision(device: str = "CPU", api: Optional[OpenVinoApi] = None) -> Optional[str]:
    """The inference precision `device` runs when no hint is set ('bf16' on x86 with bf16, 'f16' on
    ARMv8.2, else 'f32'); None when the device does not report one."""
    core = shared_core(api or load_openvino_api())
    try:
        value = core.get_property(device, "INFERENCE_PRECISION_HINT")
    except Exception:  # RuntimeError on 2023+; 2022.3 and other devices may raise other types
        return None
    name = type_name(value)
    return {"bfloat16": "bf16", "float16": "f16", "float32": "f32"}.get(name, name)


#: /proc/cpuinfo flags (x86) / Features (ARM) that decide which reduced precisions a CPU computes natively
_PRECISION_ISA = ("avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16", "fphp", "asimdhp", "bf16", "sve")


def cpu_isa_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The precision-related ISA flags of this CPU (empty when /proc/cpuinfo is unreadable)."""
    try:
        text = open(cpuinfo, encoding="utf-8", errors="replace").read()
    except OSError:
        return []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            found = set(value.split())
            return [f for f in _PRECISION_ISA if f in found]
    return []


def measured_on(device: str, precision: str, api: Optional[OpenVinoApi] = None) -> str:
    """How a parity record at `precision` was measured here, for the bundle (ParityRecord.measured):
    'native f16, OpenVINO 2026.4.1 CPU plugin, Intel(R) Xeon(R) Processor (x86_64: avx512_fp16 ...)'."""
    import platform

    api = api or load_openvino_api()
    try:
        name = str(shared_core(api).get_property(device, "FULL_DEVICE_NAME"))
    except Exception:
        name = device
    flags = " ".join(cpu_isa_flags()) if device == "CPU" else ""
    return (f"native {precision}, OpenVINO {api.version.split('-')[0]} {device} plugin, {name} "
            f"({platform.machine()}{': ' + flags if flags else ''})")
