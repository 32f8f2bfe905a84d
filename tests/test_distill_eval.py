"""`distill eval`: the exported model scored on a canonical dataset, with overlays and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from crackedge.bundle import BundleError, OutputSpec
from crackedge.errors import ConfigError
from distill.evaluate import EvalOptions, crack_probability, evaluate_bundle
from distill.export.bundle_export import ExportOptions, export_bundle
from tests.test_distill_export import write_checkpoint


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


def test_eval_reports_every_noise_case_and_writes_overlays(bundle_and_data, tmp_path):
    bundle, data = bundle_and_data
    out = tmp_path / "eval"
    res = evaluate_bundle(bundle, data, EvalOptions(noise=("clean", "dim"), out_dir=out, overlays=2, progress=False,
                                                    precision="f32"))
    assert set(res.metrics) == {"clean", "dim"}
    for m in res.metrics.values():
        assert m["n_images"] == 3
        assert 0.0 <= m["iou"] <= 1.0 and 0.0 <= m["ods_f"] <= 1.0
    assert res.precision == "f32"
    assert res.metrics["clean"] != res.metrics["dim"]  # the noise reached the model
    saved = yaml.safe_load((out / "metrics.yaml").read_text())
    assert saved["metrics"]["clean"]["iou"] == pytest.approx(res.metrics["clean"]["iou"])
    assert saved["inference_precision"] == "f32" and saved["split"] == "test"
    assert "CrackSAM convention" in (out / "metrics.txt").read_text()
    overlays = sorted(p.relative_to(out).as_posix() for p in (out / "overlays").rglob("*.jpg"))
    assert len(overlays) == 4 and {p.split("/")[1] for p in overlays} == {"clean", "dim"}


def test_default_precision_is_the_bundles(bundle_and_data):
    from crackedge.bundle import load_metadata

    bundle, data = bundle_and_data
    res = evaluate_bundle(bundle, data, EvalOptions(limit=1, progress=False))
    assert res.precision == load_metadata(bundle).inference_precision


def test_crack_probability_for_each_output_layout():
    logits = np.array([[[[0.0, 2.0]], [[1.0, -1.0]]]], np.float32)  # 1 x 2 x 1 x 2
    soft = np.exp(logits[0]) / np.exp(logits[0]).sum(0)
    two = crack_probability(logits, OutputSpec(kind="logits", channels=2, crack_channel=1), (1, 2))
    assert np.allclose(two, soft[1], atol=1e-6)
    probs = np.array([[[[0.2, 0.9]]]], np.float32)
    one = crack_probability(probs, OutputSpec(kind="probabilities", channels=1, crack_channel=0, stride=2), (2, 4))
    assert one.shape == (2, 4) and one.min() >= 0.2 - 1e-6 and one.max() <= 0.9 + 1e-6


def test_bad_inputs_are_named(bundle_and_data, tmp_path):
    bundle, data = bundle_and_data
    with pytest.raises(ConfigError, match="foggy.*clean, dim, blurry"):
        evaluate_bundle(bundle, data, EvalOptions(noise=("foggy",), progress=False))
    with pytest.raises(BundleError, match="no 'ir_int8' model"):
        evaluate_bundle(bundle, data, EvalOptions(model="ir_int8", progress=False))
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    (copy / "model.xml").write_text((copy / "model.xml").read_text().replace("<net ", "<net  "))
    with pytest.raises(BundleError, match="model.xml"):
        evaluate_bundle(copy, data, EvalOptions(progress=False))


def test_cli_eval(bundle_and_data, tmp_path, capsys):
    from distill.cli import main

    bundle, data = bundle_and_data
    assert main(["eval", str(bundle), "--data", str(data), "--noise", "clean,blurry", "--out", str(tmp_path / "o"),
                 "--overlays", "1", "--precision", "f32"]) == 0
    out = capsys.readouterr().out
    assert "noise blurry" in out and "ODS F" in out
    assert main(["eval", str(tmp_path / "nope"), "--data", str(data)]) == 2
    assert "not found" in capsys.readouterr().err
