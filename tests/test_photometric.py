"""Photometric noise for the student's input (Noisy Student): pixel values only, seeded, training input only."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from crackedge.data.photometric import PhotometricParams, apply_photometric, photometric_params
from crackedge.data.torch_dataset import MixedSegDataset
from crackedge.synth import write_synthetic_dataset


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "ds", 4, 1, 1, (64, 80), seed=2, progress=False)


def _texture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, (48, 64, 3)).astype(np.uint8)


def test_params_are_seeded_and_p_only_switches_them_on():
    assert photometric_params(0, 3, 5, 0.0).is_identity
    on = photometric_params(0, 3, 5, 1.0)
    assert not on.is_identity and on == photometric_params(0, 3, 5, 1.0)
    assert on != photometric_params(0, 3, 6, 1.0)  # a new epoch noises afresh
    # p decides whether, not how: an item noised at p 0.999 gets the values it gets at p 1
    assert photometric_params(0, 3, 5, 0.999) == on
    share = np.mean([not photometric_params(1, i, 0, 0.3).is_identity for i in range(2000)])
    assert 0.26 < share < 0.34
    with pytest.raises(ValueError, match="must lie in"):
        photometric_params(0, 0, 0, 1.5)


def test_each_change_moves_the_pixels_the_documented_way():
    img = _texture()
    assert apply_photometric(img, PhotometricParams()) is img
    darker = apply_photometric(img, PhotometricParams(brightness=-40.0))
    assert darker.shape == img.shape and darker.dtype == np.uint8
    assert img.mean() - darker.mean() == pytest.approx(40.0, abs=1.0)
    flat = apply_photometric(img, PhotometricParams(contrast=0.5))
    assert flat.std() == pytest.approx(img.std() * 0.5, rel=0.05)
    assert apply_photometric(img, PhotometricParams(gamma=1.4)).mean() < img.mean()
    blurred = apply_photometric(img, PhotometricParams(blur_sigma=2.0))
    sharpness = lambda x: cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert sharpness(blurred) < 0.2 * sharpness(img)
    grey = np.full((32, 32, 3), 128, np.uint8)
    noisy = apply_photometric(grey, PhotometricParams(noise_sigma=6.0), noise_key=(0, 1, 2))
    assert noisy.astype(float).std() == pytest.approx(6.0, rel=0.1)
    assert np.array_equal(noisy, apply_photometric(grey, PhotometricParams(noise_sigma=6.0), noise_key=(0, 1, 2)))
    washed = apply_photometric(img, PhotometricParams(saturation=0.0))
    assert np.abs(washed.astype(int) - washed.mean(axis=2, keepdims=True)).max() <= 2  # grey: R = G = B


def test_the_dataset_noises_the_training_input_only(synth):
    clean = MixedSegDataset(synth, "train", (48, 48), augment=True, seed=1, variants=2)
    noised = MixedSegDataset(synth, "train", (48, 48), augment=True, seed=1, variants=2, photometric=1.0)
    for ds in (clean, noised):
        ds.set_epoch(0)
    a, b = clean[1], noised[1]
    assert not torch.equal(a["image"], b["image"])
    assert torch.equal(a["mask"], b["mask"]) and a["variant"] == b["variant"]
    # what `teacher cache-logits` reads (load) is the clean view: cached logits stay aligned
    assert all(np.array_equal(x, y) for x, y in zip(clean.load(1, 0), noised.load(1, 0)))
    again = noised[1]["image"]
    noised.set_epoch(2)  # the same cached view (2 % 2 == 0), noised afresh
    later = noised[1]
    assert torch.equal(again, b["image"]) and later["variant"] == 0 and not torch.equal(later["image"], b["image"])
    assert "image_clean" not in b  # a cached teacher needs no clean copy
    noised.keep_clean = True  # a teacher run live does
    b = noised[1]
    assert torch.equal(b["image_clean"], a["image"]) and "image_clean" not in a  # the clean view travels along
    with pytest.raises(ValueError, match=r"photometric must lie in \[0, 1\], got 2"):
        MixedSegDataset(synth, "train", (48, 48), photometric=2.0)


def test_a_teacher_run_live_sees_the_clean_views_not_the_student_noise():
    from distill.teacher_source import LiveTeacher

    seen = []

    class Echo(torch.nn.Module):
        def forward(self, x):
            seen.append(x)
            return {"logits": torch.cat([-x[:, :1], x[:, :1]], dim=1)}

    teacher = LiveTeacher.__new__(LiveTeacher)
    teacher.model, teacher.device, teacher.amp, teacher.name = Echo(), torch.device("cpu"), False, "parnet"
    import teacher.inference as inference

    noised, clean = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    original = inference.run_teacher
    inference.run_teacher = lambda model, images, device, amp: model(images)
    try:
        teacher.logits({"image_clean": clean}, noised)
        teacher.logits({}, noised)
    finally:
        inference.run_teacher = original
    assert torch.equal(seen[0], clean) and torch.equal(seen[1], noised)


def test_the_option_reaches_the_config_and_a_bad_value_names_its_key(tmp_path):
    from crackedge.config import parse_config
    from crackedge.errors import ConfigError
    from distill.cli import build_parser
    from distill.cli_train import train_config_from_args
    from distill.train_config import DistillTrainConfig

    args = build_parser().parse_args(["train", "--data", "d", "--out", str(tmp_path), "--photometric", "0.5"])
    assert train_config_from_args(args).data.photometric == 0.5
    assert parse_config({"data": {"root": "d"}}, DistillTrainConfig).data.photometric == 0.0  # off unless asked
    with pytest.raises(ConfigError, match="data.photometric"):
        parse_config({"data": {"root": "d", "photometric": 1.5}}, DistillTrainConfig, "run.yaml")
