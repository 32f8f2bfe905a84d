"""Golden values for PARNet's deeply supervised loss on a 1 x 1 x 2 example computed by hand."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from teacher.losses_parnet import (  # noqa: E402
    ParnetLossConfig,
    crack_margin,
    output_loss,
    parnet_loss,
    parnet_loss_terms,
)

LN2 = math.log(2.0)
LN3 = math.log(3.0)


def two_channel(z_values, background=0.0):
    """Crack logits z (one row of W pixels) -> 1 x 2 x 1 x W logits (background, background + z)."""
    z = torch.tensor(z_values, dtype=torch.float64).view(1, 1, 1, -1)
    return torch.cat([torch.full_like(z, background), z + background], dim=1)


TARGET = torch.tensor([[[1, 0]]])  # N=1, H=1, W=2: a crack pixel, then a background pixel


def test_single_output_bce_by_hand():
    # z = (0, ln 3): BCE = ln(1 + e^0) = ln 2 for the crack pixel, ln(1 + e^{ln 3}) = ln 4 for the background
    cfg = ParnetLossConfig()
    assert output_loss(two_channel([0.0, LN3]), TARGET, cfg).item() == pytest.approx(1.5 * LN2, rel=1e-9)
    # only the margin matters: adding the same background logit to both channels changes nothing
    assert output_loss(two_channel([0.0, LN3], background=2.5), TARGET, cfg).item() == pytest.approx(1.5 * LN2)


def test_pos_weight_and_dice_by_hand():
    logits = two_channel([0.0, LN3])
    # crack pixel weighted 3: (3 ln 2 + ln 4) / 2 = 2.5 ln 2
    assert output_loss(logits, TARGET, ParnetLossConfig(pos_weight=3.0)).item() == pytest.approx(2.5 * LN2)
    # p = (0.5, 0.75), t = (1, 0): Dice = 1 - (2*0.5 + 1) / (1.25 + 1 + 1) = 5/13
    cfg = ParnetLossConfig(dice_weight=2.0)
    assert output_loss(logits, TARGET, cfg).item() == pytest.approx(1.5 * LN2 + 2.0 * 5.0 / 13.0)


def test_deep_supervision_weights_by_hand():
    output = {"logits": two_channel([0.0, LN3]), "aux": [two_channel([0.0, 0.0]) for _ in range(4)]}
    cfg = ParnetLossConfig(side_weights=(1.0, 0.5, 0.25, 0.0), fuse_weight=2.0)
    terms = parnet_loss_terms(output, TARGET, cfg)
    # fused: 2 * 1.5 ln 2; each side (z = 0 everywhere) has BCE ln 2, weighted 1 + 0.5 + 0.25 + 0
    assert terms["fuse"].item() == pytest.approx(3.0 * LN2)
    assert [terms[f"side{k}"].item() for k in range(1, 5)] == pytest.approx([LN2, 0.5 * LN2, 0.25 * LN2, 0.0])
    assert terms["total"].item() == pytest.approx(4.75 * LN2)
    assert parnet_loss(output, TARGET, cfg).item() == pytest.approx(4.75 * LN2)
    # defaults: all weights 1 -> 1.5 ln 2 + 4 ln 2
    assert parnet_loss(output, TARGET).item() == pytest.approx(5.5 * LN2)


def test_bce_on_margin_equals_two_way_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 5, 7)
    target = (torch.rand(2, 5, 7) > 0.7).long()
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert output_loss(logits, target, ParnetLossConfig()).item() == pytest.approx(ce.item(), rel=1e-5)


def test_loss_gradients_reach_every_output():
    output = {"logits": two_channel([0.3, -0.2]).requires_grad_(), "aux": [two_channel([0.1, 0.4]).requires_grad_() for _ in range(4)]}
    parnet_loss(output, TARGET).backward()
    assert output["logits"].grad.abs().sum() > 0
    assert all(a.grad.abs().sum() > 0 for a in output["aux"])


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"output\['aux'\].*no 'aux'.*model.train\(\)"):
        parnet_loss({"logits": two_channel([0.0, 0.0])}, TARGET)
    with pytest.raises(ValueError, match="got 3 aux outputs"):
        parnet_loss({"logits": two_channel([0.0, 0.0]), "aux": [two_channel([0.0, 0.0])] * 3}, TARGET)
    with pytest.raises(ValueError, match=r"logits \(1, 2, 1, 2\) and target \(1, 1, 3\) do not match"):
        output_loss(two_channel([0.0, 0.0]), torch.zeros(1, 1, 3, dtype=torch.long), ParnetLossConfig())
    with pytest.raises(ValueError, match=r"N x 2 x H x W logits, got shape \(1, 3, 1, 2\)"):
        crack_margin(torch.zeros(1, 3, 1, 2))


def test_ce_dice_kind_uses_the_project_hard_loss_per_output():
    from crackedge.training.losses import ce_dice_loss

    torch.manual_seed(0)
    target = (torch.rand(2, 6, 6) > 0.8).long()
    output = {"logits": torch.randn(2, 2, 6, 6), "aux": [torch.randn(2, 2, 6, 6) for _ in range(4)]}
    cfg = ParnetLossConfig(kind="ce_dice", side_weights=(0.5, 0.75, 1.0, 0.75))
    expected = ce_dice_loss(output["logits"], target) + sum(
        w * ce_dice_loss(a, target) for w, a in zip(cfg.side_weights, output["aux"])
    )
    assert parnet_loss(output, target, cfg).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="pos_weight and dice_weight apply to kind 'bce' only"):
        ParnetLossConfig(kind="ce_dice", pos_weight=10.0)


@pytest.mark.parametrize("kind", ["bce", "ce_dice"])
def test_half_precision_outputs_are_scored_in_float32(kind):
    """Under autocast the model's logits are bf16; every term is computed from their float32 copy."""
    gen = torch.Generator().manual_seed(3)
    full = {"logits": torch.randn(2, 2, 16, 16, generator=gen), "aux": [torch.randn(2, 2, 16, 16, generator=gen) for _ in range(4)]}
    half = {"logits": full["logits"].bfloat16(), "aux": [a.bfloat16() for a in full["aux"]]}
    rounded = {"logits": half["logits"].float(), "aux": [a.float() for a in half["aux"]]}
    target = (torch.rand(2, 16, 16, generator=gen) > 0.8).long()
    cfg = ParnetLossConfig(kind=kind)
    got = parnet_loss(half, target, cfg)
    assert got.dtype == torch.float32
    assert torch.equal(got, parnet_loss(rounded, target, cfg))
