"""A model bundle scored as the vehicle runs it: `distill eval` and `edge eval` are this function."""

from __future__ import annotations

from pathlib import Path

from crackedge.evaluation.loop import evaluate
from crackedge.evaluation.options import EvalOptions, EvalResult
from crackedge.runtime.options import RuntimeOptions


def evaluate_bundle(bundle_dir: Path, data_dir: Path, opts: EvalOptions = EvalOptions(),
                    runtime: RuntimeOptions = RuntimeOptions()) -> EvalResult:
    """Load and verify the bundle, run its model over `data_dir` per noise case, score, report.

    Raises BundleError (missing/corrupt bundle), DataError (dataset), ConfigError (options),
    DeviceError/InferenceError (runtime).
    """
    from crackedge.runtime.bundle import load_bundle
    from crackedge.runtime.predictor import BundlePredictor

    bundle = load_bundle(Path(bundle_dir))
    predictor = BundlePredictor(bundle, runtime, opts.threshold)
    try:
        source = {"bundle": str(bundle_dir), "bundle_created": bundle.meta.created,
                  "model_file": bundle.meta.models[predictor.model_key], "device": runtime.device,
                  "inference_precision": predictor.precision}
        return evaluate(predictor, data_dir, opts, source)
    finally:
        predictor.close()
