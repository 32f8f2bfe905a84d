"""`distill train`: live teacher, teacher-logit cache (teacher never runs), hard loss only, resume."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from crackedge.data.logit_cache import CacheError
from crackedge.errors import ConfigError
from distill.checkpoints import build_from_checkpoint, load_student_checkpoint
from distill.cli import main
from distill.train import train_student
from distill.train_config import DistillTrainConfig
from tests.helpers.tiny_distill_setup import SIZE, STUDENT, tiny_data_and_teacher

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """A tiny synthetic dataset, a tiny CrackSAM teacher checkpoint and its logit cache."""
    from teacher.cache_logits import cache_teacher_logits

    tmp = tmp_path_factory.mktemp("train")
    data, teacher, ckpt = tiny_data_and_teacher(tmp, seed=2, n_test=1)
    cache = cache_teacher_logits(teacher.eval(), ckpt, data, "train", tmp / "cache", variants=2, seed=0,
                                 device=torch.device("cpu"), progress=False)
    return {"tmp": tmp, "data": data, "teacher": ckpt, "cache": cache}


def _cfg(setup, **teacher) -> DistillTrainConfig:
    return DistillTrainConfig.model_validate({
        "student": {"name": STUDENT, "size": SIZE},
        "teacher": teacher or {"kind": "none"},
        "data": {"root": str(setup["data"]), "seed": 0},
        "optim": {"steps": 2, "batch_size": 2, "warmup_steps": 1, "eval_every": 2, "lr": 1e-3},
        "device": "cpu",
    })


def _history(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def test_live_teacher_run_writes_a_student_checkpoint_and_curves(setup):
    out = setup["tmp"] / "live"
    result = train_student(_cfg(setup, kind="cracksam", checkpoint=str(setup["teacher"])), out, progress=False)
    assert result.last_step == 2
    for name in ("best.pt", "last.pt", "curves.png", "history.jsonl", "config.yaml"):
        assert (out / name).is_file(), name
    ckpt = load_student_checkpoint(out / "best.pt")
    assert ckpt.student == STUDENT and ckpt.teacher == "cracksam-tiny-none"
    assert ckpt.step == 2 and 0.0 <= ckpt.validation_metrics["iou"] <= 1.0
    assert ckpt.config["loss"] == {"soft": "cwd", "cwd_weight": 5.0, "kl_weight": 1.0, "temperature": 3.0,
                                   "soft_warmup_steps": 0, "soft_on": "all", "pseudo_weight": 1.0}
    build_from_checkpoint(ckpt)  # rebuilds
    losses = [h for h in _history(out) if "loss" in h]
    assert losses and all(h["loss_cwd"] > 0 for h in losses)
    assert all(h["loss"] == pytest.approx(h["loss_hard"] + 5.0 * h["loss_cwd"], rel=1e-4) for h in losses)


def test_cache_run_never_runs_the_teacher(setup, monkeypatch):
    import teacher.api

    def boom(*a, **k):
        raise AssertionError("the teacher must not be loaded when a cache is given")

    monkeypatch.setattr(teacher.api, "load_teacher", boom)
    out = setup["tmp"] / "cached"
    cfg = _cfg(setup, kind="cracksam", cache=str(setup["cache"]), checkpoint=str(setup["teacher"]))
    train_student(cfg, out, progress=False)
    ckpt = load_student_checkpoint(out / "best.pt")
    assert ckpt.teacher == "cracksam-tiny-none"
    assert all(h["loss_cwd"] > 0 for h in _history(out) if "loss" in h)


def test_a_student_below_the_teachers_resolution_learns_from_its_cache(setup):
    """The teacher cached the views at 64 px; the student trains on the same views at 32 px and KL
    compares them at the teacher's resolution (the student's logits upsampled)."""
    out = setup["tmp"] / "lowres"
    cfg = _cfg(setup, cache=str(setup["cache"]))
    cfg = cfg.model_copy(update={"student": cfg.student.model_copy(update={"size": 32}),
                                 "loss": cfg.loss.model_copy(update={"soft": "kl"})})
    train_student(cfg, out, progress=False)
    assert all(h["loss_kl"] > 0 and h["loss_cwd"] == 0 for h in _history(out) if "loss" in h)
    assert load_student_checkpoint(out / "best.pt").teacher == "cracksam-tiny-none"


def test_cached_logits_are_the_live_teachers(setup):
    """The cache returns (after upsampling) what the teacher computes on the same augmented view."""
    from crackedge.data.torch_dataset import CrackSegDataset
    from distill.teacher_source import open_cached_teacher, open_live_teacher

    ds = CrackSegDataset(setup["data"], "train", (SIZE, SIZE), augment=True, seed=0, variants=2)
    ds.set_epoch(1)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    cpu = torch.device("cpu")
    cached = open_cached_teacher(setup["cache"], "cracksam", setup["teacher"], cpu).logits(batch, batch["image"])
    live = open_live_teacher(setup["teacher"], None, "cracksam", cpu, (SIZE, SIZE), amp=False)
    assert cached.shape == (2, 2, SIZE, SIZE)
    # CrackSAM's full-resolution logits are its 16x16 logits upsampled; the cache stores those in float16
    assert torch.allclose(cached, live.logits(batch, batch["image"]), atol=0.05)


def test_hard_loss_only_and_resume(setup, caplog):
    out = setup["tmp"] / "none"
    with caplog.at_level(logging.INFO, logger="distill.train"):
        train_student(_cfg(setup), out, progress=False)
    started = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("student "))
    assert "teacher none, hard loss only;" in started and "soft loss" not in started  # no loss it does not use
    assert load_student_checkpoint(out / "best.pt").teacher is None
    assert all(h["loss_cwd"] == 0.0 for h in _history(out) if "loss" in h)
    cfg = _cfg(setup)
    cfg.optim.steps = 4
    result = train_student(cfg, out, resume=True, progress=False)
    assert result.last_step == 4
    # the history continues instead of restarting: validations at steps 2 (first run) and 4 (resumed)
    assert [h["step"] for h in _history(out) if "val_iou" in h] == [2, 4]
    assert load_student_checkpoint(out / "last.pt").step == 4  # last.pt also reads as a student checkpoint


def test_configuration_errors_name_the_option(setup):
    with pytest.raises(ConfigError, match="--teacher-checkpoint PATH.*--teacher-cache DIR"):
        train_student(_cfg(setup, kind="cracksam"), setup["tmp"] / "x", progress=False)
    with pytest.raises(ConfigError, match="--teacher none.*--teacher-cache"):
        train_student(_cfg(setup, kind="none", cache=str(setup["cache"])), setup["tmp"] / "x", progress=False)
    with pytest.raises(ConfigError, match="not a parnet teacher"):
        train_student(_cfg(setup, kind="parnet", cache=str(setup["cache"])), setup["tmp"] / "x", progress=False)
    bad_seed = _cfg(setup, kind="cracksam", cache=str(setup["cache"]))
    bad_seed.data.seed = 5
    with pytest.raises(CacheError, match="augmentation seed 0 vs 5"):
        train_student(bad_seed, setup["tmp"] / "x", progress=False)


def test_cli_train_then_export(setup, capsys):
    out = setup["tmp"] / "cli"
    rc = main(["train", "--data", str(setup["data"]), "--out", str(out), "--student", STUDENT, "--size", str(SIZE),
               "--teacher", "cracksam", "--teacher-cache", str(setup["cache"]), "--steps", "1", "--batch-size", "2",
               "--warmup-steps", "0", "--device", "cpu", "--val-basis", "image"])
    assert rc == 0
    assert "best validation IoU" in capsys.readouterr().out
    import yaml

    assert yaml.safe_load((out / "config.yaml").read_text())["optim"]["val_basis"] == "image"
    assert main(["export", str(out / "best.pt"), "--out", str(setup["tmp"] / "bundle"), "--size", str(SIZE),
                 "--parity-data", str(setup["data"]), "--parity-images", "2"]) == 0
    from crackedge.runtime.metadata import load_metadata

    meta = load_metadata(setup["tmp"] / "bundle")
    assert meta.teacher == "cracksam-tiny-none" and "iou" in meta.validation_metrics
    assert meta.notes["distillation"] == ("cracksam teacher, soft loss CWD x5, T 3.0, warm-up 0 steps, on all items; labeled "
                                          "fraction 1.0, unlabeled images none (share 0.5); 1 steps x batch 2, seed "
                                          "None, data seed 0")
    assert main(["train", "--data", str(setup["data"]), "--out", str(out), "--student", "nonet"]) == 2
    assert "unknown student 'nonet'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--data", str(setup["data"]), "--out", str(out), "--val-basis", "test"])
    assert "--val-basis" in capsys.readouterr().err


def test_unlabeled_frames_of_an_edge_run_are_cached_and_distilled(setup, capsys):
    """An `edge run` folder: raw frames (NNNNNNNN_raw.jpg) beside annotated ones and sidecars. The teacher's
    logits are cached for the raw frames too; the student gets the soft loss on them."""
    import cv2

    from crackedge.data.logit_cache import LogitCache
    from crackedge.synth import generate_sample
    from teacher.cli import main as teacher_main

    run = setup["tmp"] / "drive" / "runs" / "20261130-101500"
    run.mkdir(parents=True)
    for i in range(3):
        image, _ = generate_sample(100 + i, (SIZE + 16, SIZE + 40))
        cv2.imwrite(str(run / f"{i:08d}_raw.jpg"), image[..., ::-1])
        cv2.imwrite(str(run / f"{i:08d}.jpg"), image[..., ::-1] // 2)  # annotated: must not be used
        (run / f"{i:08d}.json").write_text("{}")
    cache = setup["tmp"] / "cache_u"
    assert teacher_main(["cache-logits", str(setup["teacher"]), "--data", str(setup["data"]), "--out", str(cache),
                         "--unlabeled", str(run), "--variants", "2", "--val-split", "none", "--device", "cpu"]) == 0
    meta = LogitCache.open(cache).meta
    assert meta["unlabeled_images"] == 3 and len(meta["entries"]) == (4 + 3) * 2
    assert all(e["name"].endswith("_raw.jpg") for e in meta["entries"] if e["index"] >= 4)
    out = setup["tmp"] / "unl"
    assert main(["train", "--data", str(setup["data"]), "--teacher-cache", str(cache), "--unlabeled", str(run),
                 "--student", STUDENT, "--size", str(SIZE), "--steps", "2", "--batch-size", "4", "--unlabeled-share",
                 "0.5", "--warmup-steps", "1", "--eval-every", "2", "--device", "cpu", "--out", str(out)]) == 0
    ckpt = load_student_checkpoint(out / "best.pt")
    assert "4 labeled" in ckpt.training_data and "3 unlabeled images" in ckpt.training_data
    # unlabeled images without a teacher are a configuration error
    assert main(["train", "--data", str(setup["data"]), "--teacher", "none", "--unlabeled", str(run),
                 "--student", STUDENT, "--size", str(SIZE), "--steps", "1", "--out", str(out / "x")]) == 2
    assert "--unlabeled images have no masks: they need a teacher" in capsys.readouterr().err
