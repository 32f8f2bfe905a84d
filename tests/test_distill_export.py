"""`distill export`: a valid bundle (opset 11, hashes, parity), tamper detection, NCS2 refusal, INT8."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from crackedge.runtime.metadata import BundleError, load_metadata, verify_files
from distill.checkpoints import StudentCheckpoint
from distill.errors import ExportError, UnsupportedOpsError
from distill.export.bundle_export import ExportOptions, export_bundle
from tests.helpers.student_checkpoints import write_checkpoint

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def hrnet_bundle(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("hrnet")
    ckpt = write_checkpoint(tmp / "best.pt", "hrnet_w18", 128)
    out = tmp / "bundle"
    export_bundle(ckpt, out, ExportOptions(input_size=(128, 128), parity_images=2))
    return ckpt, out


def test_bundle_is_valid_and_describes_itself(hrnet_bundle):
    import onnx

    _, out = hrnet_bundle
    meta = load_metadata(out)
    verify_files(out, meta)
    assert sorted(meta.files) == ["model.bin", "model.onnx", "model.xml"]
    assert meta.models == {"onnx": "model.onnx", "ir_fp16": "model.xml"}
    assert [i.version for i in onnx.load(str(out / "model.onnx")).opset_import if i.domain in ("", "ai.onnx")] == [11]
    assert meta.opset == 11
    assert (meta.student, meta.teacher, meta.training_data) == ("hrnet_w18", "cracksam-test", "synthetic-test")
    assert meta.validation_metrics == {"iou": 0.42, "f1": 0.5}
    assert (meta.input.height, meta.input.width, meta.input.color_order) == (128, 128, "RGB")
    assert meta.input.mean == pytest.approx((123.675, 116.28, 103.53))
    assert (meta.output.kind, meta.output.channels, meta.output.crack_channel, meta.output.stride) == ("probabilities", 1, 0, 4)
    assert "synthetic" in meta.notes["parity_data"]
    assert not list(out.parent.glob(".bundle.*"))  # no staging folder left behind


def test_parity_records_at_f32_agree_with_torch(hrnet_bundle):
    _, out = hrnet_bundle
    records = {r.runtime: r for r in load_metadata(out).parity}
    for runtime in ("onnxruntime:CPU:f32", "openvino-onnx:CPU:f32"):  # the f32 ONNX file
        rec = records[runtime]
        assert rec.images == 2 and rec.max_abs_diff < 1e-3 and rec.mask_iou > 0.999, rec
        assert rec.crack_iou_vs_gt is not None  # synthetic images come with exact masks
    # The IR stores FP16 weights: on random weights, whose margins sit near 0 almost everywhere,
    # that moves probabilities by ~0.02 and flips a few percent of the mask pixels.
    ir = records["openvino:CPU:f32"]
    assert ir.max_abs_diff < 0.05 and ir.mask_iou > 0.9, ir


def test_declared_precision_is_the_fastest_that_agrees(hrnet_bundle):
    _, out = hrnet_bundle
    meta = load_metadata(out)
    ov = {r.runtime.split(":")[-1]: r for r in meta.parity if r.runtime.startswith("openvino:")}
    assert "f32" in ov and meta.inference_precision in ov
    if meta.inference_precision != "f32":
        assert ov[meta.inference_precision].mask_iou >= 0.99
    latency = {p: float(meta.notes[f"latency_ms:openvino:CPU:{p}"].split()[0]) for p in ov}
    faster_ok = [p for p in ov if ov[p].mask_iou >= 0.99 and latency[p] < latency[meta.inference_precision]]
    assert faster_ok == []


def test_bundle_holds_a_parity_record_per_precision_and_how_it_was_measured(hrnet_bundle):
    """Edge picks its precision from these records (crackedge.runtime.precision): one per precision
    the export CPU computes natively (f32, bf16, f16 on an x86 with AMX/AVX512-FP16), never a guessed one."""
    from crackedge.runtime.backends.openvino_compat import cpu_precisions

    _, out = hrnet_bundle
    meta = load_metadata(out)
    assert meta.parity_min_mask_iou == 0.99
    records = {r.runtime: r for r in meta.parity}
    offered = cpu_precisions()
    for p in ("f32", "bf16", "f16"):
        if p in offered:
            rec = records[f"openvino:CPU:{p}"]
            assert rec.measured.startswith(f"native {p}, OpenVINO ") and "CPU plugin" in rec.measured
        else:
            assert f"openvino:CPU:{p}" not in records and p in meta.notes["parity_not_measured"]


def test_ir_reproduces_the_torch_model(hrnet_bundle):
    from crackedge.runtime.backends import open_model
    from crackedge.runtime.preprocess import preprocess
    from crackedge.synth import generate_sample
    from distill.checkpoints import build_from_checkpoint, load_student_checkpoint

    ckpt, out = hrnet_bundle
    meta = load_metadata(out)
    image, _ = generate_sample(123, size=(200, 300))
    x = preprocess(image, meta.input)
    assert x.shape == (1, 3, 128, 128)
    model = build_from_checkpoint(load_student_checkpoint(ckpt))
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(x)), 1)[:, 1:2].numpy()
    got = open_model(out / "model.xml", precision="f32").infer(x)
    assert got.shape == ref.shape == (1, 1, 32, 32)
    assert np.abs(got - ref).max() < 0.05


def test_tampered_file_is_detected(hrnet_bundle, tmp_path):
    _, out = hrnet_bundle
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    data = bytearray((copy / "model.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.bin").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.bin"):
        verify_files(copy, load_metadata(copy))


def test_existing_output_needs_force(hrnet_bundle):
    ckpt, out = hrnet_bundle
    with pytest.raises(ExportError, match="--force"):
        export_bundle(ckpt, out, ExportOptions(input_size=(128, 128)))


def test_written_opset_other_than_11_fails_loudly(tmp_path):
    from distill.export.onnx_export import check_onnx, export_onnx

    path = export_onnx(torch.nn.Conv2d(3, 1, 1), tmp_path / "m13.onnx", (32, 32), opset=13)
    with pytest.raises(ExportError, match="opset 13, expected 11"):
        check_onnx(path, 11)


def test_ncs2_target_refuses_an_unsupported_op_and_leaves_nothing(tmp_path, monkeypatch):
    from distill.export import wrapper

    class SinWrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.sin(self.inner(x))

    original = wrapper.export_module
    monkeypatch.setattr(wrapper, "export_module", lambda student: SinWrapper(original(student)))
    ckpt = write_checkpoint(tmp_path / "m.pt", "mobilenetv3_large_100", 64)
    with pytest.raises(UnsupportedOpsError) as exc:
        export_bundle(ckpt, tmp_path / "b", ExportOptions(target="ncs2", input_size=(64, 64)))
    assert "Sin" in str(exc.value)
    assert not (tmp_path / "b").exists()
    assert not list(tmp_path.glob(".b.*"))


def test_ncs2_int8_export_of_a_small_student(tmp_path):
    """INT8 IR from a few synthetic calibration images; the NCS2 op check passes for MobileNetV3."""
    ckpt = write_checkpoint(tmp_path / "m.pt", "mobilenetv3_large_100", 64)
    out = tmp_path / "bundle"
    meta = export_bundle(ckpt, out, ExportOptions(target="ncs2", int8=True, input_size=(64, 64),
                                                  parity_images=2, calib_images=3))
    verify_files(out, load_metadata(out))
    assert meta.models["ir_int8"] == "model_int8.xml"
    assert {"model_int8.xml", "model_int8.bin"} <= set(meta.files)
    assert meta.target == "ncs2" and "MYRIAD" in meta.notes["ncs2"]
    assert "synthetic" in meta.notes["calibration_data"]
    int8 = [r for r in meta.parity if r.runtime.startswith("openvino-int8:")]
    assert int8 and all(r.images == 2 for r in int8)
    assert meta.notes["int8"] == ("NNCF post-training quantization, preset performance, histogram activation ranges, "
                                  "fast bias correction, 3 images")
    # distill compare reuses a bundle only when its INT8 settings are the asked ones
    from distill.compare_runs import _bundle_matches

    assert _bundle_matches(out, ckpt, ExportOptions(int8=True))
    assert not _bundle_matches(out, ckpt, ExportOptions(int8=True, int8_activation_ranges="mean-minmax"))
    assert not _bundle_matches(out, ckpt, ExportOptions(int8=True, int8_fast_bias_correction=False))


def test_cli_export_and_a_user_error(tmp_path, capsys):
    from distill.cli import main

    ckpt = write_checkpoint(tmp_path / "m.pt", "mobilenetv3_large_100", 64)
    rc = main(["export", str(ckpt), "--out", str(tmp_path / "b"), "--size", "64", "--parity-images", "2"])
    assert rc == 0
    assert "onnxruntime:CPU:f32" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "c")]) == 2
    assert "missing.pt" in capsys.readouterr().err


def test_export_defaults_to_the_size_the_student_was_trained_at():
    from distill.export.bundle_export import trained_size

    trained = StudentCheckpoint(student="hrnet_w18", model={}, config={"student": {"name": "hrnet_w18", "size": 224}})
    assert trained_size(trained) == (224, 224)
    assert trained_size(StudentCheckpoint(student="hrnet_w18", model={}, config={"student": {"size": None}})) is None
    assert trained_size(StudentCheckpoint(student="hrnet_w18", model={})) is None
