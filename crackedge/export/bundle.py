"""The parts of writing a model bundle that students and teachers share.

A bundle is assembled in a hidden staging folder beside OUT_DIR and renamed into place at the end
(`prepare_out_dir` / `publish`), so a failed export never leaves a half-written bundle. The float
parity runs (`float_parity`) put the torch wrapper, ONNX Runtime, OpenVINO on the ONNX file and the
FP16 IR at every CPU precision side by side on the same images; `judge_parity` applies the
acceptance criteria (crackedge.export.parity_check) and records the verdict in the notes.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional

import numpy as np

from crackedge.export.errors import ExportError
from crackedge.export.parity_check import TORCH_RUNTIME, ParityVerdict, check_parity
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.metadata import BundleMetadata, OutputSpec, ParityRecord, hash_files, write_metadata

if TYPE_CHECKING:
    from crackedge.export.parity import RuntimeRun

log = logging.getLogger(__name__)

ONNX_NAME = "model.onnx"
IR_FP16_NAME = "model.xml"
IR_INT8_NAME = "model_int8.xml"
ORT_MAX_ABS_DIFF = 1e-3  # same weights, same precision: anything larger is an export bug


@dataclass
class BundleExportOptions:
    """What every bundle export needs (students add INT8 options: distill.export.bundle_export.ExportOptions)."""

    target: Literal["cpu", "ncs2"] = "cpu"
    calib_data: Optional[Path] = None
    parity_data: Optional[Path] = None
    parity_images: int = 8
    input_size: Optional[tuple[int, int]] = None
    threshold: float = 0.5
    min_mask_iou: float = 0.99  # for a reduced inference precision to be declared; also the FP16 IR's criterion
    max_int8_drop: float = 0.02  # crack IoU (vs ground truth) an INT8 IR may lose against FP32 torch
    strict_parity: bool = False  # refuse to write a bundle that fails a criterion (else warn)
    parity_split: str = "test"  # split of a canonical --parity-data (falls back to test, then val)
    device: str = "CPU"
    threads: Optional[int] = 2
    synthetic_seed: int = 10_000
    force: bool = False
    progress: bool = True


def check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"output path {out_dir} exists and is not a folder; choose another OUT_DIR")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ExportError(f"output folder {out_dir} exists and is not empty; pass --force to replace it")


def prepare_out_dir(out_dir: Path, force: bool) -> Path:
    """Check `out_dir` may be written; return a fresh staging folder beside it."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))


def publish(staging: Path, out_dir: Path) -> None:
    """Replace `out_dir` by the finished `staging` folder (made readable for the vehicle's service user)."""
    staging.chmod(0o755)
    for p in staging.iterdir():
        p.chmod(0o644)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)


@contextmanager
def staged_bundle(out_dir: Path, force: bool, total_steps: int, desc: str, progress: bool) -> Iterator[tuple[Path, Any]]:
    """A fresh staging folder beside `out_dir` and a tqdm bar of `total_steps` steps; the folder is
    removed when the body raises (a failed export leaves nothing behind). The body ends with
    `finish_bundle`, which moves the folder into place."""
    from tqdm import tqdm

    staging = prepare_out_dir(out_dir, force)
    steps = tqdm(total=total_steps, desc=desc, unit="step", disable=not progress)
    try:
        yield staging, steps
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        steps.close()


def finish_bundle(staging: Path, out_dir: Path, meta: BundleMetadata, files: list[Path]) -> None:
    """Record the SHA-256 of `files` in `meta`, write metadata.yaml and publish the staging folder as `out_dir`."""
    meta.files = hash_files(staging, [p.name for p in files])
    write_metadata(staging, meta)
    publish(staging, out_dir)


def split_or_none(data_dir: Path, preferred: tuple[str, ...]) -> Optional[str]:
    from crackedge.export.samples import is_canonical_dataset

    if not is_canonical_dataset(data_dir):
        return None
    from crackedge.data.layout import CrackDataset

    splits = CrackDataset.open(data_dir).splits
    return next((s for s in preferred if s in splits), None)


def samples_for(data_dir: Optional[Path], n: int, preferred_splits: tuple[str, ...], size: tuple[int, int],
                seed: int, purpose: str):
    """(samples, description) from `data_dir`, or synthetic ones (said so) when it is None."""
    from crackedge.export.samples import load_samples, synthetic_samples

    if data_dir is None:
        log.warning("%s: no image folder given, using %d synthetic images (crackedge.synth)", purpose, n)
        note = f"synthetic: {n} images from crackedge.synth, seeds {seed}..{seed + n - 1} (no real images given)"
        return synthetic_samples(n, size, seed), note
    split = split_or_none(Path(data_dir), preferred_splits)
    samples = load_samples(Path(data_dir), n, split)
    return samples, f"{data_dir} ({'split ' + split if split else 'all images'}, {len(samples)} images)"


def torch_runner(module, threads: Optional[int]):
    import torch

    if threads:
        torch.set_num_threads(threads)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return run


def ort_runner(onnx_path: Path, threads: Optional[int]):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def openvino_runs(kind: str, xml: Path, inputs, precisions, opts: BundleExportOptions):
    from crackedge.export.parity import run_timed
    from crackedge.runtime.backends import open_model

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
        from crackedge.export.parity import parity_record

        return parity_record(run, self.reference.outputs, self.masks, self.decoder)


def parity_set(wrapper, input_spec, output_spec: OutputSpec, size: tuple[int, int], opts: BundleExportOptions,
               notes: dict[str, str]) -> ParitySet:
    """The parity images (opts.parity_data, else opts.calib_data, else synthetic) and torch's outputs on them."""
    from crackedge.export.parity import run_timed
    from crackedge.runtime.preprocess import preprocess

    parity_dir = opts.parity_data if opts.parity_data is not None else opts.calib_data
    splits = tuple(dict.fromkeys((opts.parity_split, "test", "val")))
    samples, notes["parity_data"] = samples_for(parity_dir, opts.parity_images, splits, size,
                                                opts.synthetic_seed, "parity check")
    inputs = [preprocess(s.image, input_spec) for s in samples]
    reference = run_timed(TORCH_RUNTIME, torch_runner(wrapper, opts.threads), inputs)
    return ParitySet(inputs, [s.mask for s in samples], reference, MaskDecoder(output_spec, opts.threshold))


def float_parity(onnx_path: Path, ir_path: Path, ps: ParitySet, opts: BundleExportOptions,
                 precisions: Optional[list[str]] = None):
    """Runs and records of ONNX Runtime, OpenVINO on the ONNX (f32) and the FP16 IR at each CPU precision.

    Returns (runs, records, declared precision). ExportError when ONNX Runtime disagrees with torch.
    precisions: the IR precisions to measure (default: every one the CPU offers).
    """
    from crackedge.export.parity import choose_precision, run_timed
    from crackedge.runtime.backends.openvino_compat import (
        cpu_precisions,
        default_precision,
        measured_on,
    )

    ort_run = run_timed("onnxruntime:CPU:f32", ort_runner(onnx_path, opts.threads), ps.inputs)
    ort_rec = ps.record(ort_run)
    if not ort_rec.max_abs_diff <= ORT_MAX_ABS_DIFF:  # also catches NaN
        raise ExportError(
            f"ONNX Runtime output differs from torch by {ort_rec.max_abs_diff:.2e} (> {ORT_MAX_ABS_DIFF:g}) "
            "in crack probability: the ONNX export does not reproduce the model"
        )
    # The ONNX file in OpenVINO at f32 (what OpenVINO 2022.3 hosts read): separates conversion
    # errors from the effect of the IR's FP16 weights. Not a candidate for the declared precision.
    onnx_runs = openvino_runs("openvino-onnx", onnx_path, ps.inputs, ["f32"], opts)
    for run in onnx_runs:
        run.precision = None
    offered = cpu_precisions(opts.device)
    wanted = [p for p in offered if precisions is None or p in precisions]
    ir_runs = openvino_runs("openvino", ir_path, ps.inputs, wanted, opts)
    ir_records = [ps.record(r) for r in ir_runs]
    for run, rec in zip(ir_runs, ir_records):  # edge picks its precision from these (crackedge.runtime.precision)
        rec.measured = measured_on(opts.device, run.precision)
    declared = choose_precision(ir_runs, ir_records, opts.min_mask_iou, default_precision(opts.device))
    records = [ps.record(ps.reference), ort_rec, *[ps.record(r) for r in onnx_runs], *ir_records]
    return [ort_run, *onnx_runs, *ir_runs], records, declared


def judge_parity(records: list[ParityRecord], declared: str, opts: BundleExportOptions,
                 notes: dict[str, str]) -> ParityVerdict:
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


def precision_notes(notes: dict[str, str], runs, declared: str, opts: BundleExportOptions) -> dict[str, str]:
    """notes.inference_precision and one latency note per runtime."""
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
    return notes


def log_summary(out_dir: Path, meta: BundleMetadata) -> None:
    log.info("bundle written: %s (%s %s, input %dx%d, output %s stride %d, precision %s)", out_dir, meta.model.kind,
             meta.model.name, meta.input.height, meta.input.width, meta.output.kind, meta.output.stride,
             meta.inference_precision)
    for rec in meta.parity:
        log.info("  parity %-28s max|diff| %.2e  mask IoU %.4f%s", rec.runtime, rec.max_abs_diff, rec.mask_iou,
                 "" if rec.crack_iou_vs_gt is None else f"  IoU vs GT {rec.crack_iou_vs_gt:.4f}")
