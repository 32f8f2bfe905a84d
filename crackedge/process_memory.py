"""This process's resident memory, from /proc/self/status (Linux; None elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def memory_mb(*fields: str) -> dict[str, Optional[float]]:
    """The /proc/self/status `fields` in MB, read once: VmRSS (resident now), VmHWM (its peak), RssAnon /
    RssFile (the two parts of VmRSS: own pages / mapped files). None for a field that cannot be read."""
    out: dict[str, Optional[float]] = dict.fromkeys(fields)
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii", errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name in out:
                out[name] = round(int(value.split()[0]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return out


def rss_mb(field: str = "VmRSS") -> Optional[float]:
    """One field of `memory_mb` (default VmRSS, resident memory now) in MB, or None."""
    return memory_mb(field)[field]
