"""What a benchmark ran on: CPU, cores, memory, OS, Python and library versions, date."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import os
import platform
from pathlib import Path

LIBRARIES = ("crackedge", "numpy", "opencv-python-headless", "torch", "torchvision", "timm", "segment-anything",
             "onnx", "onnxruntime", "openvino", "nncf")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def library_versions() -> dict[str, str]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def machine_info() -> dict:
    flags = cpu_flags()
    return {
        "date": _dt.datetime.now().isoformat(timespec="minutes"),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "bf16_cpu": bool({"avx512_bf16", "amx_bf16"} & flags),
        "memory_gb": memory_gb(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "libraries": library_versions(),
    }
