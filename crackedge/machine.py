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


# x86 (vendor, family, model) -> microarchitecture, for CPUs whose model name alone does not say it
# (a cloud VM often reports just "AMD EPYC"): the figures of two EPYC generations differ by 2x here.
_X86_CORES = {
    ("AuthenticAMD", 25): "Zen 3/4",  # family 19h: Zen 3 (models 0x00-0x0f, 0x20-0x5f), Zen 4 (0x10-0x1f, 0x60-0xaf)
    ("AuthenticAMD", 26): "Zen 5",  # family 1Ah
}
_ZEN4_MODELS = set(range(0x10, 0x20)) | set(range(0x60, 0xB0))


def cpu_id(cpuinfo: str | None = None) -> str:
    """"vendor family F model M" of an x86 CPU, with the microarchitecture where known (AMD Zen 3/4/5);
    "" elsewhere (an ARM CPU's model name already says what it is). `cpuinfo`: /proc/cpuinfo's text."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep:
            if fields:
                break  # the first processor's block is enough
            continue
        if key in ("vendor_id", "cpu family", "model"):
            fields[key] = value.strip()
    try:
        vendor, family, model = fields["vendor_id"], int(fields["cpu family"]), int(fields["model"])
    except (KeyError, ValueError):
        return ""
    core = _X86_CORES.get((vendor, family), "")
    if core == "Zen 3/4":
        core = "Zen 4" if model in _ZEN4_MODELS else "Zen 3"
    return f"{vendor} family {family} model {model}" + (f" ({core})" if core else "")


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


def cpu_label(machine: dict) -> str:
    """"model name, vendor family F model M (microarchitecture)" of a `machine_info()` record (older
    records without cpu_id: the model name alone)."""
    return ", ".join(v for v in (machine.get("cpu"), machine.get("cpu_id")) if v)


def machine_info() -> dict:
    flags = cpu_flags()
    return {
        "date": _dt.datetime.now().isoformat(timespec="minutes"),
        "cpu": cpu_model(),
        "cpu_id": cpu_id(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "bf16_cpu": bool({"avx512_bf16", "amx_bf16"} & flags),
        "memory_gb": memory_gb(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "libraries": library_versions(),
    }
