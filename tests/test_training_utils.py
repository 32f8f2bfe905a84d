"""Losses (golden), schedule, checkpoints, and the shared loop: learning, best/last, exact resume."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from crackedge.data.torch_dataset import CrackSegDataset
from crackedge.synth import write_synthetic_dataset
from crackedge.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from crackedge.training.loop import LoopConfig, fit
from crackedge.training.losses import ce_dice_loss, dice_loss
from crackedge.training.runtime import pick_device
from crackedge.training.schedule import warmup_poly_factor


def _golden_logits():
    # p_crack = [0.5, 0.75], target = [0, 1]
    logits = torch.tensor([[[[0.0, 0.0]], [[0.0, math.log(3.0)]]]])  # 1x2x1x2
    target = torch.tensor([[[0, 1]]])
    return logits, target


def test_dice_and_ce_dice_hand_computed():
    logits, target = _golden_logits()
    crack = 1 - (2 * 0.75) / (1.25 + 1)  # 1/3
    bg = 1 - (2 * 0.5) / (0.75 + 1)  # 3/7
    assert dice_loss(logits, target, eps=0).item() == pytest.approx((crack + bg) / 2, abs=1e-6)
    assert dice_loss(logits, target, classes="crack", eps=0).item() == pytest.approx(crack, abs=1e-6)
    ce = (-math.log(0.5) - math.log(0.75)) / 2
    assert ce_dice_loss(logits, target).item() == pytest.approx(0.2 * ce + 0.8 * (crack + bg) / 2, abs=1e-4)


def test_dice_is_zero_for_a_perfect_confident_prediction():
    target = torch.tensor([[[0, 1], [1, 0]]])
    logits = torch.stack([(1 - target) * 30.0, target * 30.0], 1).float()
    assert dice_loss(logits, target).item() == pytest.approx(0, abs=1e-6)


def test_warmup_poly_schedule():
    assert warmup_poly_factor(0, 1000, 300, 6) == pytest.approx(1 / 300)
    assert warmup_poly_factor(299, 1000, 300, 6) == pytest.approx(1.0)
    assert warmup_poly_factor(300, 1000, 300, 6) == pytest.approx(1.0)
    assert warmup_poly_factor(650, 1000, 300, 6) == pytest.approx(0.5**6)
    assert warmup_poly_factor(1000, 1000, 300, 6) == 0.0


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found: .*nope.pt \\(pass --checkpoint\\)"):
        load_checkpoint(tmp_path / "nope.pt", hint="pass --checkpoint")
    (tmp_path / "bad.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="bad.pt could not be read"):
        load_checkpoint(tmp_path / "bad.pt")
    save_checkpoint(tmp_path / "ok.pt", {"a": torch.ones(2)})
    assert torch.equal(load_checkpoint(tmp_path / "ok.pt")["a"], torch.ones(2))
    assert not list(tmp_path.glob("*.tmp"))


class TinyTask:
    """Two conv layers: enough to learn dark thin cracks on small synthetic images."""

    def __init__(self, seed=0):
        torch.manual_seed(seed)
        self.device = pick_device("cpu")
        self.model = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 5, padding=2), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 3, padding=1)
        )

    def trainable_parameters(self):
        return list(self.model.parameters())

    def train_step(self, batch):
        logits = self.model(batch["image"])
        loss = ce_dice_loss(logits, batch["mask"])
        return loss, {"ce": float(F.cross_entropy(logits.detach(), batch["mask"]))}

    def predict(self, batch):
        return torch.softmax(self.model(batch["image"]), 1)[:, 1]

    def train(self, mode=True):
        self.model.train(mode)

    def state_for_checkpoint(self):
        return {"model": self.model.state_dict()}

    def load_training_state(self, state):
        self.model.load_state_dict(state["model"])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    ds = write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "d", 16, 4, 0, (48, 48), seed=2, progress=False)
    return CrackSegDataset(ds, "train", (48, 48), augment=True, seed=0), CrackSegDataset(ds, "val", (48, 48))


def _cfg(out, steps, **kw):
    return LoopConfig(out_dir=out, max_steps=steps, lr=1e-2, warmup_steps=5, power=1.0, batch_size=4,
                      eval_every=10, log_every=1, progress=False, **kw)


def test_fit_learns_and_writes_its_files(tmp_path, tiny_data):
    torch.set_num_threads(1)
    train, val = tiny_data
    task = TinyTask()
    res = fit(task, train, val, _cfg(tmp_path / "run", 40))
    losses = [h["loss"] for h in res.history if "loss" in h]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 * 0.8
    assert res.best_iou > 0.05 and res.last_step == 40
    for name in ("best.pt", "last.pt", "history.jsonl", "curves.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert sum("val_iou" in h for h in lines) == 4
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["val_metrics"]["iou"] == pytest.approx(res.best_iou)


def test_resume_gives_exactly_the_uninterrupted_result(tmp_path, tiny_data):
    torch.set_num_threads(1)
    train, val = tiny_data
    full = TinyTask()
    fit(full, train, val, _cfg(tmp_path / "full", 14))
    part = TinyTask()
    fit(part, train, val, _cfg(tmp_path / "part", 14, max_minutes=0.0))  # stops after its first step
    assert load_checkpoint(tmp_path / "part" / "last.pt")["step"] == 1
    resumed = TinyTask(seed=99)  # different init: everything must come from last.pt
    first_session_s = load_checkpoint(tmp_path / "part" / "last.pt")["elapsed_s"]
    res = fit(resumed, train, val, _cfg(tmp_path / "part", 14, resume=True))
    assert res.last_step == 14
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # the run's time is that of both sessions; last.pt carries it on
    from crackedge.training.loop import read_budget

    total = load_checkpoint(tmp_path / "part" / "last.pt")["elapsed_s"]
    assert first_session_s > 0 and total > first_session_s
    assert read_budget(tmp_path / "part")["wall_s"] == pytest.approx(total, abs=0.2)


def test_amp_helpers_accept_device_strings():
    from crackedge.training.runtime import amp_dtype, autocast

    assert amp_dtype("cpu") is None
    with autocast("cpu"):
        pass


def test_validation_shows_progress_and_a_cut_run_says_so(tmp_path, tiny_data, capsys, caplog):
    """A long validation must show a progress bar; the minute safety net cutting a run is loud and recorded."""
    from crackedge.training.loop import budget_warning, read_budget

    torch.set_num_threads(1)
    train, val = tiny_data
    cfg = _cfg(tmp_path / "cut", 50, max_minutes=0.0)
    cfg.progress = True
    with caplog.at_level("WARNING"):
        fit(TinyTask(), train, val, cfg)
    err = capsys.readouterr().err
    assert "eval: " in err  # the validation progress bar (tqdm)
    assert "!!! the --max-minutes safety net (0 min) stopped training at step 1 of 50" in caplog.text
    assert read_budget(tmp_path / "cut") == {"planned_steps": 50, "steps": 1, "stopped_by_budget": True,
                                             "max_minutes": 0.0, "wall_s": read_budget(tmp_path / "cut")["wall_s"]}
    assert "stopped at step 1 of 50" in budget_warning(tmp_path / "cut")
    fit(TinyTask(), train, val, _cfg(tmp_path / "whole", 3))
    assert read_budget(tmp_path / "whole")["stopped_by_budget"] is False and budget_warning(tmp_path / "whole") is None
    # a run whose last step ends after the budget did all it was asked: it is not "cut"
    fit(TinyTask(), train, val, _cfg(tmp_path / "exact", 1, max_minutes=0.0))
    assert read_budget(tmp_path / "exact")["stopped_by_budget"] is False and budget_warning(tmp_path / "exact") is None


def test_curves_draw_only_the_loss_terms_a_run_uses(tmp_path):
    from crackedge.training.curves import loss_parts, plot_curves

    history = [{"step": s, "loss": 1.0 / s, "loss_hard": 0.5 / s, "loss_cwd": 0.0, "loss_kl": 0.1 / s,
                "loss_pseudo": 0.0 if s < 3 else 0.2} for s in range(1, 6)]
    assert loss_parts(history) == ["loss_hard", "loss_kl", "loss_pseudo"]
    assert loss_parts([{"step": 1, "loss": 1.0}]) == []
    png = plot_curves(history + [{"step": 5, "val_iou": 0.4, "val_f1": 0.5}], tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validation_at_image_size_scores_as_the_test_does(tmp_path):
    """val_basis "image": best.pt's val IoU is the one a test-style scoring of its weights gives (each
    image fed at the training size, the probability upsampled to the image, the mask as published),
    not the one counted at the training size (image and mask resized)."""
    import cv2

    from crackedge.data.augment import resize_pair
    from crackedge.data.torch_dataset import image_to_tensor
    from crackedge.metrics import MetricAccumulator

    torch.set_num_threads(1)
    root = write_synthetic_dataset(tmp_path / "d", 16, 4, 0, (72, 96), seed=3, progress=False)
    train = CrackSegDataset(root, "train", (48, 48), augment=True, seed=0)
    val = CrackSegDataset(root, "val", (48, 48))
    res = fit(TinyTask(), train, val, _cfg(tmp_path / "run", 20, val_basis="image"))
    assert sum("val_iou" in h for h in res.history) == 2 and res.best_iou > 0.05
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    model = TinyTask().model
    model.load_state_dict(best["model"])
    model.eval()

    def crack_prob(image):
        with torch.no_grad():
            return torch.softmax(model(image_to_tensor(image)[None]), 1)[0, 1].numpy()

    own_size, training_size = MetricAccumulator(threshold=0.5), MetricAccumulator(threshold=0.5)
    for name in root.names("val"):
        image, gt = root.read(name)
        assert gt.shape == (72, 96)
        prob = crack_prob(cv2.resize(image, (48, 48), interpolation=cv2.INTER_LINEAR))
        own_size.add(cv2.resize(prob, (96, 72), interpolation=cv2.INTER_LINEAR), gt)
        small_image, small_gt = resize_pair(image, gt, (48, 48))
        training_size.add(crack_prob(small_image), small_gt)
    assert best["val_metrics"]["iou"] == pytest.approx(own_size.report().iou, abs=1e-6)
    assert abs(own_size.report().iou - training_size.report().iou) > 1e-3


def test_an_unknown_validation_basis_is_refused_by_name():
    from pydantic import ValidationError

    from crackedge.training.optim_config import OptimConfig

    with pytest.raises(ValidationError, match="val_basis"):
        OptimConfig(val_basis="test")
