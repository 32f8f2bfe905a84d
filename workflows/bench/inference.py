"""Report section `inference`: every student at one input size in every runtime, batch 1.

Per student (random weights, see random_students.py): parameters and GFLOPs; torch eager fp32 in
NCHW and channels_last memory format; the student exported by distill's own bundle export, then
ONNX Runtime on model.onnx, OpenVINO on the FP16-weight IR at f32 and at the CPU plugin's default
precision (bf16 on x86 CPUs with bf16), and on the INT8 IR (NNCF post-training quantization) at the
same precisions. OpenVINO rows have latency (LATENCY hint, synchronous) and async throughput
(THROUGHPUT hint, the optimal number of infer requests).
"""

from __future__ import annotations

import gc
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnxruntime", "openvino")


@dataclass
class InferenceOptions:
    students: Optional[list[str]] = None  # None: distill.students.list_students()
    size: int = 448
    device: str = "CPU"  # OpenVINO device; torch and ONNX Runtime always run on the host CPU
    threads: Optional[int] = None  # None: the usable cores
    max_seconds: float = 10.0  # per latency / throughput measurement
    warmup: int = 2
    repeats: int = 50
    runtimes: tuple[str, ...] = RUNTIMES
    int8: bool = True
    calib_images: int = 10
    parity_images: int = 4
    calib_data: Optional[Path] = None
    work_dir: Path = field(default_factory=lambda: Path("runs/bench-report/work"))


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _attempt(rows: list[dict[str, Any]], row: dict[str, Any], fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one measurement; a failure is recorded in the row (and logged), not raised."""
    t0 = time.perf_counter()
    try:
        row.update(fn())
    except Exception as err:  # a benchmark row that fails must not cost the rest of the report
        log.exception("%s %s %s failed", row.get("runtime"), row.get("model"), row.get("precision"))
        row["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"[:300]
    row["seconds"] = round(time.perf_counter() - t0, 1)
    lat = (row.get("latency") or {}).get("median_ms")
    log.info("inference: %-22s %-16s %-24s %-5s %s%s", row.get("student"), row["runtime"], row["model"],
             row.get("precision"), f"{lat:.2f} ms" if lat else row.get("error", "-"),
             f", {row['throughput_fps']:.2f} FPS async" if row.get("throughput_fps") else "")
    rows.append(row)
    return row


def _torch_rows(name: str, checkpoint: Path, opts: InferenceOptions, rows: list, info: dict) -> None:
    import torch

    from distill.checkpoints import build_from_checkpoint, load_student_checkpoint
    from workflows.bench.complexity import complexity
    from workflows.bench.runtimes import torch_latency

    model = build_from_checkpoint(load_student_checkpoint(checkpoint), str(checkpoint))
    info.update(complexity(model, torch.zeros(1, 3, opts.size, opts.size)))
    info["stride"] = model.spec.stride
    size = (opts.size, opts.size)
    for layout, channels_last in (("NCHW", False), ("channels_last", True)):
        _attempt(rows, {"student": name, "runtime": "torch eager", "model": f"fp32 {layout}", "precision": "f32"},
                 lambda cl=channels_last: torch_latency(model, size, cl, opts.max_seconds, opts.warmup, opts.repeats,
                                                        opts.threads))
    del model
    gc.collect()


def _openvino_rows(name: str, bundle: Path, blob, opts: InferenceOptions, rows: list, default: str) -> None:
    from crackedge.runtime.backends.openvino_compat import load_openvino_api
    from crackedge.runtime.metadata import (
        MODEL_IR_FP16,
        MODEL_IR_INT8,
        MODEL_ONNX,
        load_metadata,
    )
    from workflows.bench.runtimes import openvino_measure

    meta = load_metadata(bundle)
    models = [(MODEL_IR_FP16, "FP16 IR")]
    if load_openvino_api().generation == "2022":  # IR saved by OpenVINO 2023+ does not load on 2022.3
        models = [(MODEL_ONNX, "ONNX")]
    if MODEL_IR_INT8 in meta.models and opts.device != "MYRIAD":  # the NCS2 runs FP16 only
        models.append((MODEL_IR_INT8, "INT8 IR"))
    precisions = ["f32", default] if opts.device == "CPU" else [default]
    if opts.device == "CPU" and meta.inference_precision not in precisions:
        precisions.append(meta.inference_precision)
    for key, title in models:
        for precision in dict.fromkeys(precisions):
            row = {"student": name, "runtime": f"OpenVINO {opts.device}", "model": title, "precision": precision,
                   "default": precision == default, "declared": key != MODEL_ONNX and precision == meta.inference_precision}
            _attempt(rows, row, lambda k=key, p=precision: openvino_measure(
                bundle / meta.models[k], blob, opts.device, p, opts.max_seconds, True, opts.warmup, opts.repeats,
                opts.threads))


def measure_student(name: str, opts: InferenceOptions) -> dict[str, Any]:
    """Everything the section reports for one student: complexity, bundle and one row per runtime setting."""
    import numpy as np

    from workflows.bench.random_students import (
        BundleRecipe,
        ensure_bundle,
        write_random_checkpoint,
    )
    from workflows.bench.runtimes import onnxruntime_latency, openvino_default_precision

    t0 = time.perf_counter()
    info: dict[str, Any] = {"student": name, "rows": []}
    rows: list[dict[str, Any]] = info["rows"]
    needs_bundle = any(r in opts.runtimes for r in ("onnxruntime", "openvino"))
    if needs_bundle:
        recipe = BundleRecipe(name, opts.size, opts.int8, opts.calib_images, opts.parity_images,
                              str(opts.calib_data) if opts.calib_data else None)
        checkpoint, bundle, export_s = ensure_bundle(opts.work_dir, recipe, opts.threads)
        info.update(bundle=str(bundle), export_s=export_s)
    else:
        checkpoint = write_random_checkpoint(Path(opts.work_dir) / f"{name}_{opts.size}" / "random.pt", name, opts.size)
    if "torch" in opts.runtimes:
        _torch_rows(name, checkpoint, opts, rows, info)
    if not needs_bundle:
        info["seconds"] = round(time.perf_counter() - t0, 1)
        return info

    from crackedge.runtime.metadata import load_metadata

    meta = load_metadata(bundle)
    info["declared_precision"] = meta.inference_precision
    info["parity"] = [r.model_dump() for r in meta.parity]
    blob = np.random.default_rng(0).standard_normal((1, 3, opts.size, opts.size)).astype(np.float32)
    if "onnxruntime" in opts.runtimes:
        _attempt(rows, {"student": name, "runtime": "ONNX Runtime", "model": "ONNX opset 11", "precision": "f32"},
                 lambda: onnxruntime_latency(bundle / meta.models["onnx"], blob, opts.max_seconds, opts.warmup,
                                             opts.repeats, opts.threads))
    if "openvino" in opts.runtimes:
        _openvino_rows(name, bundle, blob, opts, rows, openvino_default_precision(opts.device))
    info["seconds"] = round(time.perf_counter() - t0, 1)
    return info


def inference_section(opts: InferenceOptions) -> dict[str, Any]:
    """The `inference` section: one `measure_student` entry per student, plus the setup it ran with."""
    import torch

    from distill.students import list_students
    from workflows.bench.complexity import FLOPS_CONVENTION
    from workflows.bench.random_students import WEIGHTS_NOTE

    opts.threads = opts.threads or usable_cores()
    torch.set_num_threads(opts.threads)
    students = opts.students or list_students()
    unknown = [s for s in students if s not in list_students()]
    if unknown:
        from crackedge.errors import ConfigError

        raise ConfigError(f"--students: unknown student(s) {unknown}; valid: {', '.join(list_students())}")
    setup: dict[str, Any] = {
        "size": [opts.size, opts.size], "device": opts.device, "threads": opts.threads, "batch": 1,
        "max_seconds_per_measurement": opts.max_seconds, "warmup": opts.warmup, "max_repeats": opts.repeats,
        "runtimes": list(opts.runtimes), "weights": WEIGHTS_NOTE, "flops": FLOPS_CONVENTION,
        "int8": f"NNCF post-training quantization (distill export defaults: preset PERFORMANCE, histogram activation ranges) on {opts.calib_images} "
                + ("images of " + str(opts.calib_data) if opts.calib_data else "synthetic crack images"),
    }
    if "openvino" in opts.runtimes:
        from workflows.bench.runtimes import (
            openvino_default_precision,
            openvino_version,
        )

        setup.update(openvino_version=openvino_version(), default_precision=openvino_default_precision(opts.device))
    results = []
    for i, name in enumerate(students, 1):
        log.info("inference: student %d/%d %s at %dx%d", i, len(students), name, opts.size, opts.size)
        results.append(measure_student(name, opts))
    return {"setup": setup, "students": results}
