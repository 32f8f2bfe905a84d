import cv2
import numpy as np
import pytest

from crackedge.noise import NOISE_CASES, apply_noise


def _image():
    rng = np.random.default_rng(1)
    return rng.integers(60, 200, (64, 80, 3), dtype=np.uint8)


def test_dim_lowers_value_by_about_50_then_blurs():
    img = np.full((32, 32, 3), (120, 140, 160), np.uint8)
    out = apply_noise(img, "dim")
    v_in = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 2].mean()
    v_out = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)[..., 2].mean()
    assert v_in - v_out == pytest.approx(50, abs=2)
    # the blur step smooths texture: neighbouring-pixel differences shrink
    tex = _image()
    assert np.abs(np.diff(apply_noise(tex, "dim").astype(int), axis=1)).mean() < np.abs(np.diff(tex.astype(int), axis=1)).mean() / 2


def test_dim_clips_at_zero():
    out = apply_noise(np.full((16, 16, 3), 20, np.uint8), "dim")
    assert out.max() == 0


def test_blurry_keeps_size_and_removes_detail():
    img = _image()
    out = apply_noise(img, "blurry")
    assert out.shape == img.shape and out.dtype == np.uint8
    assert out.std() < img.std() / 3
    assert abs(float(out.mean()) - float(img.mean())) < 3


def test_clean_is_identity_and_unknown_case_names_choices():
    img = _image()
    assert np.array_equal(apply_noise(img, "clean"), img)
    assert NOISE_CASES == ("clean", "dim", "blurry")
    with pytest.raises(ValueError, match="valid cases: clean, dim, blurry"):
        apply_noise(img, "foggy")
