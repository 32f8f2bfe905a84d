"""Acceptance criteria of an export: FP16 IR agreement >= 0.99, INT8 within 0.02 crack IoU of FP32."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from crackedge.runtime.metadata import ParityRecord, load_metadata
from distill.checkpoints import StudentCheckpoint, save_student_checkpoint
from distill.errors import ExportError
from distill.export.bundle_export import ExportOptions, export_bundle
from distill.export.parity_check import TORCH_RUNTIME, check_parity
from tests.helpers.student_checkpoints import calibrated_student

torch.set_num_threads(2)


def _rec(runtime: str, mask_iou: float = 1.0, gt: float | None = 0.5) -> ParityRecord:
    return ParityRecord(runtime=runtime, images=8, max_abs_diff=0.01, mask_iou=mask_iou, crack_iou_vs_gt=gt)


def test_a_faithful_export_passes_and_says_what_it_checked():
    records = [_rec(TORCH_RUNTIME, gt=0.60), _rec("openvino:CPU:f32", 0.999), _rec("openvino:CPU:bf16", 0.995),
               _rec("openvino-int8:CPU:f32", 0.95, gt=0.585), _rec("openvino-int8:CPU:bf16", 0.95, gt=0.59)]
    verdict = check_parity(records, "bf16")
    assert verdict.ok, verdict.failures
    summary = verdict.summary()
    assert summary.startswith("ok | FP16 IR at bf16: mask IoU vs torch 0.9950 (>= 0.99)")
    assert "openvino-int8:CPU:f32: crack IoU 0.5850 vs FP32 torch 0.6000 (drop +0.0150, max 0.02)" in summary


def test_fp16_disagreement_and_int8_loss_fail_with_numbers():
    records = [_rec(TORCH_RUNTIME, gt=0.60), _rec("openvino:CPU:f32", 0.97),
               _rec("openvino-int8:CPU:f32", 0.8, gt=0.55)]
    verdict = check_parity(records, "f32")
    assert not verdict.ok and len(verdict.failures) == 2
    assert "FP16 IR at f32 agrees with torch at mask IoU 0.9700 < 0.99 on 8 images" in verdict.failures[0]
    assert "openvino-int8:CPU:f32 loses 0.0500 crack IoU against FP32 (0.5500 vs 0.6000) > 0.02" in verdict.failures[1]
    assert verdict.summary().startswith("FAILED: ")
    # the thresholds are options
    assert check_parity(records, "f32", min_mask_iou=0.95, max_int8_drop=0.06).ok


def test_nan_agreement_fails_and_int8_without_masks_is_not_judged():
    records = [_rec(TORCH_RUNTIME, gt=None), _rec("openvino:CPU:f16", float("nan")),
               _rec("openvino-int8:CPU:f16", 0.5, gt=None)]
    verdict = check_parity(records, "f16")
    assert len(verdict.failures) == 1 and "f16" in verdict.failures[0]
    assert "INT8 vs FP32 crack IoU: not checked (the parity images have no masks)" in verdict.summary()


def test_agreement_on_empty_masks_is_unverified():
    empty = [ParityRecord(runtime=r, images=8, max_abs_diff=0.0, mask_iou=1.0, crack_iou_vs_gt=0.0, crack_pixels=0)
             for r in (TORCH_RUNTIME, "openvino:CPU:f32")]
    verdict = check_parity(empty, "f32")
    assert verdict.ok and verdict.unverified
    summary = verdict.summary()
    assert summary.startswith("UNVERIFIED: torch marks no crack pixel on any of the 8 parity images")
    assert "crack pixels marked: torch:CPU:f32 0, openvino:CPU:f32 0" in summary
    marked = [r.model_copy(update={"crack_pixels": 120}) for r in empty]
    assert check_parity(marked, "f32").summary().startswith("ok | ")


def nothing_checkpoint(path: Path, size: int = 64) -> Path:
    """A MobileNetV3 student that predicts no crack anywhere (background bias +20)."""
    model = calibrated_student("mobilenetv3_large_100", size)
    with torch.no_grad():
        for conv in (model.head.low_classifier, model.head.high_classifier):
            conv.weight.zero_()
            conv.bias.copy_(torch.tensor([10.0, -10.0]))
    return save_student_checkpoint(path, StudentCheckpoint(student="mobilenetv3_large_100", model=model.state_dict()))


def test_a_model_that_predicts_nothing_is_reported_and_refused_when_strict(tmp_path, caplog, capsys):
    from crackedge.synth import write_synthetic_dataset
    from distill.cli import main

    data = write_synthetic_dataset(tmp_path / "data", n_train=1, n_val=1, n_test=2, size=(64, 64), seed=5,
                                   progress=False).root
    ckpt = nothing_checkpoint(tmp_path / "none.pt")
    with caplog.at_level(logging.WARNING, logger="distill.export.bundle_export"):
        meta = export_bundle(ckpt, tmp_path / "b", ExportOptions(input_size=(64, 64), parity_data=data,
                                                                 parity_images=2, progress=False))
    records = {r.runtime: r for r in meta.parity}
    assert records["openvino:CPU:f32"].mask_iou == 1.0 and records[TORCH_RUNTIME].crack_pixels == 0
    assert records[TORCH_RUNTIME].crack_iou_vs_gt == 0.0
    assert meta.notes["parity_check"].startswith("UNVERIFIED: torch marks no crack pixel")
    assert "!!! parity UNVERIFIED" in caplog.text
    rc = main(["export", str(ckpt), "--out", str(tmp_path / "c"), "--size", "64", "--parity-data", str(data),
               "--parity-images", "2", "--strict-parity"])
    assert rc == 2 and "parity UNVERIFIED" in capsys.readouterr().err and not (tmp_path / "c").exists()


def perturbed_checkpoint(path: Path, size: int = 64) -> Path:
    """A MobileNetV3 student that FP16 weight storage breaks: both classes get the same classifier weights,
    the crack class a bias 0.2 above the background's at 1000. In float32 every pixel has crack margin
    0.2 (probability 0.55, all crack); FP16 spaces numbers near 1000 by 0.5, so 1000.2 is stored as 1000,
    the margin becomes 0 (probability 0.5, no crack) and the IR's mask shares no pixel with torch's."""
    model = calibrated_student("mobilenetv3_large_100", size)
    with torch.no_grad():
        for conv in (model.head.low_classifier, model.head.high_classifier):
            conv.weight[1] = conv.weight[0]
            conv.bias.zero_()
        model.head.low_classifier.bias.copy_(torch.tensor([1000.0, 1000.2]))
    return save_student_checkpoint(path, StudentCheckpoint(student="mobilenetv3_large_100", model=model.state_dict()))


def test_export_warns_loudly_on_a_perturbed_model_and_records_it(tmp_path, caplog):
    ckpt = perturbed_checkpoint(tmp_path / "bad.pt")
    with caplog.at_level(logging.WARNING, logger="distill.export.bundle_export"):
        meta = export_bundle(ckpt, tmp_path / "b", ExportOptions(input_size=(64, 64), parity_images=2, progress=False))
    records = {r.runtime: r for r in meta.parity}
    assert records["onnxruntime:CPU:f32"].mask_iou == 1.0  # the ONNX file is right: FP32 keeps 1000.2
    assert records["openvino:CPU:f32"].mask_iou == 0.0  # the FP16 IR is not
    assert meta.inference_precision == "f32"
    assert load_metadata(tmp_path / "b").notes["parity_check"].startswith("FAILED: the FP16 IR at f32 agrees with torch")
    assert "!!! parity check FAILED" in caplog.text and "--strict-parity" in caplog.text


def test_strict_parity_refuses_the_perturbed_model_and_leaves_nothing(tmp_path, capsys):
    from distill.cli import main

    ckpt = perturbed_checkpoint(tmp_path / "bad.pt")
    rc = main(["export", str(ckpt), "--out", str(tmp_path / "b"), "--size", "64", "--parity-images", "2",
               "--strict-parity"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "parity check FAILED" in err and "no bundle written: --strict-parity" in err
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.*"))


def test_parity_uses_the_test_split_by_default(tmp_path):
    from crackedge.synth import write_synthetic_dataset
    from tests.helpers.student_checkpoints import write_checkpoint

    data = write_synthetic_dataset(tmp_path / "data", n_train=1, n_val=1, n_test=2, size=(64, 64), seed=5,
                                   progress=False).root
    ckpt = write_checkpoint(tmp_path / "m.pt", "mobilenetv3_large_100", 64)
    meta = export_bundle(ckpt, tmp_path / "b", ExportOptions(input_size=(64, 64), parity_data=data, progress=False))
    assert meta.notes["parity_data"] == f"{data} (split test, 2 images)"
    meta = export_bundle(ckpt, tmp_path / "b", ExportOptions(input_size=(64, 64), parity_data=data, parity_split="val",
                                                             force=True, progress=False))
    assert meta.notes["parity_data"] == f"{data} (split val, 1 images)"


def test_declared_precision_prefers_the_plugin_default_when_it_passes():
    from distill.export.parity import RuntimeRun, choose_precision

    runs = [RuntimeRun(f"openvino:CPU:{p}", [], ms, p) for p, ms in (("f32", 20.0), ("bf16", 9.0), ("f16", 8.5))]
    recs = [_rec(r.runtime, iou) for r, iou in zip(runs, (1.0, 0.995, 0.999))]
    assert choose_precision(runs, recs, 0.99, preferred="bf16") == "bf16"  # f16 a hair faster: not chosen
    assert choose_precision(runs, recs, 0.99) == "f16"  # no default known: the fastest that passed
    recs[1] = _rec("openvino:CPU:bf16", 0.95)
    assert choose_precision(runs, recs, 0.99, preferred="bf16") == "f16"  # the default failed parity
    recs[2] = _rec("openvino:CPU:f16", 0.90)
    assert choose_precision(runs, recs, 0.99, preferred="bf16") == "f32"
