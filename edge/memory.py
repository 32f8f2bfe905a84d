"""The daemon's memory: glibc malloc settings, and the INT8 IR without AMX weight packing.

glibc gives every thread that allocates its own arena (up to 8 per core) and keeps freed memory in
them; the daemon has a dozen threads (pipeline stages, OpenVINO's, the preview server's), and
memory freed in one arena is not reused by another, so the resident set grows past what is live.
`tune_malloc()` (called first thing by `edge run`, before any thread exists) caps the arenas
(M_ARENA_MAX, what `MALLOC_ARENA_MAX=2` in the unit's environment does) and `release_free_memory()`
(called once the model is compiled, before READY=1) hands the compile's freed scratch memory back to
the system (malloc_trim). Both are no-ops where the C library is not glibc (a warning is not worth
it: they only save memory).

The INT8 IR on an x86 CPU with AMX (Sapphire Rapids and later): oneDNN packs every INT8
convolution's weights and scratchpads for the AMX tiles, which costs ~100 MB for HRNet-W18 at
448x448 (INT8 IR at f32, THROUGHPUT: VmHWM 370 MB against 263 MB without AMX; the FP16 IR 321 MB),
for more INT8 throughput. `lean_int8_isa()` caps oneDNN's instruction set below AMX for a process
that runs the INT8 IR on the CPU, so that the INT8 IR costs less memory than the FP16 one:

    INT8 IR at f32   ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI  (INT8 on the VNNI dot-product instructions)
    INT8 IR at bf16  ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16  (and its non-INT8 layers on AVX512-BF16), only
                     on a CPU with avx512_bf16; without it bf16 runs on AMX alone, and is left alone

Measured on the trained HRNet-W18 448 bundle, OpenVINO 2026.4, 2-core Sapphire Rapids (bare process,
THROUGHPUT, 2 streams): INT8 at bf16 360 -> 248 MB, at f32 356 -> 247 MB; the FP16 IR at bf16 252 MB.
Speeds: docs/edge.md (memory section). oneDNN reads the variable at the first compile, so it is set
before the backend is created; a value already in the environment (the unit's, or
ONEDNN_MAX_CPU_ISA=ALL to keep AMX) wins. The FP16 IR is left alone: at bf16 it needs AMX for its
speed (6-7x slower capped). ARM (a Pi) has neither AMX nor this variable's x86 names: nothing is set there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform
from typing import Any, Optional

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc mallopt parameter numbers (malloc.h)
DEFAULT_ARENAS = 2
ISA_VARIABLE = "ONEDNN_MAX_CPU_ISA"
LEAN_INT8_ISA = "AVX512_CORE_VNNI"  # below AVX512_CORE_AMX: VNNI int8 kernels, no AMX tile packing
LEAN_INT8_BF16_ISA = "AVX512_CORE_BF16"  # below AMX, with the AVX512-BF16 instructions bf16 layers need

_libc: Any = None


def _glibc() -> Optional[Any]:
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc = lib if hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") else False
        except OSError:
            _libc = False
    return _libc or None


def tune_malloc(arenas: Optional[int] = None) -> bool:
    """Cap glibc's malloc arenas (MALLOC_ARENA_MAX from the environment wins). True when applied."""
    lib = _glibc()
    if lib is None:
        return False
    if "MALLOC_ARENA_MAX" in os.environ:  # the unit or the user chose; glibc has read it already
        return True
    n = arenas or DEFAULT_ARENAS
    ok = bool(lib.mallopt(M_ARENA_MAX, n))
    log.debug("malloc arenas capped at %d: %s", n, ok)
    return ok


def release_free_memory() -> bool:
    """Return freed heap memory to the system (glibc malloc_trim). True when something was released."""
    lib = _glibc()
    if lib is None:
        return False
    return bool(lib.malloc_trim(0))


def lean_int8_isa(device: str, model_key: str, precision: Optional[str],
                  cpu_flags: Optional[list[str]] = None) -> Optional[str]:
    """Cap oneDNN below AMX when this process runs the INT8 IR on an x86 CPU (see the module
    docstring). cpu_flags: the CPU's precision ISA flags (default: read from /proc/cpuinfo).
    Returns the value set, or None when nothing was changed."""
    if device != "CPU" or model_key != "ir_int8" or precision not in ("f32", "bf16", None):
        return None
    if platform.machine().lower() not in ("x86_64", "amd64") or ISA_VARIABLE in os.environ:
        return None
    if precision == "bf16":
        if cpu_flags is None:
            from crackedge.runtime.backends.openvino_compat import cpu_isa_flags

            cpu_flags = cpu_isa_flags()
        if "avx512_bf16" not in cpu_flags:
            return None  # bf16 only through AMX here: capping would emulate it
        value = LEAN_INT8_BF16_ISA
    else:
        value = LEAN_INT8_ISA
    os.environ[ISA_VARIABLE] = value
    log.info("INT8 IR on the CPU at %s: %s=%s (no AMX weight packing: ~100 MB less; set %s=ALL to keep AMX)",
             precision or "f32", ISA_VARIABLE, value, ISA_VARIABLE)
    return value


def lean_int8_isa_for(model_cfg: Any, bundle: Any) -> Optional[str]:
    """`lean_int8_isa` for the daemon's `model:` config (edge.config.ModelConfig) and its loaded bundle,
    with model.model and model.precision resolved as create_backend will resolve them."""
    if model_cfg.device != "CPU":
        return None
    from crackedge.runtime.backends import choose_precision
    from crackedge.runtime.backends.openvino_compat import choose_model_key, load_openvino_api

    api = load_openvino_api()
    key = choose_model_key(bundle.meta, api.generation, model_cfg.model)
    if key != "ir_int8":
        return None
    return lean_int8_isa(model_cfg.device, key, choose_precision(model_cfg, bundle, api).precision)
