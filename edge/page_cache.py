"""Drop the daemon's libraries and the bundle's files from the page cache before a memory measurement.

A process's resident memory counts the pages of the files it maps (RssFile: shared libraries, the
memory-mapped IR weights) as well as its own (RssAnon). How many file pages a start maps depends on
what the page cache held beforehand: on a page fault the kernel also maps the neighbouring pages that
are already cached ("fault-around"), so a library that sits whole in the cache, as right after
`pip install` wrote it, is mapped far more widely than after a boot, when it is read from disk page
by page. For the daemon with the HRNet-W18 IR that is ~30 MB of VmHWM (OpenCV's cv2.abi3.so alone:
47 MB mapped right after an install, 16.5 MB after a boot; docs/edge.md). The vehicle starts the
daemon after a boot, so `edge bench` measures it in that state: `evict` asks the kernel
(posix_fadvise DONTNEED) to drop the clean cached pages of the files a daemon maps, which is what a
boot leaves. Pages that a running process maps stay (the benchmark itself has OpenCV and OpenVINO
loaded), so this approaches the after-boot state rather than reaching it; the figure is reported as
such. Linux only; elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import mmap
import os
from pathlib import Path
from typing import Iterable, Iterator, Optional

# The packages with shared objects that `edge run` loads (no torch: edge never imports it).
DAEMON_PACKAGES = ("cv2", "openvino", "numpy", "simplejpeg", "pydantic_core", "yaml", "psutil", "prometheus_client")


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def daemon_library_files(packages: Iterable[str] = DAEMON_PACKAGES) -> list[Path]:
    """Shared objects of `packages` (and the vendored `*.libs` folders beside them) in this interpreter."""
    files: set[Path] = set()
    for name in packages:
        pkg = _package_dir(name)
        if pkg is None:
            continue
        roots = [pkg] + sorted(p for p in pkg.parent.glob("*.libs") if p.is_dir())
        for root in roots:
            files.update(p for p in root.rglob("*.so*") if p.is_file())
    return sorted(files)


def ancestors() -> list[int]:
    """PIDs of this process's parent, its parent, ... (Linux /proc; [] elsewhere)."""
    out: list[int] = []
    pid = os.getppid()
    while pid > 1 and pid not in out:
        out.append(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
            pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
        except (OSError, ValueError, IndexError):
            break
    return out


def other_mappers(paths: Iterable[Path], exclude: Iterable[int] = ()) -> list[str]:
    """"PID NAME (file, ...)" for each process that maps one of `paths`, other than this one, its ancestors
    (the benchmark that started it, which has the libraries loaded by design) and `exclude` (Linux /proc;
    elsewhere, or for processes it may not read, nothing)."""
    wanted = {str(Path(p).resolve()): Path(p).name for p in paths}
    skip = {os.getpid(), *ancestors(), *exclude}
    found = []
    for proc in sorted(Path("/proc").glob("[0-9]*"), key=lambda p: int(p.name)):
        if int(proc.name) in skip:
            continue
        try:
            maps = (proc / "maps").read_text(encoding="utf-8", errors="replace")
            name = (proc / "comm").read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        mapped = {line.split(maxsplit=5)[-1] for line in maps.splitlines()}  # the path, where the line has one
        names = sorted({wanted[path] for path in mapped & wanted.keys()})
        if names:
            found.append(f"{proc.name} {name} ({', '.join(names)})")
    return found


def evict(paths: Iterable[Path]) -> int:
    """Ask the kernel to drop the cached pages of `paths` (files; folders: every file in them).

    Returns the number of files advised; unreadable files are skipped. Without posix_fadvise: 0."""
    if not hasattr(os, "posix_fadvise"):
        return 0
    done = 0
    for fd in _opened(paths):
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            done += 1
        except OSError:
            pass
    return done


def _opened(paths: Iterable[Path]) -> Iterator[int]:
    """A read-only descriptor of each readable file of `paths` (folders: every file in them), closed
    when the next one is asked for; unreadable files are skipped."""
    for path in paths:
        path = Path(path)
        targets = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        for target in targets:
            try:
                fd = os.open(target, os.O_RDONLY)
            except OSError:
                continue
            try:
                yield fd
            finally:
                os.close(fd)


_MAP_FAILED = ctypes.c_void_p(-1).value


def _libc() -> Optional[ctypes.CDLL]:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    return libc


def cached_mb(paths: Iterable[Path]) -> Optional[float]:
    """MB of the files `paths` (folders: every file in them) that the page cache holds now (mincore on a fresh read-only mapping, which
    reads nothing); None where the C library or mincore is not available (not Linux)."""
    libc = _libc() if hasattr(os, "posix_fadvise") else None
    if libc is None:
        return None
    total = 0
    page = mmap.PAGESIZE
    for fd in _opened(paths):
        size = os.fstat(fd).st_size
        if size == 0:
            continue
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, _MAP_FAILED):
            continue
        try:
            vec = (ctypes.c_ubyte * ((size + page - 1) // page))()
            if libc.mincore(addr, size, vec) != 0:
                return None
            total += sum(1 for b in bytes(vec) if b & 1) * page
        finally:
            libc.munmap(addr, size)
    return round(total / 2**20, 1)
