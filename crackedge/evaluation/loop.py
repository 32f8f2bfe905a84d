"""The evaluation loop: read, perturb, predict, score; the same for every kind of model.

A predictor maps one RGB image (uint8 H x W x 3) to its crack probability (float32 H x W, at the
image's size) and the seconds spent in the network. Basis `image` feeds each image at its own
size and scores against the mask as published; basis `input` resizes image (linear, area when
shrinking) and mask (nearest) to the model's input size first. The noise case is applied to the
image that is fed, after any resize.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Protocol

import numpy as np

from crackedge.evaluation.options import EvalOptions, EvalResult, describe_basis

DEFAULT_THRESHOLD = 0.5
BASELINES = {"all-background": 0.0, "all-crack": 1.0}  # name -> constant crack probability


class Predictor(Protocol):
    """A model seen from the evaluator."""

    #: what is scored, for report titles ("hrnet_w18 bundle runs/x/bundle, ir_fp16 on CPU:f32")
    name: str
    #: (H, W) the model takes (used by basis `input` and stated in reports)
    input_size: tuple[int, int]
    #: the model's own crack-probability threshold
    threshold: float

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """image RGB uint8 H x W x 3 -> (crack probability float32 H x W, network seconds)."""


def evaluate(predict: Predictor, data_dir: Path, opts: EvalOptions = EvalOptions(),
             source: Optional[dict[str, Any]] = None) -> EvalResult:
    """Score `predict` on the canonical dataset `data_dir` for every noise case of `opts`; writes
    opts.out_dir reports when set (crackedge.evaluation.reports; `source` says what was scored: a
    bundle's path and precision, a checkpoint's hash) and returns the figures."""
    from tqdm import tqdm

    from crackedge.data.augment import resize_pair
    from crackedge.data.layout import CrackDataset
    from crackedge.evaluation.reports import OverlayWriter, write_reports
    from crackedge.metrics import MetricAccumulator
    from crackedge.noise import apply_noise

    opts.check()
    ds = CrackDataset.open(data_dir)
    names = ds.names(opts.split)
    if opts.limit:
        names = names[: opts.limit]
    threshold = opts.threshold if opts.threshold is not None else predict.threshold
    basis = describe_basis(opts.basis, predict.input_size)
    overlays = OverlayWriter(opts.out_dir, names, opts.overlays, threshold)
    baselines = {b: MetricAccumulator(threshold=threshold) for b in BASELINES} if opts.baselines else {}
    result = EvalResult({}, {}, basis, threshold, model=predict.name)
    times: list[float] = []
    for case in opts.noise:
        acc = MetricAccumulator(threshold=threshold)
        for name in tqdm(names, desc=f"eval {case}", disable=not opts.progress, unit="img"):
            image, gt = ds.read(name)
            if opts.basis == "input":
                image, gt = resize_pair(image, gt, predict.input_size)
            image = apply_noise(image, case)
            prob, seconds = predict(image)
            times.append(seconds)
            acc.add(prob, gt)
            if case == opts.noise[0]:
                for b, value in BASELINES.items() if baselines else ():
                    baselines[b].add(np.full(gt.shape, value, np.float32), gt)
            overlays.add(case, name, image, prob, gt)
        report = acc.report()
        result.metrics[case] = report.to_dict()
        split = opts.split or "all"
        result.tables[case] = report.format(f"{predict.name}, {Path(data_dir).name}/{split}, noise {case}; scored {basis}")
    result.baselines = {b: acc.report().to_dict() for b, acc in baselines.items()}
    result.latency_ms = 1000.0 * float(np.median(times)) if times else 0.0
    result.overlays = overlays.close()
    if opts.out_dir is not None:
        write_reports(Path(opts.out_dir), data_dir, opts, result, source)
    return result
