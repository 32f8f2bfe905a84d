"""The daemon's heap: glibc malloc settings that keep resident memory near what is in use.

glibc gives every thread that allocates its own arena (up to 8 per core) and keeps freed memory in
them; the daemon has a dozen threads (pipeline stages, OpenVINO's, the preview server's), and
memory freed in one arena is not reused by another, so the resident set grows past what is live.
`tune_malloc()` (called first thing by `edge run`, before any thread exists) caps the arenas
(M_ARENA_MAX, what `MALLOC_ARENA_MAX=2` in the unit's environment does) and `release_free_memory()`
(called once the model is compiled, before READY=1) hands the compile's freed scratch memory back to
the system (malloc_trim). Both are no-ops where the C library is not glibc (a warning is not worth
it: they only save memory).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from typing import Any, Optional

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc mallopt parameter numbers (malloc.h)
DEFAULT_ARENAS = 2

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
