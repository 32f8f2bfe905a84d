"""The quick inference and teacher measurements on tiny models: sane numbers, honest parameter counts.

Speeds are never asserted (the machine is shared); only that timings exist and are positive.
"""

from __future__ import annotations

import pytest
import torch

from workflows.bench.inference import InferenceOptions, measure_student
from workflows.bench.teachers import TeacherOptions, measure_teacher

torch.set_num_threads(2)

STUDENT = "mobilenetv3_large_100"


def _latency_ok(row: dict) -> bool:
    lat = row.get("latency") or {}
    return lat.get("n", 0) >= 1 and lat.get("median_ms", 0) > 0 and lat["p90_ms"] >= lat["min_ms"]


def test_torch_rows_of_a_tiny_student(tmp_path):
    from distill.students import build_student

    opts = InferenceOptions(students=[STUDENT], size=64, max_seconds=0.2, warmup=1, repeats=5, runtimes=("torch",),
                            threads=2, work_dir=tmp_path)
    info = measure_student(STUDENT, opts)
    assert info["params"] == sum(p.numel() for p in build_student(STUDENT).parameters())
    assert 0 < info["gflops"] < 1 and info["gmacs"] == pytest.approx(info["gflops"] / 2)
    assert [r["model"] for r in info["rows"]] == ["fp32 NCHW", "fp32 channels_last"]
    assert all(_latency_ok(r) and "error" not in r for r in info["rows"])
    assert (tmp_path / f"{STUDENT}_64" / "random.pt").is_file()


def test_exported_runtimes_of_a_tiny_student(tmp_path):
    opts = InferenceOptions(students=[STUDENT], size=64, max_seconds=0.2, warmup=1, repeats=5,
                            runtimes=("onnxruntime", "openvino"), int8=False, parity_images=1, threads=2, work_dir=tmp_path)
    info = measure_student(STUDENT, opts)
    assert info["declared_precision"] in ("f32", "bf16", "f16")
    rows = info["rows"]
    assert [r["runtime"] for r in rows][0] == "ONNX Runtime"
    ov = [r for r in rows if r["runtime"] == "OpenVINO CPU"]
    assert {r["model"] for r in ov} == {"FP16 IR"} and "f32" in {r["precision"] for r in ov}
    assert all(_latency_ok(r) and "error" not in r for r in rows)
    assert all(r["throughput_fps"] > 0 and r["requests"] >= 1 for r in ov)
    assert any(r["declared"] for r in ov)
    # the bundle is reused when the recipe is unchanged
    assert measure_student(STUDENT, opts)["export_s"] is None


def test_teacher_measurement_counts_its_parameters():
    from teacher.models.parnet import build_parnet
    from teacher.models.parnet_config import parnet_config

    row = measure_teacher("parnet_small", TeacherOptions(size=64, max_seconds=0.1, min_repeats=1, repeats=3))
    assert row["params"] == sum(p.numel() for p in build_parnet(parnet_config("small")).parameters())
    assert row["gflops"] > 0 and _latency_ok(row)
    with pytest.raises(ValueError, match="valid: sam_vit_b"):
        measure_teacher("vit_z", TeacherOptions())
