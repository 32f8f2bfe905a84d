"""The one evaluator (crackedge.evaluation) on a real bundle: noise cases, scoring basis, reports,
overlays, the `distill eval` / `edge eval` command, and one image through every runtime path."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from crackedge.errors import ConfigError
from crackedge.evaluation import EvalOptions
from crackedge.evaluation.bundle import evaluate_bundle
from crackedge.runtime.metadata import BundleError, OutputSpec
from crackedge.runtime.options import RuntimeOptions
from distill.export.bundle_export import ExportOptions, export_bundle
from tests.helpers.student_checkpoints import write_checkpoint


@pytest.fixture(scope="module")
def bundle_and_data(tmp_path_factory) -> tuple[Path, Path]:
    from crackedge.synth import write_synthetic_dataset

    tmp = tmp_path_factory.mktemp("eval")
    data = tmp / "data"
    write_synthetic_dataset(data, n_train=1, n_val=1, n_test=3, size=(96, 128), seed=3, progress=False)
    ckpt = write_checkpoint(tmp / "m.pt", "mobilenetv3_large_100", 64)
    bundle = tmp / "bundle"
    export_bundle(ckpt, bundle, ExportOptions(input_size=(64, 64), parity_data=data, parity_images=2))
    return bundle, data


F32 = RuntimeOptions(precision="f32", performance_hint="LATENCY", num_requests=1)


def test_eval_reports_every_noise_case_and_writes_overlays(bundle_and_data, tmp_path):
    bundle, data = bundle_and_data
    out = tmp_path / "eval"
    res = evaluate_bundle(bundle, data, EvalOptions(noise=("clean", "dim"), out_dir=out, overlays=2, progress=False), F32)
    assert set(res.metrics) == {"clean", "dim"}
    for m in res.metrics.values():
        assert m["n_images"] == 3
        assert 0.0 <= m["iou"] <= 1.0 and 0.0 <= m["ods_f"] <= 1.0
    assert res.metrics["clean"] != res.metrics["dim"]  # the noise reached the model
    saved = yaml.safe_load((out / "metrics.yaml").read_text())
    assert saved["metrics"]["clean"]["iou"] == pytest.approx(res.metrics["clean"]["iou"])
    assert saved["inference_precision"] == "f32" and saved["split"] == "test"
    assert saved["basis"] == "image" and "each image's own size" in saved["scored"]
    text = (out / "metrics.txt").read_text()
    assert "CrackSAM convention" in text and "scored at each image's own size" in text
    overlays = sorted(p.relative_to(out).as_posix() for p in (out / "overlays").rglob("*.jpg"))
    assert len(overlays) == 4 and {p.split("/")[1] for p in overlays} == {"clean", "dim"}
    assert (out / "overlays_clean.jpg").is_file() and (out / "overlays_dim.jpg").is_file()


def test_input_basis_scores_resized_masks_and_says_so(bundle_and_data, tmp_path):
    bundle, data = bundle_and_data
    image_basis = evaluate_bundle(bundle, data, EvalOptions(progress=False), F32)
    input_basis = evaluate_bundle(bundle, data, EvalOptions(basis="input", out_dir=tmp_path, progress=False), F32)
    assert "model input size 64x64" in input_basis.basis
    assert input_basis.metrics["clean"]["n_images"] == 3
    assert input_basis.metrics["clean"] != image_basis.metrics["clean"]  # 96x128 masks vs 64x64 ones
    assert yaml.safe_load((tmp_path / "metrics.yaml").read_text())["basis"] == "input"


def test_precision_bundle_is_the_bundles_and_auto_is_this_cpus_choice(bundle_and_data, tmp_path):
    """`bundle` runs the precision declared at export; the default (auto) records what this CPU chose,
    which differs by machine (f16 on CPUs with AVX512-FP16/AMX-FP16), so it is compared with the choice."""
    from crackedge.runtime.backends import choose_precision
    from crackedge.runtime.bundle import load_bundle
    from crackedge.runtime.metadata import load_metadata

    bundle, data = bundle_and_data
    evaluate_bundle(bundle, data, EvalOptions(limit=1, out_dir=tmp_path / "b", progress=False),
                    RuntimeOptions(precision="bundle"))
    saved = yaml.safe_load((tmp_path / "b" / "metrics.yaml").read_text())
    assert saved["inference_precision"] == load_metadata(bundle).inference_precision

    evaluate_bundle(bundle, data, EvalOptions(limit=1, out_dir=tmp_path / "a", progress=False))
    saved = yaml.safe_load((tmp_path / "a" / "metrics.yaml").read_text())
    assert saved["inference_precision"] == choose_precision(RuntimeOptions(), load_bundle(bundle)).precision


def test_decoding_of_each_output_layout():
    from crackedge.runtime.decode import MaskDecoder

    logits = np.array([[[[0.0, 2.0]], [[1.0, -1.0]]]], np.float32)  # 1 x 2 x 1 x 2
    soft = np.exp(logits[0]) / np.exp(logits[0]).sum(0)
    two = MaskDecoder(OutputSpec(kind="logits", channels=2, crack_channel=1), 0.5).probability(logits, (2, 1))
    assert np.allclose(two, soft[1], atol=1e-6)
    probs = np.array([[[[0.2, 0.9]]]], np.float32)
    one = MaskDecoder(OutputSpec(kind="probabilities", channels=1, crack_channel=0, stride=2), 0.5).probability(
        probs, (4, 2))
    assert one.shape == (2, 4) and one.min() >= 0.2 - 1e-6 and one.max() <= 0.9 + 1e-6


def test_one_image_gives_one_mask_through_every_runtime_path(bundle_and_data):
    """Export parity, `distill eval`/`edge eval` and the daemon's stages must see the same mask."""
    import threading

    from crackedge.data.layout import CrackDataset
    from crackedge.runtime.async_runner import AsyncRunner
    from crackedge.runtime.backends import create_backend, open_model
    from crackedge.runtime.bundle import load_bundle
    from crackedge.runtime.decode import MaskDecoder
    from crackedge.runtime.predictor import BundlePredictor
    from crackedge.runtime.preprocess import Preprocessor, preprocess
    from distill.export.parity import iou_vs_ground_truth

    bundle_dir, data = bundle_and_data
    ds = CrackDataset.open(data)
    image, gt = ds.read(ds.names("test")[0])
    h, w = image.shape[:2]
    bundle = load_bundle(bundle_dir)
    meta = bundle.meta
    # 1. the evaluator's predictor (distill eval, edge eval, compare, bench)
    prob, _ = BundlePredictor(bundle, F32)(image)
    # a threshold inside this (random-weight) model's range, so the masks are neither empty nor full
    threshold = float(np.quantile(prob, 0.7))
    predictor = BundlePredictor(bundle, F32, threshold)
    evaluated = (predictor(image)[0] > predictor.threshold).astype(np.uint8)
    assert 0.1 < evaluated.mean() < 0.5
    # 2. the export parity path: preprocess, the IR, the runtime's decoding at the mask's size
    decoder = MaskDecoder(meta.output, threshold)
    out = open_model(bundle_dir / meta.models["ir_fp16"], precision="f32").infer(preprocess(image, meta.input))
    parity = decoder.mask(out, (w, h))
    assert iou_vs_ground_truth([out], [gt], decoder) is not None
    # 3. the daemon's stages: Preprocessor, the async runner on the configured backend, MaskDecoder.mask
    backend, _ = create_backend(RuntimeOptions(precision="f32"), bundle)
    runner = AsyncRunner(backend)
    assert runner.submit(Preprocessor(meta.input)(image), "frame", threading.Event())
    runner.finish()
    kind, _, output, error = runner.next_result(30.0)
    assert kind == "result" and error is None
    daemon = decoder.mask(output, (w, h))
    assert evaluated.shape == parity.shape == daemon.shape == (h, w)
    assert np.array_equal(evaluated, parity) and np.array_equal(parity, daemon)


def test_bad_inputs_are_named(bundle_and_data, tmp_path):
    bundle, data = bundle_and_data
    with pytest.raises(ConfigError, match="foggy.*clean, dim, blurry"):
        evaluate_bundle(bundle, data, EvalOptions(noise=("foggy",), progress=False))
    with pytest.raises(ConfigError, match="scoring basis 'frame'"):
        evaluate_bundle(bundle, data, EvalOptions(basis="frame", progress=False))
    with pytest.raises(BundleError, match="no 'ir_int8' model"):
        evaluate_bundle(bundle, data, EvalOptions(progress=False), RuntimeOptions(model="ir_int8"))
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    (copy / "model.xml").write_text((copy / "model.xml").read_text().replace("<net ", "<net  "))
    with pytest.raises(BundleError, match="model.xml"):
        evaluate_bundle(copy, data, EvalOptions(progress=False))


@pytest.mark.parametrize("tool", ["distill", "edge"])
def test_cli_eval(bundle_and_data, tmp_path, capsys, tool):
    from importlib import import_module

    main = import_module(f"{tool}.cli").main
    bundle, data = bundle_and_data
    # the one noise syntax: space- and comma-separated alike
    assert main(["eval", str(bundle), "--data", str(data), "--noise", "clean,blurry", "dim", "--out",
                 str(tmp_path / "o"), "--overlays", "1", "--precision", "f32", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "noise blurry" in out and "noise dim" in out and "ODS F" in out
    assert "bundle bundle" not in out
    assert main(["eval", str(tmp_path / "nope"), "--data", str(data)]) == 2
    assert "not found" in capsys.readouterr().err
