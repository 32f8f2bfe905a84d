"""Teacher checkpoints: delta (trainable weights + base SHA-256) and full round trips, load_teacher errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from crackedge.config import StrictModel  # noqa: E402
from crackedge.errors import ConfigError  # noqa: E402
from teacher.api import load_teacher, teacher_name  # noqa: E402
from teacher.checkpoints import TeacherCheckpointError, save_teacher_checkpoint  # noqa: E402
from teacher.models.cracksam import build_cracksam  # noqa: E402
from teacher.testing import save_sam_checkpoint  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def sam_file(tmp_path_factory):
    return save_sam_checkpoint(tmp_path_factory.mktemp("sam") / "sam_tiny.pth", "tiny", seed=0)


def _train_steps(model, steps: int = 3, size: int = 224):
    """A few optimiser steps on random data, so every trainable weight moves."""
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(steps):
        x = torch.randn(2, 3, size, size, generator=gen)
        y = (torch.rand(2, size, size, generator=gen) > 0.9).long()
        loss = torch.nn.functional.cross_entropy(model(x)["logits"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def _x(size: int = 224):
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("delta", ["adapter", "lora", "both"])
def test_delta_round_trip_reproduces_outputs_exactly(tmp_path, sam_file, delta):
    trained = _train_steps(build_cracksam("tiny", delta, sam_checkpoint=sam_file, img_size=224))
    path = save_teacher_checkpoint(tmp_path / "teacher.pt", trained, meta={"epoch": 3})
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["kind"] == "delta" and ckpt["teacher"] == f"cracksam-tiny-{delta}"
    assert ckpt["base"]["file"] == "sam_tiny.pth" and len(ckpt["base"]["sha256"]) == 64
    assert ckpt["config"]["model"] == "cracksam" and ckpt["meta"] == {"epoch": 3}
    trainable = {n for n, p in trained.named_parameters() if p.requires_grad}
    assert set(ckpt["state_dict"]) == trainable  # only the trainable weights
    assert not any(k.startswith("sam.image_encoder.patch_embed") for k in ckpt["state_dict"])

    loaded = load_teacher(path, sam_checkpoint=sam_file)
    assert not loaded.training and teacher_name(loaded) == f"cracksam-tiny-{delta}"
    with torch.no_grad():
        a, b = trained(_x()), loaded(_x())
    assert torch.equal(a["logits"], b["logits"]) and torch.equal(a["logits_low"], b["logits_low"])
    # the frozen encoder weights really come from the base file, not from random init
    assert torch.equal(loaded.sam.image_encoder.neck[0].weight, trained.sam.image_encoder.neck[0].weight)


def test_full_round_trip_for_a_model_trained_from_scratch(tmp_path):
    torch.manual_seed(0)
    trained = _train_steps(build_cracksam("tiny", "none", img_size=224, freeze_image_encoder=False))
    path = save_teacher_checkpoint(tmp_path / "full.pt", trained)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["kind"] == "full" and ckpt["base"] is None
    assert set(ckpt["state_dict"]) == set(trained.state_dict())
    torch.manual_seed(123)  # a different random init must not matter
    loaded = load_teacher(path)
    with torch.no_grad():
        assert torch.equal(trained(_x())["logits"], loaded(_x())["logits"])


def test_delta_of_a_random_init_model_is_refused(tmp_path):
    with pytest.raises(TeacherCheckpointError, match=r"random init.*kind='full'"):
        save_teacher_checkpoint(tmp_path / "x.pt", build_cracksam("tiny", "lora"), kind="delta")


def test_delta_without_or_with_wrong_base_is_a_clear_error(tmp_path, sam_file):
    model = build_cracksam("tiny", "lora", sam_checkpoint=sam_file, img_size=224)
    path = save_teacher_checkpoint(tmp_path / "teacher.pt", model)
    with pytest.raises(TeacherCheckpointError, match=r"delta checkpoint .*sam_tiny\.pth: pass --sam-checkpoint PATH/sam_tiny\.pth"):
        load_teacher(path)
    other = save_sam_checkpoint(tmp_path / "other.pth", "tiny", seed=1)
    with pytest.raises(TeacherCheckpointError, match=r"other\.pth \(sha256 [0-9a-f]{64}\) is not the base.*sam_tiny\.pth"):
        load_teacher(path, sam_checkpoint=other)
    with pytest.raises(TeacherCheckpointError, match=r"base weights not found: .*gone\.pth"):
        load_teacher(path, sam_checkpoint=tmp_path / "gone.pth")


def test_load_teacher_input_errors(tmp_path, sam_file):
    with pytest.raises(TeacherCheckpointError, match=r"teacher checkpoint not found: .*missing\.pt.*teacher train"):
        load_teacher(tmp_path / "missing.pt")
    with pytest.raises(TeacherCheckpointError, match=r"plain SAM state dict.*--sam-checkpoint"):
        load_teacher(sam_file)
    model = build_cracksam("tiny", "none", img_size=224)
    path = save_teacher_checkpoint(tmp_path / "t.pt", model)
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["model"] = "unet"
    torch.save(ckpt, tmp_path / "bad_model.pt")
    with pytest.raises(TeacherCheckpointError, match=r"config\.model: unknown teacher model 'unet'; valid names: cracksam"):
        load_teacher(tmp_path / "bad_model.pt")
    ckpt["config"]["model"] = "cracksam"
    ckpt["config"]["adapter"]["dimm"] = 3
    torch.save(ckpt, tmp_path / "bad_key.pt")
    with pytest.raises(ConfigError, match=r"adapter\.dimm: unknown key"):
        load_teacher(tmp_path / "bad_key.pt")
    ckpt["config"]["adapter"].pop("dimm")
    ckpt["state_dict"]["sam.extra"] = torch.zeros(1)
    torch.save(ckpt, tmp_path / "bad_weights.pt")
    with pytest.raises(TeacherCheckpointError, match=r"unexpected \['sam\.extra'\]"):
        load_teacher(tmp_path / "bad_weights.pt")


class ToyConfig(StrictModel):
    """A config without a `model` field, like PARNet's."""

    width: int = 4


class Toy(torch.nn.Module):
    teacher_name = "toy"

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv = torch.nn.Conv2d(3, 2, 1)


def build_toy(cfg: ToyConfig) -> Toy:
    return Toy(cfg)


def test_another_teacher_plugs_in_through_the_registry(tmp_path, monkeypatch):
    from teacher.models.registry import TEACHER_MODELS, TeacherEntry

    here = __name__
    monkeypatch.setitem(TEACHER_MODELS, "toy", TeacherEntry("toy", f"{here}:ToyConfig", f"{here}:build_toy"))
    model = build_toy(ToyConfig(width=7))
    path = save_teacher_checkpoint(tmp_path / "toy.pt", model)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["config"] == {"width": 7, "model": "toy"} and ckpt["kind"] == "full"
    loaded = load_teacher(path)
    assert isinstance(loaded, Toy) and loaded.cfg.width == 7 and teacher_name(loaded) == "toy"
    assert torch.equal(loaded.conv.weight, model.conv.weight)
    ckpt["kind"] = "delta"
    torch.save(ckpt, tmp_path / "toy_delta.pt")
    with pytest.raises(TeacherCheckpointError, match="toy has no delta checkpoints"):
        load_teacher(tmp_path / "toy_delta.pt")
