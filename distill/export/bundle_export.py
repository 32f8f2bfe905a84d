"""`distill export`: a student checkpoint -> a model bundle that `edge` loads (crackedge.runtime.metadata).

Steps: rebuild the student from its checkpoint; wrap it for export (crack probability at the
student's stride); ONNX opset 11 (checked); NCS2 op check for --target ncs2; OpenVINO IR with FP16
weights; optional INT8 IR (NNCF); parity of every runtime against torch on real (or, failing that,
synthetic) images; metadata.yaml with file hashes. The bundle is assembled in a staging folder and
moved into place at the end, so a failed export never leaves a half-written bundle. The machinery
shared with `teacher export` lives in crackedge.export; this module adds the student specifics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from crackedge.export.bundle import (  # noqa: F401 (names kept for old imports)
    IR_FP16_NAME,
    IR_INT8_NAME,
    ONNX_NAME,
    ORT_MAX_ABS_DIFF,
    BundleExportOptions,
    ParitySet,
    check_out_dir,
    float_parity,
    judge_parity,
    log_summary,
    openvino_runs,
    parity_set,
    precision_notes,
    finish_bundle,
    staged_bundle,
    samples_for,
)
from crackedge.fileio import sha256_file
from crackedge.runtime.metadata import (
    MODEL_IR_FP16,
    MODEL_IR_INT8,
    MODEL_ONNX,
    BundleMetadata,
    ModelIdentity,
    OutputSpec,
    ParityRecord,
)
from distill.errors import ExportError

log = logging.getLogger(__name__)


@dataclass
class ExportOptions(BundleExportOptions):
    """Everything `export_bundle` needs besides the checkpoint and the output folder (the shared fields:
    crackedge.export.bundle.BundleExportOptions; input_size None: the training size, else the student's)."""

    int8: bool = False
    calib_images: int = 20
    calib_split: str = "train"  # split of a canonical --calib-data
    int8_preset: Literal["performance", "mixed"] = "performance"
    int8_fast_bias_correction: bool = True  # False: NNCF's full bias correction (slower, often more accurate)
    int8_activation_ranges: Literal["histogram", "mean-minmax", "minmax"] = "histogram"  # openvino_export.ACTIVATION_RANGES


def _int8_model(onnx_path: Path, xml_path: Path, input_spec, size, declared: str, ps: ParitySet,
                opts: ExportOptions, notes: dict[str, str]):
    """Quantize, then measure the INT8 IR at f32 and the declared precision. Returns (files, runs, records)."""
    from crackedge.runtime.preprocess import preprocess
    from distill.export.openvino_export import save_ir_int8

    calib, notes["calibration_data"] = samples_for(opts.calib_data, opts.calib_images, (opts.calib_split,), size,
                                                opts.synthetic_seed + 1000, "INT8 calibration")
    files = save_ir_int8(onnx_path, xml_path, calib, lambda s: preprocess(s.image, input_spec), opts.int8_preset,
                         opts.int8_fast_bias_correction, opts.int8_activation_ranges)
    notes["int8"] = f"{int8_settings(opts)}, {len(calib)} images"
    precisions = sorted({"f32", declared}, key=["f32", "bf16", "f16"].index)
    runs = openvino_runs("openvino-int8", xml_path, ps.inputs, precisions, opts)
    return files, runs, [ps.record(r) for r in runs]


def int8_settings(opts: ExportOptions) -> str:
    """The INT8 settings as a bundle's notes.int8 begins (`distill compare` matches bundles on it)."""
    return (f"NNCF post-training quantization, preset {opts.int8_preset}, {opts.int8_activation_ranges} activation "
            f"ranges, {'fast' if opts.int8_fast_bias_correction else 'full'} bias correction")


def trained_size(ckpt) -> Optional[tuple[int, int]]:
    """(H, W) the student was trained at (its config's student.size), None when not recorded."""
    side = ((ckpt.config or {}).get("student") or {}).get("size")
    return (int(side), int(side)) if side else None


def _notes(notes: dict[str, str], runs, declared: str, checkpoint: Path, ckpt, opts: ExportOptions) -> dict[str, str]:
    precision_notes(notes, runs, declared, opts)
    notes["checkpoint"] = f"{checkpoint.name} sha256 {sha256_file(checkpoint)} (step {ckpt.step}, epoch {ckpt.epoch})"
    recipe = distillation_note(ckpt.config or {})
    if recipe:
        notes["distillation"] = recipe
    if opts.target == "ncs2":
        notes["ncs2"] = (
            f"use {ONNX_NAME} with OpenVINO 2022.3 (MYRIAD); the IR files are written by a newer OpenVINO "
            "and do not load there. Ops checked against crackedge/export/ncs2_ops.py."
        )
    return notes


def distillation_note(config: dict) -> str | None:
    """How the student learned, from its training config: soft loss, weights, temperature, warm-up,
    labeled fraction, unlabeled images, steps (None for a checkpoint without a distill config)."""
    loss, data, optim = config.get("loss") or {}, config.get("data") or {}, config.get("optim") or {}
    teacher = (config.get("teacher") or {}).get("kind")
    if not loss and not data:
        return None
    if teacher in (None, "none"):
        soft = "no teacher (hard loss only)"
    else:
        from distill.train_config import soft_loss_text

        weights = soft_loss_text(loss)
        soft = (f"{teacher} teacher, soft loss {weights}, T {loss.get('temperature')}, "
                f"warm-up {loss.get('soft_warmup_steps', 0)} steps, on {loss.get('soft_on', 'all')} items")
    unlabeled = data.get("unlabeled") or []
    return (f"{soft}; labeled fraction {data.get('labeled_fraction', 1.0)}, unlabeled images "
            f"{', '.join(unlabeled) if unlabeled else 'none'} (share {data.get('unlabeled_share')}); "
            f"{optim.get('steps')} steps x batch {optim.get('batch_size')}, seed {config.get('seed')}, "
            f"data seed {data.get('seed')}")


def export_bundle(checkpoint: Path, out_dir: Path, opts: ExportOptions = ExportOptions()) -> BundleMetadata:
    """Export the student in `checkpoint` to a bundle folder `out_dir`; returns the written metadata.

    Raises CheckpointError (bad checkpoint), ExportError (opset, unsupported NCS2 ops, failed
    parity, existing output), DataError (calibration/parity images).
    """
    from crackedge.runtime.preprocess import default_input_spec
    from distill.checkpoints import build_from_checkpoint, load_student_checkpoint
    from crackedge.export.ncs2_ops import check_ncs2_ops
    from crackedge.export.onnx_export import ONNX_OPSET, export_onnx
    from crackedge.export.openvino_ir import save_ir_fp16
    from distill.export.wrapper import (
        CRACK_CHANNEL,
        OUTPUT_CHANNELS,
        OUTPUT_KIND,
        export_module,
    )

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    check_out_dir(out_dir, opts.force)
    ckpt = load_student_checkpoint(checkpoint)
    model = build_from_checkpoint(ckpt, str(checkpoint))
    size = tuple(opts.input_size or trained_size(ckpt) or model.spec.input_size)
    if size[0] % 32 or size[1] % 32:
        raise ExportError(f"input size {size[0]}x{size[1]} must be a multiple of 32 in both dimensions")
    input_spec = default_input_spec(*size)
    wrapper = export_module(model)

    with staged_bundle(out_dir, opts.force, 5 if opts.int8 else 4, "export", opts.progress) as (staging, steps):
        steps.set_postfix_str("ONNX opset 11")
        onnx_path = export_onnx(wrapper, staging / ONNX_NAME, size, ONNX_OPSET)
        if opts.target == "ncs2":
            check_ncs2_ops(onnx_path)
        steps.update()
        steps.set_postfix_str("OpenVINO IR FP16")
        files = [onnx_path, *save_ir_fp16(onnx_path, staging / IR_FP16_NAME)]
        models = {MODEL_ONNX: ONNX_NAME, MODEL_IR_FP16: IR_FP16_NAME}
        steps.update()
        steps.set_postfix_str("parity vs torch")
        notes: dict[str, str] = {}
        output_spec = OutputSpec(kind=OUTPUT_KIND, channels=OUTPUT_CHANNELS, crack_channel=CRACK_CHANNEL,
                                 stride=model.spec.stride)
        ps = parity_set(wrapper, input_spec, output_spec, size, opts, notes)
        runs, records, declared = float_parity(onnx_path, staging / IR_FP16_NAME, ps, opts)
        steps.update()
        if opts.int8:
            steps.set_postfix_str("INT8 (NNCF)")
            int8_files, int8_runs, int8_records = _int8_model(onnx_path, staging / IR_INT8_NAME, input_spec, size,
                                                              declared, ps, opts, notes)
            files += int8_files
            models[MODEL_IR_INT8] = IR_INT8_NAME
            runs, records = runs + int8_runs, records + int8_records
            steps.update()
        judge_parity(records, declared, opts, notes)
        steps.set_postfix_str("metadata")
        meta = BundleMetadata(
            model=ModelIdentity(name=ckpt.student, kind="student"),
            teacher=ckpt.teacher,
            training_data=ckpt.training_data,
            target=opts.target,
            input=input_spec,
            output=output_spec,
            threshold=opts.threshold,
            opset=ONNX_OPSET,
            models=models,
            inference_precision=declared,
            parity_min_mask_iou=opts.min_mask_iou,
            parity=records,
            validation_metrics={k: float(v) for k, v in ckpt.validation_metrics.items()},
            notes=_notes(notes, [ps.reference, *runs], declared, checkpoint, ckpt, opts),
        )
        finish_bundle(staging, out_dir, meta, files)
        steps.update()
    log_summary(out_dir, meta)
    return meta


__all__ = ["ExportOptions", "export_bundle", "ParityRecord"]
