"""Issue 15, item 3: the precision a Pi runs is the fastest its CPU offers that the bundle validated.

A Pi 4 (Cortex-A72) offers f32 only; a Pi 5 (Cortex-A76) offers f16 and OpenVINO defaults to it; an
x86 export box with AMX offers bf16 and f16. The daemon reads one parity record per precision from
the bundle and says which precision it runs and why.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from crackedge.runtime.backends import create_backend
from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.metadata import ParityRecord, hash_files, load_metadata, write_metadata
from crackedge.runtime.options import RuntimeOptions
from crackedge.runtime.precision import select_precision, speed_order
from edge.cli import main
from tests.edge_bundle_fixture import build_test_bundle, encode_jpeg, synthetic_frame

PI4 = (["f32"], "f32")  # what OpenVINO's CPU plugin reports on a Cortex-A72: offered, default
PI5 = (["f32", "f16"], "f16")  # Cortex-A76 (ARMv8.2 FP16)
X86_AMX = (["f32", "bf16", "f16"], "bf16")


def _rec(precision: str, iou: float, diff: float = 1e-3) -> ParityRecord:
    return ParityRecord(runtime=f"openvino:CPU:{precision}", images=8, max_abs_diff=diff, mask_iou=iou,
                        crack_pixels=1000, measured=f"native {precision}, OpenVINO 2026.4.1 CPU plugin, test CPU")


def _meta(bundle: Path, declared: str = "f32", **ious: float):
    meta = load_metadata(bundle)
    meta.inference_precision = declared
    meta.parity = [_rec(p, iou) for p, iou in ious.items()]
    return meta


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_test_bundle(tmp_path_factory.mktemp("prec") / "b")


def test_speed_order_puts_the_plugin_default_first() -> None:
    assert speed_order(*PI4) == ["f32"]
    assert speed_order(*PI5) == ["f16", "f32"]
    assert speed_order(*X86_AMX) == ["bf16", "f16", "f32"]
    assert speed_order(["f32", "f16"], None) == ["f16", "f32"]


def test_pi5_runs_f16_when_its_record_passes(bundle) -> None:
    d = select_precision(_meta(bundle, f32=0.9995, bf16=0.997, f16=0.995), "auto", "CPU", *PI5)
    assert d.precision == "f16" and d.validated
    assert d.reason.startswith("f16: the fastest precision this CPU offers (f16, f32")
    assert "mask IoU vs torch 0.9950 >= 0.99 on 8 images" in d.reason and "native f16" in d.reason


def test_pi5_falls_back_to_f32_and_says_why_when_f16_failed(bundle) -> None:
    d = select_precision(_meta(bundle, f32=0.9995, f16=0.93), "auto", "CPU", *PI5)
    assert d.precision == "f32" and d.validated
    assert "skipped f16: mask IoU vs torch 0.9300 < 0.99" in d.reason


def test_a_precision_without_a_record_is_never_picked(bundle) -> None:
    d = select_precision(_meta(bundle, f32=0.9995), "auto", "CPU", *PI5)  # exported where f16 was not measured
    assert d.precision == "f32" and "f16: the bundle has no parity record for it" in d.reason
    nan = _meta(bundle, f32=0.9995)
    nan.parity.append(_rec("f16", 0.999, diff=float("nan")))
    assert select_precision(nan, "auto", "CPU", *PI5).precision == "f32"


def test_pi4_runs_f32_even_when_the_bundle_declared_bf16(bundle) -> None:
    d = select_precision(_meta(bundle, "bf16", f32=0.9995, bf16=0.997, f16=0.995), "auto", "CPU", *PI4)
    assert d.precision == "f32" and d.validated


def test_x86_prefers_its_default_bf16_then_f16(bundle) -> None:
    assert select_precision(_meta(bundle, f32=1.0, bf16=0.995, f16=0.995), "auto", "CPU", *X86_AMX).precision == "bf16"
    assert select_precision(_meta(bundle, f32=1.0, bf16=0.95, f16=0.995), "auto", "CPU", *X86_AMX).precision == "f16"


def test_the_bundle_criterion_is_the_one_used_at_export(bundle) -> None:
    meta = _meta(bundle, f32=1.0, f16=0.985)
    assert select_precision(meta, "auto", "CPU", *PI5).precision == "f32"
    meta.parity_min_mask_iou = 0.98  # exported with --min-mask-iou 0.98
    assert select_precision(meta, "auto", "CPU", *PI5).precision == "f16"


def test_forced_and_declared_precisions_say_whether_they_were_validated(bundle) -> None:
    meta = _meta(bundle, "bf16", f32=1.0, bf16=0.995)
    d = select_precision(meta, "f16", "CPU", *PI5)
    assert d.precision == "f16" and not d.validated and "NOT validated" in d.reason
    d = select_precision(meta, "bundle", "CPU", *PI4)
    assert d.precision == "bf16" and d.validated and "OpenVINO will fall back" in d.reason
    assert select_precision(meta, "auto", "MYRIAD", ["f32"], None).reason.startswith("precision set by the device")


def _pi5(monkeypatch) -> None:
    """OpenVINO's CPU plugin as a Pi 5 reports it (this x86 box computes f16 natively too)."""
    import crackedge.runtime.backends.openvino_compat as compat

    monkeypatch.setattr(compat, "cpu_precisions", lambda device="CPU", api=None: list(PI5[0]))
    monkeypatch.setattr(compat, "default_precision", lambda device="CPU", api=None: PI5[1])


def _bundle_with_records(tmp_path: Path, declared: str, **ious: float) -> Path:
    b = build_test_bundle(tmp_path / "bundle")
    meta = _meta(b, declared, **ious)
    meta.files = hash_files(b, list(meta.files))
    write_metadata(b, meta)
    return b


def test_create_backend_runs_f16_on_a_pi5_for_a_bundle_declared_f32(tmp_path, monkeypatch, caplog) -> None:
    """Fails on the old create_backend: it applied the export box's declared precision (f32)."""
    from crackedge.runtime.backends.openvino_compat import cpu_precisions, default_precision

    native_f16 = "f16" in cpu_precisions()  # an x86 with AVX512-FP16 and a Pi 5 compute f16; a Pi 4 does not
    # without f16 OpenVINO falls back to this CPU's own default: bf16 on an x86 with AVX512-BF16 (a Zen 4),
    # f32 elsewhere
    fallback = default_precision() or "f32"
    _pi5(monkeypatch)
    b = _bundle_with_records(tmp_path, "f32", f32=1.0, bf16=0.999, f16=0.996)
    with caplog.at_level(logging.INFO):
        backend, _ = create_backend(RuntimeOptions(device="CPU"), load_bundle(b))
    try:
        assert backend.info["precision"] == ("f16" if native_f16 else fallback)
        assert backend.info["precision_validated"] is True
        assert backend.info["precision_reason"].startswith("f16: the fastest precision this CPU offers")
        assert "inference precision f16: the fastest precision" in caplog.text
    finally:
        backend.close()


def test_edge_run_and_check_config_say_which_precision_and_why(tmp_path, monkeypatch, capsys) -> None:
    _pi5(monkeypatch)
    b = _bundle_with_records(tmp_path, "f32", f32=1.0, f16=0.96)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "a.jpg").write_bytes(encode_jpeg(synthetic_frame(160, 120, seed=1)))
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({"source": {"kind": "images", "path": str(frames)}, "model": {"bundle": str(b)},
                                   "save": {"out_dir": str(tmp_path / "out"), "every_nth": 1},
                                   "disk": {"min_free_mb": 1}, "preview": {"enabled": False}}))
    assert main(["check-config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "precision f32: the fastest remaining" in out and "skipped f16: mask IoU vs torch 0.9600 < 0.99" in out
    assert main(["run", "--config", str(cfg)]) == 0
    run = json.loads(next((tmp_path / "out" / "runs").glob("*/run.json")).read_text())
    assert run["model"]["precision"] == "f32" and "skipped f16" in run["precision_reason"]
