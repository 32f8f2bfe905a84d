"""Student checkpoints: round trip, self-description, clear errors."""

from __future__ import annotations

import pytest
import torch

from distill.checkpoints import (
    StudentCheckpoint,
    build_from_checkpoint,
    load_student_checkpoint,
    save_student_checkpoint,
)
from distill.errors import CheckpointError
from distill.students import build_student

torch.set_num_threads(2)


def _checkpoint(name: str = "mobilenetv3_large_100", **kw) -> tuple[torch.nn.Module, StudentCheckpoint]:
    model = build_student(name)
    return model, StudentCheckpoint(
        student=name,
        model=model.state_dict(),
        config={"lr": 1e-3, "size": [448, 448]},
        training_data="synthetic:seed0",
        teacher="cracksam-vit_b-adapter",
        validation_metrics={"iou": 0.5, "f1": 0.6},
        step=10,
        epoch=2,
        **kw,
    )


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model, ckpt = _checkpoint()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ckpt.optimizer = optim.state_dict()
    path = save_student_checkpoint(tmp_path / "best.pt", ckpt)
    back = load_student_checkpoint(path)
    assert (back.student, back.teacher, back.training_data) == ("mobilenetv3_large_100", "cracksam-vit_b-adapter", "synthetic:seed0")
    assert back.validation_metrics == {"iou": 0.5, "f1": 0.6}
    assert (back.step, back.epoch) == (10, 2)
    assert back.config["size"] == [448, 448]
    assert back.optimizer is not None
    rebuilt = build_from_checkpoint(back)
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_missing_checkpoint_says_what_to_pass(tmp_path):
    with pytest.raises(CheckpointError, match="not found.*distill train"):
        load_student_checkpoint(tmp_path / "none.pt")


def test_bare_state_dict_is_rejected_with_a_reason(tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(build_student("mobilenetv3_large_100").state_dict(), path)
    with pytest.raises(CheckpointError, match="not a student checkpoint.*missing keys"):
        load_student_checkpoint(path)


def test_garbage_file_is_rejected(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_student_checkpoint(path)


def test_weights_of_another_student_are_named(tmp_path):
    _, ckpt = _checkpoint()
    ckpt.student = "hrnet_w18_small_v2"
    with pytest.raises(CheckpointError, match="do not fit student 'hrnet_w18_small_v2'"):
        build_from_checkpoint(ckpt, "x.pt")


def test_unknown_student_in_checkpoint(tmp_path):
    _, ckpt = _checkpoint()
    ckpt.student = "nonet"
    with pytest.raises(ValueError, match="unknown student 'nonet'"):
        build_from_checkpoint(ckpt)
