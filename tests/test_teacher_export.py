"""`teacher export`: tiny CrackSAM (adapter, LoRA) and a small PARNet to the one bundle format, parity vs torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.metadata import load_metadata

SIZE = 64


def _perturb_deltas(model: torch.nn.Module, seed: int = 1) -> None:
    """Give the zero-initialised deltas (LoRA B, adapter up-projections) real values, as training would."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora." in name or ".adapter." in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)


def _fit(model: torch.nn.Module, steps: int = 12) -> torch.nn.Module:
    """A few optimiser steps on synthetic crack images: the output then varies with the image, so the
    parity check compares masks with real boundaries (a random network's output is nearly flat)."""
    from crackedge.data.normalization import IMAGENET_MEAN, IMAGENET_STD
    from crackedge.synth import generate_sample

    samples = [generate_sample(100 + i, size=(SIZE, SIZE)) for i in range(4)]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = (torch.from_numpy(np.stack([s[0] for s in samples])).permute(0, 3, 1, 2).float() - mean) / std
    y = torch.from_numpy(np.stack([s[1] for s in samples])).long()
    torch.manual_seed(0)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x)["logits"], y, weight=torch.tensor([1.0, 5.0]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def sam_file(tmp_path_factory):
    from teacher.testing import save_sam_checkpoint

    return save_sam_checkpoint(tmp_path_factory.mktemp("sam") / "sam_tiny.pth", "tiny", seed=0)


def _threshold_with_cracks(ckpt: Path, sam_file=None, output: str = "native", n: int = 3) -> float:
    """A threshold at which the random teacher marks ~30 % of the parity images' pixels as crack (a random
    network's probabilities sit in a narrow band; at 0.5 it may mark nothing, and an IoU of two empty
    masks proves nothing)."""
    from crackedge.export.bundle import BundleExportOptions
    from crackedge.export.samples import synthetic_samples
    from crackedge.runtime.preprocess import default_input_spec, preprocess
    from teacher.api import load_teacher
    from teacher.export import export_head

    head, _ = export_head(load_teacher(ckpt, sam_file), output)
    spec = default_input_spec(SIZE, SIZE)
    samples = synthetic_samples(n, (SIZE, SIZE), BundleExportOptions().synthetic_seed)
    with torch.no_grad():
        probs = np.concatenate([head(torch.from_numpy(preprocess(s.image, spec))).numpy().ravel() for s in samples])
    return float(np.quantile(probs, 0.7))


def _assert_parity(meta) -> None:
    records = {r.runtime: r for r in meta.parity}
    assert records["torch:CPU:f32"].crack_pixels > 0, "parity on empty masks proves nothing"
    assert records["onnxruntime:CPU:f32"].max_abs_diff < 1e-3
    assert records["openvino:CPU:f32"].mask_iou >= 0.99, meta.notes["parity_check"]
    assert meta.notes["parity_check"].startswith("ok"), meta.notes["parity_check"]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory, sam_file) -> dict[str, Path]:
    """Fitted tiny CrackSAM delta checkpoints, one per delta kind, built once for the module."""
    folder = tmp_path_factory.mktemp("ckpts")
    return {delta: _cracksam_checkpoint(folder, sam_file, delta) for delta in ("adapter", "lora")}


def _cracksam_checkpoint(tmp_path: Path, sam_file: Path, delta: str) -> Path:
    from teacher.checkpoints import save_teacher_checkpoint
    from teacher.models.cracksam import build_cracksam

    model = build_cracksam("tiny", delta, sam_checkpoint=sam_file, img_size=SIZE,
                           lora={"rank": 4, "targets": ["q", "v", "proj"]})
    _perturb_deltas(model)
    _fit(model, steps=40)  # after 12 steps the probabilities still sit within ~0.005 of each other: an FP16
    # weight's rounding (|diff| ~1e-5) then flips ~0.5 % of the pixels and parity fails by chance
    return save_teacher_checkpoint(tmp_path / f"cracksam_{delta}.pt", model, kind="delta")


def test_lora_merge_is_exact_and_removes_the_lora_branches(sam_file):
    from teacher.export import merge_lora
    from teacher.models.cracksam import build_cracksam
    from teacher.models.deltas import LoRALinear, LoRAQKV

    model = build_cracksam("tiny", "both", sam_checkpoint=sam_file, img_size=SIZE,
                           lora={"rank": 2, "targets": ["q", "k", "v", "proj"]}).eval()
    _perturb_deltas(model)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        before = model(x)["logits"]
        assert merge_lora(model) == 2 * len(model.sam.image_encoder.blocks)
        after = model(x)["logits"]
    assert not any(isinstance(m, (LoRAQKV, LoRALinear)) for m in model.modules())
    assert torch.allclose(before, after, atol=1e-5)


@pytest.mark.parametrize("delta", ["adapter", "lora"])
def test_cracksam_delta_checkpoint_exports_to_a_teacher_bundle(tmp_path, sam_file, ckpts, delta):
    from teacher.export import TeacherExportOptions, export_teacher

    ckpt = ckpts[delta]
    out = tmp_path / "bundle"
    opts = TeacherExportOptions(sam_checkpoint=sam_file, parity_images=3, precisions=["f32"], progress=False,
                                threshold=_threshold_with_cracks(ckpt, sam_file))
    meta = export_teacher(ckpt, out, opts)
    assert meta.model.kind == "teacher" and meta.model_name == f"cracksam-tiny-{delta}" and meta.student is None
    assert (meta.input.height, meta.input.width) == (SIZE, SIZE)
    assert meta.output.kind == "probabilities" and meta.output.stride == 4 and meta.opset == 17
    assert ("merged" in meta.notes["deltas"]) == (delta == "lora")
    _assert_parity(meta)
    # one bundle format: the runtime loads it (hashes checked) and runs it like a student
    from crackedge.runtime.backends import open_model
    from crackedge.runtime.preprocess import preprocess
    from crackedge.synth import generate_sample

    bundle = load_bundle(out)
    backend = open_model(bundle.model_file("ir_fp16"), precision="f32", threads=1)
    try:
        image, _ = generate_sample(5, size=(SIZE, SIZE))
        y = backend.infer(preprocess(image, meta.input))
    finally:
        backend.close()
    assert y.shape == (1, 1, SIZE // 4, SIZE // 4) and np.all((y >= 0) & (y <= 1))
    assert not (out.parent / ".bundle").exists() and not list(out.parent.glob(".bundle.*.partial"))


def test_full_resolution_output_and_a_bad_size(tmp_path, sam_file, ckpts):
    from crackedge.export.errors import ExportError
    from teacher.export import TeacherExportOptions, export_teacher

    ckpt = ckpts["adapter"]
    opts = TeacherExportOptions(sam_checkpoint=sam_file, output="full", parity_images=2, precisions=["f32"],
                                progress=False, threshold=_threshold_with_cracks(ckpt, sam_file, "full", 2))
    meta = export_teacher(ckpt, tmp_path / "full", opts)
    assert meta.output.stride == 1
    _assert_parity(meta)
    bad = TeacherExportOptions(sam_checkpoint=sam_file, input_size=(128, 128), progress=False)
    with pytest.raises(ExportError, match="built for 64x64"):
        export_teacher(ckpt, tmp_path / "bad", bad)
    assert not (tmp_path / "bad").exists()


def test_parnet_exports_through_the_cli(tmp_path, capsys):
    from teacher.checkpoints import save_teacher_checkpoint
    from teacher.cli import main
    from teacher.models.parnet import build_parnet
    from teacher.models.parnet_config import parnet_config

    torch.manual_seed(0)
    model = _fit(build_parnet(parnet_config("small", img_size=SIZE)), steps=6)
    ckpt = save_teacher_checkpoint(tmp_path / "parnet.pt", model, kind="full")
    out = tmp_path / "parnet_bundle"
    threshold = _threshold_with_cracks(ckpt, n=2)
    assert main(["export", str(ckpt), "--out", str(out), "--parity-images", "2", "--precisions", "f32",
                 "--threshold", f"{threshold:.6f}"]) == 0
    printed = capsys.readouterr().out
    assert "teacher parnet" in printed and "openvino:CPU:f32" in printed
    meta = load_metadata(out)
    assert meta.model.kind == "teacher" and meta.output.stride == 1
    assert {r.runtime for r in meta.parity} >= {"torch:CPU:f32", "onnxruntime:CPU:f32", "openvino:CPU:f32"}
    _assert_parity(meta)


def test_old_student_bundles_still_load(tmp_path):
    """A bundle written before teachers (only `student:`) loads as a student bundle."""
    import yaml

    from crackedge.runtime.metadata import BundleMetadata

    doc = {"student": "hrnet_w18", "input": {"height": 64, "width": 64, "mean": [1, 2, 3], "std": [1, 1, 1]},
           "output": {"kind": "probabilities", "channels": 1, "crack_channel": 0, "stride": 4}, "opset": 11,
           "models": {"onnx": "model.onnx"}}
    (tmp_path / "metadata.yaml").write_text(yaml.safe_dump(doc))
    meta = load_metadata(tmp_path)
    assert meta.model.kind == "student" and meta.model_name == "hrnet_w18"
    with pytest.raises(ValueError, match="no student key"):
        BundleMetadata(**{**doc, "model": {"name": "parnet", "kind": "teacher"}})


def test_edge_runs_a_teacher_bundle(tmp_path, sam_file, ckpts):
    """One bundle format: `edge run` takes a teacher bundle like a student's."""
    import json

    import yaml

    from edge.cli import main as edge_main
    from teacher.export import TeacherExportOptions, export_teacher
    from tests.edge_bundle_fixture import encode_jpeg, synthetic_frame

    bundle = tmp_path / "teacher"
    export_teacher(ckpts["adapter"], bundle,
                   TeacherExportOptions(sam_checkpoint=sam_file, parity_images=2, precisions=["f32"], progress=False))
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        (frames / f"f{i}.jpg").write_bytes(encode_jpeg(synthetic_frame(160, 120, seed=i)))
    cfg = {"source": {"kind": "images", "path": str(frames)}, "model": {"bundle": str(bundle), "threads": 1},
           "save": {"out_dir": str(tmp_path / "out"), "every_nth": 1, "fsync": False},
           "preview": {"enabled": False}}
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump(cfg))
    assert edge_main(["run", "--config", str(tmp_path / "edge.yaml")]) == 0
    sidecars = sorted((tmp_path / "out").glob("runs/*/0*.json"))
    assert len(sidecars) == 3
    doc = json.loads(sidecars[0].read_text())
    assert doc["model"]["kind"] == "teacher" and doc["model"]["name"] == "cracksam-tiny-adapter"
    assert doc["produced_by"] == {"source": "local", "model": "cracksam-tiny-adapter"}
