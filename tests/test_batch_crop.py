"""Random crops of a training batch keep image, mask and teacher logits aligned; a too-large crop is refused."""

from __future__ import annotations

import pytest
import torch

from crackedge.errors import ConfigError
from crackedge.training.batch_crop import crop_offsets, random_crop


def test_image_mask_and_logits_are_cut_from_the_same_window_and_repeat_per_step():
    n, h, w, crop = 5, 12, 10, 4
    position = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w).repeat(n, 1, 1, 1)  # a pixel's address
    image = position.repeat(1, 3, 1, 1)
    mask = position[:, 0].long()
    logits = torch.cat([-position, position], dim=1)
    x, y, t = random_crop([image, mask, logits], crop, seed=3, step=11)
    assert x.shape == (n, 3, crop, crop) and y.shape == (n, crop, crop) and t.shape == (n, 2, crop, crop)
    assert torch.equal(x[:, 0].long(), y) and torch.equal(t[:, 1].long(), y)
    for i, (top, left) in enumerate(crop_offsets(n, h, w, crop, 3, 11)):
        assert y[i, 0, 0].item() == top * w + left  # the window's corner is where the offsets say
        assert torch.equal(y[i], mask[i, top:top + crop, left:left + crop])  # whole rows and columns, no resampling
    again = random_crop([image, mask, None], crop, seed=3, step=11)
    assert torch.equal(again[1], y) and again[2] is None
    corners = {o for step in range(200) for o in crop_offsets(n, h, w, crop, 3, step)}
    assert {t for t, _ in corners} == set(range(h - crop + 1)) and {x for _, x in corners} == set(range(w - crop + 1))


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_logits_cached_at_another_resolution_are_cut_from_the_same_region(factor):
    n, side, crop = 4, 64, 32
    t_side = int(side * factor)
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    image = (yy * 1000 + xx).float().expand(n, 3, side, side)  # a pixel's address
    ty, tx = torch.meshgrid(torch.arange(t_side), torch.arange(t_side), indexing="ij")
    logits = (ty.float() / factor * 1000 + tx.float() / factor).expand(n, 2, t_side, t_side)  # the address it stands for
    for step in range(20):
        x, t = random_crop([image, logits], crop, seed=1, step=step)
        assert x.shape == (n, 3, crop, crop) and t.shape == (n, 2, int(crop * factor), int(crop * factor))
        assert torch.equal(x[:, 0, 0, 0], t[:, 0, 0, 0])  # the same corner of the view
        span = (t.shape[-1] - 1) / factor  # input pixels between the first and last logit of the window
        assert torch.allclose(t[:, 0, -1, -1], x[:, 0, 0, 0] + span * 1001)  # and the same far corner
    if factor < 1:  # corners on every 2nd pixel, so that the half-size window starts on a whole pixel
        assert all(y % 2 == 0 and x % 2 == 0 for y, x in crop_offsets(n, side, side, crop, 1, 3, (2, 2)))


def test_a_size_ratio_without_a_whole_window_is_refused_before_training():
    from crackedge.training.batch_crop import check_crop_scales

    check_crop_scales(160, (256, 256), (512, 512))
    check_crop_scales(None, (256, 256), (300, 300))
    with pytest.raises(ConfigError, match=r"--crop 160: .* 256x256 input is not a whole window of the 100x100 teacher"):
        check_crop_scales(160, (256, 256), (100, 100))


def test_a_crop_of_the_whole_input_changes_nothing_and_a_larger_one_is_refused():
    x = torch.rand(2, 3, 8, 8)
    assert random_crop([x], 8, seed=0, step=0)[0] is x
    with pytest.raises(ValueError, match="crop 16 is larger than the 8x8"):
        random_crop([x], 16, seed=0, step=0)


def test_distill_train_names_the_option_when_the_crop_exceeds_the_input(tmp_path):
    from distill.train_config import DistillTrainConfig, check_crop

    cfg = DistillTrainConfig.model_validate({"data": {"root": str(tmp_path), "crop": 320}, "student": {"size": 256}})
    with pytest.raises(ConfigError, match=r"--crop 320 is larger than the training input --size 256"):
        check_crop(cfg, 256)
    check_crop(cfg.model_copy(update={"data": cfg.data.model_copy(update={"crop": 256})}), 256)
    with pytest.raises(Exception, match="multiple of 32"):
        DistillTrainConfig.model_validate({"data": {"root": str(tmp_path), "crop": 100}})
