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
convolution's weights and scratchpads for the AMX tiles, which costs ~110 MB for HRNet-W18 at
448x448 (bare OpenVINO process, THROUGHPUT: INT8 IR 356-360 MB against 247-248 MB without AMX; the
FP16 IR at bf16 252 MB), for more INT8 throughput (49 against 32 raw FPS; the FP16 IR at bf16 44).
`lean_int8_isa()` caps oneDNN's instruction set below AMX for a process that runs the INT8 IR on
such a CPU (ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16: INT8 on the VNNI dot-product instructions, bf16
layers on AVX512-BF16, f32 on AVX-512), so that the INT8 IR costs less memory than the FP16 one.

oneDNN reads the variable once, when the CPU plugin first asks it what the CPU can do (a precision
query counts), so the cap is decided from the requested precision, before anything asks OpenVINO:
any request but f16 (f32, bf16, bundle, auto) is capped; f16 is left alone, as it needs AVX512-FP16
(`precision: auto` resolves to f16 on such a CPU only for a bundle whose bf16 parity failed while its
f16 passed: that bundle runs f16 under the cap, slower; the log names both the cap and the precision). A value already in the
environment (the unit's, or ONEDNN_MAX_CPU_ISA=ALL to keep AMX) wins. The FP16 IR is left alone: at
bf16 it needs AMX for its speed (6.5 raw FPS capped against 44). A CPU without AMX (a Pi, or x86
before Sapphire Rapids) packs nothing: nothing is set there.
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
LEAN_INT8_ISA = "AVX512_CORE_BF16"  # below AMX: VNNI int8 kernels and AVX512-BF16, no AMX tile packing
AMX_FLAG = "amx_bf16"  # every AMX CPU has it (Sapphire Rapids and later)

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
    """Cap oneDNN below AMX when this process runs the INT8 IR on an x86 CPU with AMX (see the module
    docstring). precision: as requested (f32, bf16, f16, bundle's declared, auto); cpu_flags: the CPU's
    /proc/cpuinfo flags (default: read). Returns the value set, or None when nothing was changed."""
    if device != "CPU" or model_key != "ir_int8" or precision == "f16":
        return None
    if platform.machine().lower() not in ("x86_64", "amd64") or ISA_VARIABLE in os.environ:
        return None
    if cpu_flags is None:
        from crackedge.runtime.backends.openvino_compat import cpu_isa_flags

        cpu_flags = cpu_isa_flags()
    if AMX_FLAG not in cpu_flags:
        return None  # no AMX: oneDNN packs nothing for it
    os.environ[ISA_VARIABLE] = LEAN_INT8_ISA
    log.info("INT8 IR on a CPU with AMX: %s=%s (no AMX weight packing: ~110 MB less, ~1/3 fewer FPS; "
             "set %s=ALL to keep AMX)", ISA_VARIABLE, LEAN_INT8_ISA, ISA_VARIABLE)
    return LEAN_INT8_ISA


def lean_int8_isa_for(model_cfg: Any, bundle: Any) -> Optional[str]:
    """`lean_int8_isa` for the daemon's `model:` config (edge.config.ModelConfig) and its loaded bundle:
    model.model resolved as create_backend will, precision as requested (nothing asks OpenVINO first)."""
    if model_cfg.device != "CPU":
        return None
    from crackedge.runtime.backends.openvino_compat import choose_model_key, load_openvino_api

    key = choose_model_key(bundle.meta, load_openvino_api().generation, model_cfg.model)
    precision = bundle.meta.inference_precision if model_cfg.precision == "bundle" else model_cfg.precision
    return lean_int8_isa(model_cfg.device, key, precision)
