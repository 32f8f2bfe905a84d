"""teacher train / eval / predict / cache-logits / load_teacher with a small PARNet (64x64, synthetic data)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from crackedge.data.label_record import names_digest  # noqa: E402
from crackedge.data.logit_cache import LogitCache  # noqa: E402
from crackedge.data.torch_dataset import CrackSegDataset  # noqa: E402
from crackedge.synth import write_synthetic_dataset  # noqa: E402
from teacher.api import load_teacher, teacher_name  # noqa: E402
from teacher.cli import main  # noqa: E402
from teacher.models.parnet import PARNet  # noqa: E402
from teacher.models.parnet_config import SWIN_T_TIMM_NAME  # noqa: E402

torch.set_num_threads(2)
SIZE = 64
SWIN_KEY = "swin.body.patch_embed.proj.weight"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("parnet_cli")
    data = root / "data"
    write_synthetic_dataset(data, 8, 2, 2, (80, 96), seed=3, progress=False)
    torch.manual_seed(1)
    swin = timm.create_model(SWIN_T_TIMM_NAME, pretrained=False, embed_dim=48, depths=(1, 1, 1, 1), num_heads=(2, 4, 8, 16))
    swin_file = root / "swin_small.pth"
    torch.save(swin.state_dict(), swin_file)
    return root, data, swin_file


@pytest.fixture(scope="module")
def trained(workspace):
    root, data, swin_file = workspace
    out = root / "run"
    argv = ["train", "--model", "parnet", "--preset", "small", "--swin-checkpoint", str(swin_file), "--data", str(data),
            "--out", str(out), "--size", str(SIZE), "--steps", "4", "--eval-every", "2", "--batch-size", "2",
            "--warmup-steps", "1", "--device", "cpu"]
    assert main(argv) == 0
    return out


def test_train_writes_a_full_checkpoint_without_the_swin_file(trained, workspace, tmp_path):
    _, _, swin_file = workspace
    for name in ("best.pt", "last.pt", "config.yaml", "history.jsonl", "curves.png"):
        assert (trained / name).is_file(), name
    cfg = yaml.safe_load((trained / "config.yaml").read_text())
    assert cfg["model"]["model"] == "parnet" and cfg["model"]["preset"] == "small" and cfg["model"]["img_size"] == SIZE
    assert cfg["model"]["swin"]["checkpoint"] == str(swin_file)  # the training config keeps what it was given
    assert cfg["optim"]["lr"] == 3e-4 and cfg["optim"]["power"] == 0.9  # PARNet's defaults, not CrackSAM's
    assert cfg["sam_checkpoint"] is None and cfg["parnet_loss"]["kind"] == "ce_dice"
    ckpt = torch.load(trained / "best.pt", weights_only=True)
    assert ckpt["kind"] == "full" and ckpt["base"] is None and ckpt["teacher"] == "parnet"
    # the masks it trained on: every one of the 8 training items (no --labeled-fraction), data seed 0
    names = CrackSegDataset(workspace[1], "train", (SIZE, SIZE)).names
    assert ckpt["meta"]["training_labels"] == {"split": "train", "items": 8, "names_sha256": names_digest(names),
                                               "labeled_fraction": 1.0, "seed": 0}
    assert ckpt["config"]["swin"]["checkpoint"] is None  # weights are inside; never look for the file again
    assert ckpt["meta"]["swin_init"] == "swin_small.pth"
    # the Swin started from the file: 4 AdamW steps of lr <= 3e-4 move each weight by about 1e-3 at most
    start = torch.load(swin_file, weights_only=True)["patch_embed.proj.weight"]
    assert (ckpt["state_dict"][SWIN_KEY] - start).abs().max() < 5e-3
    assert not torch.equal(ckpt["state_dict"][SWIN_KEY], start)
    # reload "on another machine": the Swin file is gone
    moved = tmp_path / "elsewhere.pth"
    swin_file.rename(moved)
    try:
        model = load_teacher(trained / "best.pt")
    finally:
        moved.rename(swin_file)
    assert isinstance(model, PARNet) and teacher_name(model) == "parnet" and not model.training
    assert model.config.img_size == SIZE  # the name CrackSAM and distill read the input size from
    assert torch.equal(model.state_dict()[SWIN_KEY], ckpt["state_dict"][SWIN_KEY])
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        out = model(x)["logits"]
        assert torch.equal(load_teacher(trained / "best.pt")(x)["logits"], out)
    assert out.shape == (1, 2, SIZE, SIZE) and torch.equal(out[:, 0], torch.zeros_like(out[:, 0]))


def test_train_logs_the_deep_supervision_terms(trained):
    rows = [json.loads(line) for line in (trained / "history.jsonl").read_text().splitlines()]
    losses = [r for r in rows if "loss" in r]
    assert losses and {"loss_fuse", "loss_side1", "loss_side2", "loss_side3", "loss_side4"} <= set(losses[0])
    first = losses[0]
    parts = sum(first[f"loss_{k}"] for k in ("fuse", "side1", "side2", "side3", "side4"))
    assert first["loss"] == pytest.approx(parts, rel=1e-5)  # the parts add up to the optimised loss
    assert [r["step"] for r in rows if "val_iou" in r] == [2, 4]


def test_eval_writes_metrics_with_baselines(trained, workspace, tmp_path, capsys):
    _, data, _ = workspace
    ev = tmp_path / "eval"
    assert main(["eval", str(trained / "best.pt"), "--data", str(data), "--split", "test", "--out", str(ev),
                 "--device", "cpu"]) == 0
    metrics = yaml.safe_load((ev / "metrics.yaml").read_text())
    assert metrics["model"] == f"teacher parnet, torch f32 at {SIZE}x{SIZE}" and metrics["basis"] == "image"
    assert metrics["metrics"]["clean"]["n_images"] == 2.0
    assert metrics["baselines"]["all-background"]["iou"] == 0.0  # every synthetic test image has cracks
    assert 0.0 < metrics["baselines"]["all-crack"]["iou"] < 0.3
    printed = capsys.readouterr().out
    assert "| parnet (clean) |" in printed and "| all-background |" in printed and "| all-crack |" in printed
    # two checkpoints: their ensemble, here with TTA; recorded in the report
    import shutil

    ens = tmp_path / "ens"
    shutil.copy(trained / "best.pt", tmp_path / "second.pt")
    assert main(["eval", str(trained / "best.pt"), str(tmp_path / "second.pt"), "--data", str(data), "--split",
                 "test", "--out", str(ens), "--tta", "--device", "cpu"]) == 0
    saved = yaml.safe_load((ens / "metrics.yaml").read_text())
    assert saved["model"] == f"teacher ensemble-2 (parnet, parnet), torch f32 at {SIZE}x{SIZE}, TTA over 8 views"
    assert saved["tta_views"] == 8 and len(saved["checkpoints_sha256"]) == 2
    assert "| ensemble-2 (parnet, parnet) +TTA (clean) |" in capsys.readouterr().out


def test_predict_tiles_a_large_image_and_resizes_a_small_one(trained, workspace, tmp_path):
    import cv2

    _, data, _ = workspace
    big = tmp_path / "inputs" / "big.png"
    big.parent.mkdir()
    cv2.imwrite(str(big), np.random.default_rng(0).integers(0, 255, (150, 230, 3), dtype=np.uint8))
    small = sorted((data / "images").iterdir())[0]
    pred = tmp_path / "pred"
    assert main(["predict", str(trained / "best.pt"), str(big), str(small), "--out", str(pred), "--device", "cpu",
                 "--overlap", "0.3", "--batch-size", "3"]) == 0
    m = cv2.imread(str(pred / "masks" / "big.png"), cv2.IMREAD_GRAYSCALE)
    assert m.shape == (150, 230) and set(np.unique(m)) <= {0, 255}
    assert cv2.imread(str(pred / "masks" / f"{small.stem}.png"), cv2.IMREAD_GRAYSCALE).shape == (80, 96)
    assert (pred / "overlays" / "big.jpg").is_file()


def test_predict_tile_mode_matches_the_model_on_one_tile(trained):
    """An image exactly the input size in tile mode is one tile: the model's own output."""
    from crackedge.data.torch_dataset import image_to_tensor
    from teacher.predict import image_probability

    model = load_teacher(trained / "best.pt")
    image = np.random.default_rng(1).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    prob, mode = image_probability(model, image, mode="tile")
    with torch.no_grad():
        expected = torch.softmax(model(image_to_tensor(image)[None])["logits"], 1)[0, 1].numpy()
    assert mode == "tile" and prob.shape == (SIZE, SIZE)
    np.testing.assert_allclose(prob, expected, atol=1e-6)


def test_cache_logits_store_the_full_resolution_crack_margin(trained, workspace, tmp_path):
    _, data, _ = workspace
    cache_dir = tmp_path / "cache"
    argv = ["cache-logits", str(trained / "best.pt"), "--data", str(data), "--split", "train",
            "--variants", "2", "--seed", "5", "--device", "cpu"]
    assert main([*argv, "--out", str(cache_dir)]) == 0
    cache = LogitCache.open(cache_dir)
    assert cache.meta["teacher"] == "parnet" and cache.channels == 1 and cache.meta["stored_size"] == [SIZE, SIZE]
    record = torch.load(trained / "best.pt", weights_only=True)["meta"]["training_labels"]
    assert cache.meta["teachers_training_labels"] == [record]
    # a student keeping half of the masks: this teacher trained on all 4 it hides, and distill says so
    from distill.teacher_labels import check_teacher_labels
    from distill.train_config import DistillTrainConfig

    student = DistillTrainConfig.model_validate({"teacher": {"kind": "parnet", "cache": str(cache_dir)},
                                                 "data": {"root": str(data), "labeled_fraction": 0.5}})
    check = check_teacher_labels(student, CrackSegDataset(data, "train", (SIZE, SIZE)).names)
    assert (check.status, check.seen, check.hidden) == ("seen", 4, 4)
    assert "trained on the masks of 4 of the 4 items" in check.text("parnet")
    ds = CrackSegDataset(data, "train", (SIZE, SIZE), augment=True, seed=5, variants=2)
    cache.check_matches(ds.names, (SIZE, SIZE), 5, 2)
    model = load_teacher(trained / "best.pt")
    ds.set_epoch(1)
    item = ds[3]
    with torch.no_grad():
        logits = model(item["image"][None])["logits"][0]
    z = (logits[1:2] - logits[0:1]).numpy()
    np.testing.assert_allclose(cache.get(3, item["variant"]).astype(np.float32), z, rtol=2e-3, atol=2e-3)

    small_dir = tmp_path / "cache16"
    assert main([*argv, "--out", str(small_dir), "--stored-size", "16"]) == 0
    small = LogitCache.open(small_dir)
    assert small.meta["stored_size"] == [16, 16] and small.meta["downsampled_from"] == [SIZE, SIZE]
    pooled = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(z)[None], 16)[0].numpy()
    np.testing.assert_allclose(small.get(3, item["variant"]).astype(np.float32), pooled, rtol=2e-3, atol=2e-3)


def test_teachers_of_two_sizes_form_one_ensemble(trained, workspace, tmp_path):
    """A 64 px and a 96 px teacher: images prepared at 96, the 64 px teacher sees them resized, margins averaged."""
    import torch.nn.functional as F

    from teacher.inference import teacher_logits

    root, data, swin_file = workspace
    big = root / "run96"
    if not (big / "best.pt").is_file():
        assert main(["train", "--model", "parnet", "--preset", "small", "--swin-checkpoint", str(swin_file), "--data",
                     str(data), "--out", str(big), "--size", "96", "--steps", "2", "--eval-every", "2", "--batch-size",
                     "2", "--warmup-steps", "1", "--device", "cpu"]) == 0
    small_model, big_model = load_teacher(trained / "best.pt"), load_teacher(big / "best.pt")
    x = torch.randn(2, 3, 96, 96)
    ens = teacher_logits([small_model, big_model], x, "cpu", False, 1)
    with torch.no_grad():
        ls = small_model(F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True))["logits"]
        lb = big_model(x)["logits"]
    zs = F.interpolate(ls[:, 1:2] - ls[:, 0:1], size=(96, 96), mode="bilinear", align_corners=False)
    assert ens.shape == (2, 1, 96, 96)
    torch.testing.assert_close(ens, (zs + lb[:, 1:2] - lb[:, 0:1]) / 2, rtol=1e-4, atol=1e-4)
    # evaluation and the logit cache take the pair: at the larger size, each teacher scored
    ev = tmp_path / "eval"
    assert main(["eval", str(trained / "best.pt"), str(big / "best.pt"), "--data", str(data), "--split", "test",
                 "--out", str(ev), "--device", "cpu"]) == 0
    assert yaml.safe_load((ev / "metrics.yaml").read_text())["model"] == \
        "teacher ensemble-2 (parnet, parnet), torch f32 at 96x96"
    cache_dir = tmp_path / "cache"
    assert main(["cache-logits", str(trained / "best.pt"), str(big / "best.pt"), "--data", str(data), "--split",
                 "train", "--out", str(cache_dir), "--device", "cpu"]) == 0
    cache = LogitCache.open(cache_dir)
    assert cache.meta["size"] == [96, 96] and cache.channels == 1
    assert set(cache.meta["teacher_val"]["crack_iou"]) >= {"ensemble"}


def test_cache_logits_stored_size_larger_than_the_teacher_is_refused(trained, workspace, tmp_path, capsys):
    _, data, _ = workspace
    assert main(["cache-logits", str(trained / "best.pt"), "--data", str(data), "--out", str(tmp_path / "c"),
                 "--stored-size", "100", "--device", "cpu"]) == 2
    assert "--stored-size must be between 1 and the teacher's input size 64, got 100" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "parnet", "--backbone", "tiny"], "--backbone applies to --model cracksam, not parnet"),
        (["--model", "parnet", "--sam-checkpoint", "sam.pth"], "--sam-checkpoint applies to --model cracksam"),
        (["--model", "parnet", "--train-encoder"], "--train-encoder applies to --model cracksam"),
        (["--preset", "small"], "--preset applies to --model parnet, not cracksam"),
        (["--model", "parnet", "--size", "48"], "img_size must be a multiple of 32"),
        (["--model", "parnet", "--preset", "small", "--swin-checkpoint", "missing.pth"], "Swin checkpoint not found: missing.pth"),
    ],
)
def test_train_option_errors_name_the_option(workspace, tmp_path, capsys, extra, message):
    _, data, _ = workspace
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--device", "cpu", *extra]) == 2
    assert message in capsys.readouterr().err


def test_train_config_file_errors(workspace, tmp_path, capsys):
    _, data, _ = workspace
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  model: parnet\n  preset: small\n  decoder_width: [1, 2, 3, 4]\n")
    assert main(["train", "--config", str(bad), "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    assert "decoder_width: unknown key" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    other.write_text("model:\n  model: parnet\n  preset: paper\n")
    assert main(["train", "--config", str(other), "--preset", "small", "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    assert "--preset small contradicts model.preset: paper" in capsys.readouterr().err
    assert main(["train", "--config", str(other), "--model", "cracksam", "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    assert "--model cracksam contradicts model.model: parnet" in capsys.readouterr().err
