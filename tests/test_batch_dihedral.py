"""On-the-fly symmetries of a training batch keep image, mask and teacher logits aligned."""

from __future__ import annotations

import torch

from crackedge.training.batch_dihedral import dihedral_codes, random_dihedral


def test_image_mask_and_logits_move_together_and_repeat_per_step():
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(6, 8, 8, generator=g) > 0.7).long()
    image = mask[:, None].float().repeat(1, 3, 1, 1) * 2 - 1  # the image shows the mask
    logits = torch.stack([-mask.float(), mask.float()], dim=1)  # and so does the teacher
    x, y, t = random_dihedral([image, mask, logits], seed=3, step=11)
    assert torch.equal(x[:, 0], y.float() * 2 - 1) and torch.equal(t[:, 1], y.float())
    assert sorted(y.flatten().tolist()) == sorted(mask.flatten().tolist())  # pixels moved, none made up
    again = random_dihedral([image, mask, None], seed=3, step=11)
    assert torch.equal(again[1], y) and again[2] is None
    codes = {c for step in range(40) for c in dihedral_codes(6, 3, step)}
    assert len(codes) == 8  # every symmetry occurs


def test_non_square_inputs_are_only_flipped_or_half_turned():
    codes = {c for step in range(40) for c in dihedral_codes(4, 0, step, square=False)}
    assert {k for k, _ in codes} == {0, 2}
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 1, 3, 5)
    (out,) = random_dihedral([x], seed=1, step=2)
    assert out.shape == x.shape
