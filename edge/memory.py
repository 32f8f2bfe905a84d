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
for more INT8 throughput (on this shared 2-core box the capped INT8 IR ran at 0.47-1.06x the AMX
speed in 7 paired runs, median 0.63x: still ~3x the FP16 IR at f32). `lean_int8_isa()` caps
oneDNN's instruction set below AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI: INT8 still runs on the VNNI dot-product
instructions) for a process that runs the INT8 IR at f32 on the CPU, so that the INT8 IR costs less
memory than the FP16 one. oneDNN reads the variable at the first compile, so it is set before the
backend is created; a value already in the environment (the unit's, or ONEDNN_MAX_CPU_ISA=ALL to
keep AMX) wins. bf16 inference is left alone: without AMX it is several times slower here. ARM
(a Pi) has neither AMX nor this variable's x86 names: nothing is set there.
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


def lean_int8_isa(device: str, model_key: str, precision: Optional[str]) -> Optional[str]:
    """Cap oneDNN below AMX when this process runs the INT8 IR at f32 on an x86 CPU (see the module
    docstring). Returns the value set, or None when nothing was changed."""
    if device != "CPU" or model_key != "ir_int8" or precision not in ("f32", None):
        return None
    if platform.machine().lower() not in ("x86_64", "amd64") or ISA_VARIABLE in os.environ:
        return None
    os.environ[ISA_VARIABLE] = LEAN_INT8_ISA
    log.info("INT8 IR on the CPU: %s=%s (no AMX weight packing: ~100 MB less; set %s=ALL to keep AMX)",
             ISA_VARIABLE, LEAN_INT8_ISA, ISA_VARIABLE)
    return LEAN_INT8_ISA
