"""teacher train / eval / predict / cache-logits end to end on tiny synthetic data (64x64, tiny SAM)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from crackedge.data.logit_cache import LogitCache  # noqa: E402
from crackedge.data.torch_dataset import CrackSegDataset  # noqa: E402
from crackedge.synth import write_synthetic_dataset  # noqa: E402
from teacher.api import load_teacher  # noqa: E402
from teacher.cli import main  # noqa: E402
from teacher.testing import save_sam_checkpoint  # noqa: E402

torch.set_num_threads(2)
SIZE = "64"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher_cli")
    data = root / "data"
    write_synthetic_dataset(data, 8, 2, 2, (80, 96), seed=3, progress=False)
    sam = save_sam_checkpoint(root / "sam_tiny.pth", "tiny", seed=0)
    return root, data, sam


@pytest.fixture(scope="module")
def trained(workspace):
    root, data, sam = workspace
    out = root / "run"
    argv = ["train", "--data", str(data), "--out", str(out), "--backbone", "tiny", "--delta", "both",
            "--sam-checkpoint", str(sam), "--size", SIZE, "--steps", "4", "--eval-every", "2",
            "--batch-size", "2", "--warmup-steps", "1", "--lr", "1e-2", "--device", "cpu"]
    assert main(argv) == 0
    return out


def test_train_writes_a_delta_checkpoint_and_its_files(trained, workspace):
    _, _, sam = workspace
    for name in ("best.pt", "last.pt", "config.yaml", "history.jsonl", "curves.png"):
        assert (trained / name).is_file(), name
    cfg = yaml.safe_load((trained / "config.yaml").read_text())
    assert cfg["model"]["backbone"] == "tiny" and cfg["model"]["img_size"] == 64 and cfg["optim"]["steps"] == 4
    ckpt = torch.load(trained / "best.pt", weights_only=True)
    assert ckpt["kind"] == "delta" and ckpt["base"]["file"] == "sam_tiny.pth" and "val_metrics" in ckpt
    model = load_teacher(trained / "best.pt", sam_checkpoint=sam)
    again = load_teacher(trained / "best.pt", sam_checkpoint=sam)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
    assert out["logits"].shape == (1, 2, 64, 64) and torch.isfinite(out["logits"]).all()
    with torch.no_grad():
        assert torch.equal(again(x)["logits"], out["logits"])  # deterministic rebuild


def test_cache_logits_match_the_teacher_on_the_same_augmented_views(trained, workspace, tmp_path):
    root, data, sam = workspace
    cache_dir = tmp_path / "cache"
    argv = ["cache-logits", str(trained / "best.pt"), "--sam-checkpoint", str(sam), "--data", str(data),
            "--split", "train", "--out", str(cache_dir), "--variants", "2", "--seed", "5", "--device", "cpu"]
    assert main(argv) == 0
    cache = LogitCache.open(cache_dir)
    assert cache.meta["teacher"] == "cracksam-tiny-both" and cache.channels == 2
    assert cache.meta["stored_size"] == [16, 16] and len(cache.meta["checkpoint_sha256"]) == 64
    ds = CrackSegDataset(data, "train", (64, 64), augment=True, seed=5, variants=2)
    cache.check_matches(ds.names, (64, 64), 5, 2)
    model = load_teacher(trained / "best.pt", sam_checkpoint=sam)
    for epoch in (0, 1):  # what distill sees at epoch e: variant e % 2
        ds.set_epoch(epoch)
        item = ds[3]
        with torch.no_grad():
            low = model(item["image"][None])["logits_low"][0].numpy()
        np.testing.assert_allclose(cache.get(3, item["variant"]).astype(np.float32), low, rtol=2e-3, atol=2e-3)


def test_eval_and_predict_write_their_files(trained, workspace, tmp_path):
    _, data, sam = workspace
    ev = tmp_path / "eval"
    assert main(["eval", str(trained / "best.pt"), "--sam-checkpoint", str(sam), "--data", str(data),
                 "--split", "test", "--out", str(ev), "--noise", "clean", "dim", "--device", "cpu"]) == 0
    metrics = yaml.safe_load((ev / "metrics.yaml").read_text())
    assert set(metrics["metrics"]) == {"clean", "dim"} and metrics["metrics"]["clean"]["n_images"] == 2.0
    assert 0.0 <= metrics["metrics"]["clean"]["iou"] <= 1.0
    assert (ev / "overlays_clean.jpg").is_file() and (ev / "overlays_dim.jpg").is_file()
    pred = tmp_path / "pred"
    assert main(["predict", str(trained / "best.pt"), "--sam-checkpoint", str(sam), str(data / "images"),
                 "--out", str(pred), "--device", "cpu"]) == 0
    masks = sorted((pred / "masks").glob("*.png"))
    assert len(masks) == 12 and len(list((pred / "overlays").glob("*.jpg"))) == 12
    import cv2

    m = cv2.imread(str(masks[0]), cv2.IMREAD_GRAYSCALE)
    assert m.shape == (80, 96) and set(np.unique(m)) <= {0, 255}  # the image's own size


def test_train_from_scratch_writes_a_full_checkpoint(workspace, tmp_path):
    _, data, _ = workspace
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--backbone", "tiny", "--delta", "none",
            "--train-encoder", "--size", SIZE, "--steps", "2", "--batch-size", "2", "--val-split", "none",
            "--device", "cpu"]
    assert main(argv) == 0
    ckpt = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert ckpt["kind"] == "full" and ckpt["base"] is None
    assert load_teacher(tmp_path / "run" / "best.pt").config.freeze_image_encoder is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backbone", "vit_h"], "needs the SAM weights: pass --sam-checkpoint PATH/sam_vit_h_4b8939.pth"),
        (["--backbone", "tiny"], "a random frozen encoder learns nothing useful"),
        (["--backbone", "tiny", "--train-encoder", "--val-split", "nope"], "has no split 'nope'"),
        (["--backbone", "tiny", "--size", "60"], "img_size must be a multiple of 16"),
    ],
)
def test_train_user_errors_exit_2_with_the_fix(workspace, tmp_path, capsys, extra, message):
    _, data, _ = workspace
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--device", "cpu", *extra]) == 2
    assert message in capsys.readouterr().err


def test_train_needs_data(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r")]) == 2
    assert "pass --data DIR" in capsys.readouterr().err


def test_loading_commands_explain_a_missing_base(trained, workspace, tmp_path, capsys):
    _, data, _ = workspace
    assert main(["eval", str(trained / "best.pt"), "--data", str(data), "--out", str(tmp_path), "--device", "cpu"]) == 2
    assert "pass --sam-checkpoint PATH/sam_tiny.pth" in capsys.readouterr().err
