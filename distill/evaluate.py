"""`distill eval`: score the exported model itself (OpenVINO reading the bundle's IR) on a dataset.

What is measured is what the vehicle runs: the bundle's preprocessing (metadata.yaml), its model
file at a stated inference precision, its output upsampled to the frame and thresholded. Writes
metrics.yaml (both metric conventions per noise case), metrics.txt and error overlays
(true positives green, false positives orange, false negatives blue).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
import yaml

from crackedge.bundle import BundleError, BundleMetadata, OutputSpec, load_metadata, verify_files
from crackedge.errors import ConfigError
from crackedge.fileio import atomic_write_text, write_image_atomic

log = logging.getLogger(__name__)


@dataclass
class EvalOptions:
    split: Optional[str] = "test"
    noise: tuple[str, ...] = ("clean",)
    model: str = "ir_fp16"  # key of BundleMetadata.models: ir_fp16, ir_int8 or onnx
    device: str = "CPU"
    precision: Optional[str] = None  # None: the bundle's inference_precision
    out_dir: Optional[Path] = None
    overlays: int = 4
    threads: Optional[int] = None
    limit: Optional[int] = None  # first N images only (quick checks)
    progress: bool = True


@dataclass
class EvalResult:
    metrics: dict[str, dict[str, float]]  # noise case -> MetricReport.to_dict()
    tables: dict[str, str]  # noise case -> MetricReport.format()
    precision: str
    latency_ms: float
    overlays: list[Path] = field(default_factory=list)


def crack_probability(output: np.ndarray, spec: OutputSpec, size: tuple[int, int]) -> np.ndarray:
    """Network output 1 x C x h x w (as `spec` describes it) -> crack probability H x W float32.

    size: (H, W) of the frame; the output is upsampled bilinearly, as the runtime does.
    """
    out = np.asarray(output, np.float32)[0]
    if spec.kind == "probabilities":
        prob = out[spec.crack_channel]
    elif spec.channels == 2:
        prob = 1.0 / (1.0 + np.exp(out[1 - spec.crack_channel] - out[spec.crack_channel]))
    else:  # a single crack margin
        prob = 1.0 / (1.0 + np.exp(-out[0]))
    h, w = size
    return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


def _model_files(meta: BundleMetadata, bundle_dir: Path, key: str) -> tuple[Path, list[str]]:
    if key not in meta.models:
        raise BundleError(f"bundle {bundle_dir} has no {key!r} model; it has {sorted(meta.models)} (--model)")
    name = meta.models[key]
    names = [name, str(Path(name).with_suffix(".bin"))] if name.endswith(".xml") else [name]
    return bundle_dir / name, names


def _check_noise(cases: tuple[str, ...]) -> None:
    from crackedge.noise import NOISE_CASES

    bad = [c for c in cases if c not in NOISE_CASES]
    if bad:
        raise ConfigError(f"unknown noise case(s) {bad}; valid: {', '.join(NOISE_CASES)}")


def _overlay(image: np.ndarray, prob: np.ndarray, gt: np.ndarray, threshold: float, caption: str) -> np.ndarray:
    from crackedge.metrics.counts import confusion_counts, prf
    from crackedge.overlay import draw_caption, error_overlay

    pred = prob > threshold
    iou = prf(confusion_counts(pred, gt.astype(bool))).iou
    return draw_caption(error_overlay(image, pred, gt), [f"{caption}  IoU {iou:.3f}"])


# predict(image RGB uint8 H x W x 3) -> (crack probability H x W float32, seconds spent in the network)
FramePredictor = Callable[[np.ndarray], tuple[np.ndarray, float]]


def evaluate_frames(predict: FramePredictor, data_dir: Path, opts: EvalOptions, threshold: float,
                    title: str) -> EvalResult:
    """Score `predict` on `data_dir` (a canonical dataset) for each noise case in `opts.noise`.

    The loop `distill eval` runs for a bundle and `distill compare` for the torch teacher: each
    image of the split is read at its own resolution, the noise case applied to it, and the
    prediction (already at the image's resolution) scored against the full-resolution mask.
    Overlays go to opts.out_dir/overlays/<case>/<name>.jpg; result.precision is left empty.
    """
    from tqdm import tqdm

    from crackedge.data.layout import CrackDataset
    from crackedge.metrics import MetricAccumulator
    from crackedge.noise import apply_noise
    from distill.export.samples import spread

    _check_noise(tuple(opts.noise))
    ds = CrackDataset.open(data_dir)
    names = ds.names(opts.split)
    if opts.limit:
        names = names[: opts.limit]
    overlay_names = set(spread(names, opts.overlays)) if opts.out_dir else set()

    result = EvalResult({}, {}, "", 0.0)
    times: list[float] = []
    for case in opts.noise:
        acc = MetricAccumulator(threshold=threshold)
        for name in tqdm(names, desc=f"eval {case}", disable=not opts.progress, unit="img"):
            image, gt = ds.read(name)
            image = apply_noise(image, case)
            prob, seconds = predict(image)
            times.append(seconds)
            acc.add(prob, gt)
            if name in overlay_names:
                path = Path(opts.out_dir) / "overlays" / case / f"{name}.jpg"
                write_image_atomic(path, _overlay(image, prob, gt, threshold, f"{name} [{case}]"))
                result.overlays.append(path)
        report = acc.report()
        result.metrics[case] = report.to_dict()
        result.tables[case] = report.format(f"{title}, {Path(data_dir).name}/{opts.split or 'all'}, noise {case}")
    result.latency_ms = 1000.0 * float(np.median(times)) if times else 0.0
    return result


def bundle_predictor(runner, meta: BundleMetadata) -> FramePredictor:
    """What the vehicle does with a frame: the bundle's preprocessing, the model, upsampling to the frame."""
    from distill.export.preprocess import preprocess

    def predict(image: np.ndarray) -> tuple[np.ndarray, float]:
        x = preprocess(image, meta.input)
        t0 = time.perf_counter()
        out = runner(x)
        seconds = time.perf_counter() - t0
        return crack_probability(out, meta.output, image.shape[:2]), seconds

    return predict


def evaluate_bundle(bundle_dir: Path, data_dir: Path, opts: EvalOptions = EvalOptions()) -> EvalResult:
    """Run the bundle's model over `data_dir` (a canonical dataset) for each noise case.

    Raises BundleError (missing/corrupt bundle), DataError (dataset), ConfigError (noise case).
    """
    from distill.ov_runner import OpenVINORunner

    bundle_dir = Path(bundle_dir)
    _check_noise(tuple(opts.noise))
    meta = load_metadata(bundle_dir)
    model_path, files = _model_files(meta, bundle_dir, opts.model)
    verify_files(bundle_dir, meta, files)
    precision = opts.precision or meta.inference_precision
    runner = OpenVINORunner(model_path, opts.device, precision=precision if opts.device == "CPU" else None,
                            threads=opts.threads)
    title = f"{meta.student} bundle {bundle_dir.name}, {opts.model} on {opts.device}:{runner.precision}"
    result = evaluate_frames(bundle_predictor(runner, meta), data_dir, opts, meta.threshold, title)
    result.precision = runner.precision
    if opts.out_dir:
        write_reports(Path(opts.out_dir), {"bundle": str(bundle_dir), "bundle_created": meta.created,
                                           "model": opts.model, "device": opts.device}, data_dir, opts, result)
    return result


def write_reports(out_dir: Path, source: dict[str, str], data_dir: Path, opts: EvalOptions, result: EvalResult) -> None:
    """metrics.yaml (`source` keys first, then precision, data, split, latency, metrics) and metrics.txt."""
    summary = {
        **source,
        "inference_precision": result.precision,
        "data": str(data_dir),
        "split": opts.split,
        "limit": opts.limit,
        "median_infer_ms": round(result.latency_ms, 2),
        "metrics": result.metrics,
    }
    atomic_write_text(out_dir / "metrics.yaml", yaml.safe_dump(summary, sort_keys=False))
    atomic_write_text(out_dir / "metrics.txt", "\n\n".join(result.tables.values()) + "\n")
