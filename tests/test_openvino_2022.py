"""Issue 15, item 4: the backend's OpenVINO 2022.3 code path (the NCS2 software path), run for real.

OpenVINO 2022.3 is the last release with the MYRIAD plugin; PyPI has it for CPython 3.7-3.10 on
x86_64 only, and it requires numpy < 1.25. `make test-ov2022` builds build/ov2022-venv (Python 3.10,
openvino==2022.3.2, constraints/ncs2.txt, crackedge's requirements and `ncs2` extra; this checkout
on PYTHONPATH) and runs this file: a
real student exported today, read from its model.onnx through `openvino.runtime`, run sync and with
async requests in flight, must match today's OpenVINO on real images (crack500 test images when
../shared/datasets is there, synthetic road frames otherwise), and `edge run` must work there.

Without Python 3.10 the test skips and says so; with Python 3.10 but no venv yet it skips and names
`make test-ov2022` (the default `make test` never downloads).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from crackedge.runtime.backends import create_backend
from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.options import RuntimeOptions
from crackedge.runtime.preprocess import Preprocessor
from tests.conftest import REPO_ROOT, shared_datasets_dir
from tests.edge_bundle_fixture import synthetic_frame
from tools import ov2022_env

pytestmark = pytest.mark.slow
N_IMAGES = 4


@pytest.fixture(scope="module")
def ov2022_python() -> Path:
    if ov2022_env.ready():
        return ov2022_env.venv_python()
    py = ov2022_env.find_python310()
    if py is None:
        pytest.skip(ov2022_env.NO_PYTHON)
    if os.environ.get("CRACKEDGE_OV2022") != "1":
        pytest.skip(f"{ov2022_env.VENV} does not exist yet: `make test-ov2022` creates it with {py} (needs PyPI once)")
    return ov2022_env.ensure(python=py)


def _real_images() -> tuple[list[np.ndarray], str]:
    folder = shared_datasets_dir() / "crack500" / "test" / "images"
    files = sorted(folder.glob("*.jpg"))[:N_IMAGES] if folder.is_dir() else []
    if len(files) == N_IMAGES:
        return [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files], f"crack500 test images from {folder}"
    return [synthetic_frame(448, 448, seed=s, crack=True, thickness=5) for s in range(N_IMAGES)], "synthetic road frames"


@pytest.fixture(scope="module")
def student_bundle(tmp_path_factory) -> Path:
    """HRNet-W18 (the project's student) exported today: model.onnx opset 11, FP16 IR, parity records."""
    from distill.export.bundle_export import ExportOptions, export_bundle
    from tests.helpers.student_checkpoints import write_checkpoint

    tmp = tmp_path_factory.mktemp("ov2022")
    ckpt = write_checkpoint(tmp / "best.pt", "hrnet_w18", 128)
    export_bundle(ckpt, tmp / "bundle", ExportOptions(input_size=(128, 128), parity_images=2, progress=False))
    return tmp / "bundle"


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO_ROOT))  # this checkout's code on the venv's packages


def test_openvino_2022_reads_the_onnx_runs_async_and_matches_today(ov2022_python, student_bundle, tmp_path) -> None:
    images, what = _real_images()
    np.savez(tmp_path / "images.npz", **{f"im{i:02d}": im for i, im in enumerate(images)})
    done = subprocess.run([str(ov2022_python), str(REPO_ROOT / "tests" / "ov2022_worker.py"), str(student_bundle),
                           str(tmp_path / "images.npz"), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, timeout=600, env=_env(), cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    got = np.load(tmp_path / "out.npz")
    report = json.loads((tmp_path / "out.json").read_text())
    facts = report["facts"]["f32"]
    assert report["python"].startswith("3.10.") and report["numpy"].startswith("1.24.")
    assert facts["api"] == "openvino.runtime" and facts["version"].startswith("2022.3")
    assert facts["model_key"] == "onnx" and facts["model_file"] == "model.onnx" and facts["precision"] == "f32"
    assert facts["requests"] == 3
    auto = report["facts"]["auto"]
    assert auto["precision"] in ("f32", "bf16", "f16") and auto["precision_reason"].startswith(auto["precision"])

    bundle = load_bundle(student_bundle)
    pre, dec = Preprocessor(bundle.meta.input), MaskDecoder(bundle.meta.output, bundle.meta.threshold)
    today, key = create_backend(RuntimeOptions(device="CPU", model="onnx", precision="f32"), bundle)
    try:
        assert key == "onnx" and today.info["api"] == "openvino" and not today.info["version"].startswith("2022")
        worst, inter, union = 0.0, 0, 0
        for i, im in enumerate(images):
            np.testing.assert_allclose(got[f"blob{i:02d}"], pre(im), atol=1e-3)  # OpenCV 4.11 vs 5 resize
            ref = today.infer(got[f"blob{i:02d}"])
            np.testing.assert_array_equal(got[f"async{i:02d}"], got[f"sync{i:02d}"])  # async = sync on 2022.3
            worst = max(worst, float(np.abs(got[f"sync{i:02d}"] - ref).max()))
            a = dec.mask(got[f"sync{i:02d}"], (im.shape[1], im.shape[0])).astype(bool)
            b = dec.mask(ref, (im.shape[1], im.shape[0])).astype(bool)
            inter, union = inter + int((a & b).sum()), union + int((a | b).sum())
    finally:
        today.close()
    print(f"OpenVINO {facts['version']} vs {today.info['version']} on {len(images)} {what}: max |diff| {worst:.2e}, "
          f"mask IoU {inter / max(union, 1):.5f}; precision auto on 2022.3: {auto['precision_reason']}")
    assert worst < 1e-4, f"OpenVINO 2022.3 vs today on {what}: max |diff| {worst:.2e}"
    assert union == 0 or inter / union > 0.999, f"mask IoU {inter / union:.5f} on {what}"


def test_edge_run_works_on_openvino_2022(ov2022_python, student_bundle, tmp_path) -> None:
    images, _ = _real_images()
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, im in enumerate(images):
        cv2.imwrite(str(frames / f"f{i:02d}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    counts = {}
    for name, python, model in (("2022.3", ov2022_python, "auto"), ("today", None, "onnx")):
        cfg = tmp_path / f"edge-{name}.yaml"
        cfg.write_text(yaml.safe_dump({
            "source": {"kind": "images", "path": str(frames)},
            "model": {"bundle": str(student_bundle), "model": model, "precision": "f32",
                      "cache_dir": str(tmp_path / f"ov-cache-{name}")},
            "save": {"out_dir": str(tmp_path / name), "every_nth": 1}, "disk": {"min_free_mb": 1},
            "preview": {"enabled": False}}))
        if python is None:
            from edge.cli import main

            assert main(["run", "--config", str(cfg)]) == 0
        else:
            done = subprocess.run([str(python), "-m", "edge", "run", "--config", str(cfg)], capture_output=True,
                                  text=True, timeout=600, env=_env(), cwd=str(tmp_path))
            assert done.returncode == 0, done.stdout + done.stderr
            assert "openvino.runtime" in done.stderr and "model.onnx" in done.stderr
        run = next((tmp_path / name / "runs").iterdir())
        sidecars = sorted(run.glob("0*.json"))
        assert len(sidecars) == N_IMAGES
        counts[name] = [json.loads(p.read_text())["crack_pixels"] for p in sidecars]
        assert json.loads((run / "run.json").read_text())["model"]["file"] == "model.onnx"
        folders = [p for p in (tmp_path / f"ov-cache-{name}").iterdir() if (p / ".crackedge-model-cache").is_file()]
        assert len(folders) == 1, folders  # the model compiled from its path into its own cache folder
    print(f"edge run crack pixels per frame, OpenVINO 2022.3 vs today: {counts}")
    total = max(1, sum(counts["today"]))
    assert sum(abs(a - b) for a, b in zip(counts["2022.3"], counts["today"])) <= 0.001 * total + 2, counts
