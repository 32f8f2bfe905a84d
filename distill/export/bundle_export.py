"""`distill export`: a student checkpoint -> a model bundle that `edge` loads (crackedge.runtime.metadata).

Steps: rebuild the student from its checkpoint; wrap it for export (crack probability at the
student's stride); ONNX opset 11 (checked); NCS2 op check for --target ncs2; OpenVINO IR with FP16
weights; optional INT8 IR (NNCF); parity of every runtime against torch on real (or, failing that,
synthetic) images; metadata.yaml with file hashes. The bundle is assembled in a staging folder and
moved into place at the end, so a failed export never leaves a half-written bundle.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional

import numpy as np

from crackedge.fileio import sha256_file
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.metadata import (
    MODEL_IR_FP16,
    MODEL_IR_INT8,
    MODEL_ONNX,
    BundleMetadata,
    OutputSpec,
    ParityRecord,
    hash_files,
    write_metadata,
)
from distill.errors import ExportError
from distill.export.parity_check import TORCH_RUNTIME, ParityVerdict, check_parity

if TYPE_CHECKING:
    from distill.export.parity import RuntimeRun

log = logging.getLogger(__name__)

ONNX_NAME = "model.onnx"
IR_FP16_NAME = "model.xml"
IR_INT8_NAME = "model_int8.xml"
ORT_MAX_ABS_DIFF = 1e-3  # same weights, same precision: anything larger is an export bug


@dataclass
class ExportOptions:
    """Everything `export_bundle` needs besides the checkpoint and the output folder."""

    target: Literal["cpu", "ncs2"] = "cpu"
    int8: bool = False
    calib_data: Optional[Path] = None
    parity_data: Optional[Path] = None
    calib_images: int = 20
    parity_images: int = 8
    input_size: Optional[tuple[int, int]] = None  # default: the training size, else the student's declared one
    threshold: float = 0.5
    min_mask_iou: float = 0.99  # for a reduced inference precision to be declared; also the FP16 IR's criterion
    max_int8_drop: float = 0.02  # crack IoU (vs ground truth) the INT8 IR may lose against FP32 torch
    strict_parity: bool = False  # refuse to write a bundle that fails either criterion (else warn)
    parity_split: str = "test"  # split of a canonical --parity-data (falls back to test, then val)
    calib_split: str = "train"  # split of a canonical --calib-data
    int8_preset: Literal["performance", "mixed"] = "performance"
    int8_fast_bias_correction: bool = True  # False: NNCF's full bias correction (slower, often more accurate)
    int8_activation_ranges: Literal["histogram", "mean-minmax", "minmax"] = "histogram"  # openvino_export.ACTIVATION_RANGES
    device: str = "CPU"
    threads: Optional[int] = 2
    synthetic_seed: int = 10_000
    force: bool = False
    progress: bool = True


def _check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"output path {out_dir} exists and is not a folder; choose another OUT_DIR")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ExportError(f"output folder {out_dir} exists and is not empty; pass --force to replace it")


def _prepare_out_dir(out_dir: Path, force: bool) -> Path:
    """Check `out_dir` may be written; return a fresh staging folder beside it."""
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))


def _publish(staging: Path, out_dir: Path) -> None:
    """Replace `out_dir` by the finished `staging` folder (made readable for the vehicle's service user)."""
    staging.chmod(0o755)
    for p in staging.iterdir():
        p.chmod(0o644)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)


def _split_or_none(data_dir: Path, preferred: tuple[str, ...]) -> Optional[str]:
    from distill.export.samples import is_canonical_dataset

    if not is_canonical_dataset(data_dir):
        return None
    from crackedge.data.layout import CrackDataset

    splits = CrackDataset.open(data_dir).splits
    return next((s for s in preferred if s in splits), None)


def _samples(data_dir: Optional[Path], n: int, preferred_splits: tuple[str, ...], size: tuple[int, int],
             seed: int, purpose: str):
    """(samples, description) from `data_dir`, or synthetic ones (said so) when it is None."""
    from distill.export.samples import load_samples, synthetic_samples

    if data_dir is None:
        log.warning("%s: no image folder given, using %d synthetic images (crackedge.synth)", purpose, n)
        note = f"synthetic: {n} images from crackedge.synth, seeds {seed}..{seed + n - 1} (no real images given)"
        return synthetic_samples(n, size, seed), note
    split = _split_or_none(Path(data_dir), preferred_splits)
    samples = load_samples(Path(data_dir), n, split)
    return samples, f"{data_dir} ({'split ' + split if split else 'all images'}, {len(samples)} images)"


def _torch_runner(module, threads: Optional[int]):
    import torch

    if threads:
        torch.set_num_threads(threads)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return run


def _ort_runner(onnx_path: Path, threads: Optional[int]):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def _openvino_runs(kind: str, xml: Path, inputs, precisions, opts: ExportOptions):
    from crackedge.runtime.backends import open_model
    from distill.export.parity import run_timed

    runs = []
    for precision in precisions:
        backend = open_model(xml, opts.device, precision=precision, threads=opts.threads)
        try:
            actual = backend.info["precision"]
            if actual != precision:
                log.warning("%s: asked for inference precision %s, the device uses %s; not recorded", xml.name,
                            precision, actual)
                continue
            runs.append(run_timed(f"{kind}:{opts.device}:{precision}", backend.infer, inputs, precision))
        finally:
            backend.close()
    return runs


@dataclass
class ParitySet:
    """Parity inputs (float32 1x3xHxW each), their masks (or None) and the torch reference outputs."""

    inputs: list[np.ndarray]
    masks: list[Optional[np.ndarray]]
    reference: "RuntimeRun"
    decoder: MaskDecoder  # the runtime's decoding of the bundle's output

    def record(self, run: "RuntimeRun") -> ParityRecord:
        from distill.export.parity import parity_record

        return parity_record(run, self.reference.outputs, self.masks, self.decoder)


def _parity_set(wrapper, input_spec, output_spec: OutputSpec, size: tuple[int, int], opts: ExportOptions,
                notes: dict[str, str]) -> ParitySet:
    from crackedge.runtime.preprocess import preprocess
    from distill.export.parity import run_timed

    parity_dir = opts.parity_data if opts.parity_data is not None else opts.calib_data
    splits = tuple(dict.fromkeys((opts.parity_split, "test", "val")))
    samples, notes["parity_data"] = _samples(parity_dir, opts.parity_images, splits, size,
                                             opts.synthetic_seed, "parity check")
    inputs = [preprocess(s.image, input_spec) for s in samples]
    reference = run_timed(TORCH_RUNTIME, _torch_runner(wrapper, opts.threads), inputs)
    return ParitySet(inputs, [s.mask for s in samples], reference, MaskDecoder(output_spec, opts.threshold))


def _float_parity(onnx_path: Path, ir_path: Path, ps: ParitySet, opts: ExportOptions):
    """Runs and records of ONNX Runtime, OpenVINO on the ONNX (f32) and the FP16 IR at each CPU precision.

    Returns (runs, records, declared precision). ExportError when ONNX Runtime disagrees with torch.
    """
    from crackedge.runtime.backends.openvino_compat import (
        cpu_precisions,
        default_precision,
        measured_on,
    )
    from distill.export.parity import choose_precision, run_timed

    ort_run = run_timed("onnxruntime:CPU:f32", _ort_runner(onnx_path, opts.threads), ps.inputs)
    ort_rec = ps.record(ort_run)
    if not ort_rec.max_abs_diff <= ORT_MAX_ABS_DIFF:  # also catches NaN
        raise ExportError(
            f"ONNX Runtime output differs from torch by {ort_rec.max_abs_diff:.2e} (> {ORT_MAX_ABS_DIFF:g}) "
            "in crack probability: the ONNX export does not reproduce the model"
        )
    # The ONNX file in OpenVINO at f32 (what OpenVINO 2022.3 hosts read): separates conversion
    # errors from the effect of the IR's FP16 weights. Not a candidate for the declared precision.
    onnx_runs = _openvino_runs("openvino-onnx", onnx_path, ps.inputs, ["f32"], opts)
    for run in onnx_runs:
        run.precision = None
    ir_runs = _openvino_runs("openvino", ir_path, ps.inputs, cpu_precisions(opts.device), opts)
    ir_records = [ps.record(r) for r in ir_runs]
    for run, rec in zip(ir_runs, ir_records):  # edge picks its precision from these (crackedge.runtime.precision)
        rec.measured = measured_on(opts.device, run.precision)
    declared = choose_precision(ir_runs, ir_records, opts.min_mask_iou, default_precision(opts.device))
    records = [ps.record(ps.reference), ort_rec, *[ps.record(r) for r in onnx_runs], *ir_records]
    return [ort_run, *onnx_runs, *ir_runs], records, declared


def _int8_model(onnx_path: Path, xml_path: Path, input_spec, size, declared: str, ps: ParitySet,
                opts: ExportOptions, notes: dict[str, str]):
    """Quantize, then measure the INT8 IR at f32 and the declared precision. Returns (files, runs, records)."""
    from crackedge.runtime.preprocess import preprocess
    from distill.export.openvino_export import save_ir_int8

    calib, notes["calibration_data"] = _samples(opts.calib_data, opts.calib_images, (opts.calib_split,), size,
                                                opts.synthetic_seed + 1000, "INT8 calibration")
    files = save_ir_int8(onnx_path, xml_path, calib, lambda s: preprocess(s.image, input_spec), opts.int8_preset,
                         opts.int8_fast_bias_correction, opts.int8_activation_ranges)
    notes["int8"] = f"{int8_settings(opts)}, {len(calib)} images"
    precisions = sorted({"f32", declared}, key=["f32", "bf16", "f16"].index)
    runs = _openvino_runs("openvino-int8", xml_path, ps.inputs, precisions, opts)
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
    measured = [r.precision for r in runs if r.runtime.startswith("openvino:")]
    notes["inference_precision"] = (
        f"{declared}: the CPU plugin's default precision if it reached mask IoU vs torch >= {opts.min_mask_iou}, "
        "else the fastest measured precision that did "
        f"(measured: {', '.join(measured)})"
    )
    missing = [p for p in ("f32", "bf16", "f16") if p not in measured]
    if missing:  # no record is better than a guessed one: edge runs a precision only with a passing record
        notes["parity_not_measured"] = (f"{', '.join(missing)}: the export CPU does not compute it natively; re-export on "
                                        "a CPU that does for edge to run it")
    for run in runs:
        notes[f"latency_ms:{run.runtime}"] = f"{run.latency_ms:.1f} (median, batch 1, {opts.threads} threads, export machine)"
    notes["checkpoint"] = f"{checkpoint.name} sha256 {sha256_file(checkpoint)} (step {ckpt.step}, epoch {ckpt.epoch})"
    if opts.target == "ncs2":
        notes["ncs2"] = (
            f"use {ONNX_NAME} with OpenVINO 2022.3 (MYRIAD); the IR files are written by a newer OpenVINO "
            "and do not load there. Ops checked against distill/ncs2_ops.py."
        )
    return notes


def export_bundle(checkpoint: Path, out_dir: Path, opts: ExportOptions = ExportOptions()) -> BundleMetadata:
    """Export the student in `checkpoint` to a bundle folder `out_dir`; returns the written metadata.

    Raises CheckpointError (bad checkpoint), ExportError (opset, unsupported NCS2 ops, failed
    parity, existing output), DataError (calibration/parity images).
    """
    from tqdm import tqdm

    from crackedge.runtime.preprocess import default_input_spec
    from distill.checkpoints import build_from_checkpoint, load_student_checkpoint
    from distill.export.onnx_export import ONNX_OPSET, export_onnx
    from distill.export.openvino_export import save_ir_fp16
    from distill.export.wrapper import (
        CRACK_CHANNEL,
        OUTPUT_CHANNELS,
        OUTPUT_KIND,
        export_module,
    )
    from distill.ncs2_ops import check_ncs2_ops

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    _check_out_dir(out_dir, opts.force)
    ckpt = load_student_checkpoint(checkpoint)
    model = build_from_checkpoint(ckpt, str(checkpoint))
    size = tuple(opts.input_size or trained_size(ckpt) or model.spec.input_size)
    if size[0] % 32 or size[1] % 32:
        raise ExportError(f"input size {size[0]}x{size[1]} must be a multiple of 32 in both dimensions")
    input_spec = default_input_spec(*size)
    wrapper = export_module(model)

    staging = _prepare_out_dir(out_dir, opts.force)
    steps = tqdm(total=5 if opts.int8 else 4, desc="export", unit="step", disable=not opts.progress)
    try:
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
        ps = _parity_set(wrapper, input_spec, output_spec, size, opts, notes)
        runs, records, declared = _float_parity(onnx_path, staging / IR_FP16_NAME, ps, opts)
        steps.update()
        if opts.int8:
            steps.set_postfix_str("INT8 (NNCF)")
            int8_files, int8_runs, int8_records = _int8_model(onnx_path, staging / IR_INT8_NAME, input_spec, size,
                                                              declared, ps, opts, notes)
            files += int8_files
            models[MODEL_IR_INT8] = IR_INT8_NAME
            runs, records = runs + int8_runs, records + int8_records
            steps.update()
        _judge_parity(records, declared, opts, notes)
        steps.set_postfix_str("metadata")
        meta = BundleMetadata(
            student=ckpt.student,
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
        meta.files = hash_files(staging, [p.name for p in files])
        write_metadata(staging, meta)
        _publish(staging, out_dir)
        steps.update()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        steps.close()
    _log_summary(out_dir, meta)
    return meta


def _judge_parity(records: list[ParityRecord], declared: str, opts: ExportOptions, notes: dict[str, str]) -> ParityVerdict:
    """Check the acceptance criteria (parity_check.py); record the verdict in `notes`; warn, or raise
    ExportError with opts.strict_parity."""
    verdict = check_parity(records, declared, opts.device, opts.min_mask_iou, opts.max_int8_drop)
    notes["parity_check"] = verdict.summary()
    if verdict.ok and verdict.unverified:
        message = "parity UNVERIFIED: " + " ".join(verdict.unverified)
        if opts.strict_parity:
            raise ExportError(message + " (no bundle written: --strict-parity)")
        log.warning("!!! %s The bundle is written anyway (--strict-parity refuses it).", message)
    if not verdict.ok:
        message = "parity check FAILED: " + " ".join(verdict.failures)
        if opts.strict_parity:
            raise ExportError(message + " (no bundle written: --strict-parity)")
        log.warning("!!! %s The bundle is written anyway; see notes.parity_check in its metadata.yaml "
                    "(pass --strict-parity to refuse such a bundle).", message)
    return verdict


def _log_summary(out_dir: Path, meta: BundleMetadata) -> None:
    log.info("bundle written: %s (%s, input %dx%d, output %s stride %d, precision %s)", out_dir, meta.student,
             meta.input.height, meta.input.width, meta.output.kind, meta.output.stride, meta.inference_precision)
    for rec in meta.parity:
        log.info("  parity %-28s max|diff| %.2e  mask IoU %.4f%s", rec.runtime, rec.max_abs_diff, rec.mask_iou,
                 "" if rec.crack_iou_vs_gt is None else f"  IoU vs GT {rec.crack_iou_vs_gt:.4f}")


__all__ = ["ExportOptions", "export_bundle", "ParityRecord"]
