"""Distillation losses: CWD (golden values, invariances, precision), pixel-wise KL, labeled and unlabeled items, warm-up."""

from __future__ import annotations

import math

import pytest
import torch

from distill.losses import cwd_loss

torch.set_num_threads(2)

# N=1, C=2, H*W=4 (a 2x2 map per channel).
TEACHER = [[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 4.0]]
STUDENT = [[4.0, 3.0, 2.0, 1.0], [0.0, 1.0, 0.0, 1.0]]


def _as_map(values: list[list[float]]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(1, 2, 2, 2)


def _kl_by_hand(t: list[float], s: list[float], temp: float) -> float:
    """KL(softmax(t/T) || softmax(s/T)) over the positions, with plain python math."""
    et = [math.exp(v / temp) for v in t]
    es = [math.exp(v / temp) for v in s]
    pt = [e / sum(et) for e in et]
    ps = [e / sum(es) for e in es]
    return sum(p * math.log(p / q) for p, q in zip(pt, ps))


@pytest.mark.parametrize("temp, golden", [(1.0, 1.3823036001510798), (3.0, 1.9328884244323974)])
def test_golden_value_against_a_hand_computed_example(temp, golden):
    by_hand = temp**2 * sum(_kl_by_hand(t, s, temp) for t, s in zip(TEACHER, STUDENT)) / 2
    assert by_hand == pytest.approx(golden, rel=1e-12)
    got = cwd_loss(_as_map(STUDENT), _as_map(TEACHER), temperature=temp)
    assert got.dtype == torch.float32 and got.ndim == 0
    assert got.item() == pytest.approx(golden, rel=1e-5)


def test_default_temperature_is_three():
    assert cwd_loss(_as_map(STUDENT), _as_map(TEACHER)).item() == pytest.approx(1.9328884244323974, rel=1e-5)


def test_zero_when_student_equals_teacher():
    z = torch.randn(2, 2, 16, 16) * 4
    assert abs(cwd_loss(z.clone(), z).item()) < 1e-6


def test_positive_when_they_differ():
    g = torch.Generator().manual_seed(0)
    assert cwd_loss(torch.randn(2, 2, 8, 8, generator=g), torch.randn(2, 2, 8, 8, generator=g)).item() > 1e-3


def test_t_squared_scaling():
    # softmax(T*z / T) = softmax(z): scaling both logit maps by T leaves the distributions as at T=1,
    # so the loss is exactly T^2 times the T=1 loss.
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(2, 2, 8, 8, generator=g), torch.randn(2, 2, 8, 8, generator=g)
    for temp in (2.0, 3.0, 5.0):
        assert cwd_loss(s * temp, t * temp, temp).item() == pytest.approx(temp**2 * cwd_loss(s, t, 1.0).item(), rel=1e-5)


def test_invariant_to_a_per_channel_constant():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(3, 2, 8, 8, generator=g), torch.randn(3, 2, 8, 8, generator=g)
    shift_s = torch.tensor([5.0, -7.0]).view(1, 2, 1, 1)
    shift_t = torch.tensor([-3.0, 11.0]).view(1, 2, 1, 1)
    assert cwd_loss(s + shift_s, t + shift_t).item() == pytest.approx(cwd_loss(s, t).item(), rel=1e-5)


def test_student_is_upsampled_bilinearly_to_the_teacher_resolution():
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(1, 2, 4, 4, generator=g), torch.randn(1, 2, 16, 16, generator=g)
    up = torch.nn.functional.interpolate(s, size=(16, 16), mode="bilinear", align_corners=False)
    assert cwd_loss(s, t).item() == pytest.approx(cwd_loss(up, t).item(), rel=1e-6)


def test_finite_where_a_softmax_then_log_would_underflow():
    # The student puts -1000 where the teacher has mass: softmax() underflows to 0 and log(0) = -inf,
    # log_softmax stays finite: KL = sum_i p_t(i) (log p_t(i) - log p_s(i)) with log p_s = s/T - logsumexp(s/T).
    t = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]]]]).repeat(1, 2, 1, 1)
    s = torch.tensor([[[[-1000.0, 0.0], [0.0, 0.0]]]]).repeat(1, 2, 1, 1)
    naive = (torch.softmax(s.flatten(2), -1)).log()
    assert torch.isinf(naive).any()
    log_ps0 = -1000.0 - math.log(math.exp(-1000.0) + 3.0)  # = -1000 - log(3) in double precision
    log_ps_rest = -math.log(3.0)
    expected = 0.25 * ((math.log(0.25) - log_ps0) + 3 * (math.log(0.25) - log_ps_rest))  # T = 1, per channel
    got = cwd_loss(s, t, temperature=1.0)
    assert math.isfinite(got.item())
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_float32_under_autocast_and_half_inputs():
    g = torch.Generator().manual_seed(4)
    s, t = torch.randn(1, 2, 32, 32, generator=g) * 10, torch.randn(1, 2, 64, 64, generator=g) * 10
    ref = cwd_loss(s, t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = cwd_loss(s, t)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)
    half = cwd_loss(s.bfloat16(), t.bfloat16())
    assert half.dtype == torch.float32 and math.isfinite(half.item())


def test_gradient_reaches_the_student_only():
    s = torch.randn(1, 2, 4, 4, requires_grad=True)
    t = torch.randn(1, 2, 8, 8, requires_grad=True)
    cwd_loss(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def test_mismatched_channels_are_rejected():
    with pytest.raises(ValueError, match="channels"):
        cwd_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4))


def test_total_loss_is_hard_plus_weighted_cwd():
    from crackedge.training.losses import ce_dice_loss
    from distill.losses import distillation_loss

    g = torch.Generator().manual_seed(5)
    student = torch.randn(2, 2, 8, 8, generator=g, requires_grad=True)
    teacher = torch.randn(2, 2, 32, 32, generator=g)
    target = (torch.rand(2, 32, 32, generator=g) > 0.8).long()
    up = torch.nn.functional.interpolate(student, size=(32, 32), mode="bilinear", align_corners=False)
    hard = ce_dice_loss(up, target)
    out = distillation_loss(student, target, teacher)  # defaults: weight 5, T 3
    assert out["hard"].item() == pytest.approx(hard.item(), rel=1e-6)
    assert out["cwd"].item() == pytest.approx(cwd_loss(student, teacher, 3.0).item(), rel=1e-6)
    assert out["loss"].item() == pytest.approx(hard.item() + 5.0 * out["cwd"].item(), rel=1e-6)
    out["loss"].backward()
    assert student.grad is not None

    alone = distillation_loss(student, target, None)
    assert alone["cwd"].item() == 0.0 and alone["loss"].item() == pytest.approx(hard.item(), rel=1e-6)


def test_pixel_kl_matches_hand_computed_values():
    """KL(teacher || student) of the 2-class softmax at each pixel, averaged over pixels, times T^2."""
    import math

    from distill.losses import kl_per_sample

    s = torch.tensor([[[[0.0, 1.0]], [[1.0, -1.0]]]])  # 1 x 2 x 1 x 2: two pixels
    t = torch.tensor([[[[2.0, 0.0]], [[0.0, 0.0]]]])
    for temp in (1.0, 2.0):
        want = 0.0
        for i in range(2):
            zs = [float(s[0, c, 0, i]) / temp for c in range(2)]
            zt = [float(t[0, c, 0, i]) / temp for c in range(2)]
            ps = [math.exp(z) / sum(math.exp(v) for v in zs) for z in zs]
            pt = [math.exp(z) / sum(math.exp(v) for v in zt) for z in zt]
            want += sum(p * (math.log(p) - math.log(q)) for p, q in zip(pt, ps))
        want = want / 2 * temp**2
        assert kl_per_sample(s, t, temp).item() == pytest.approx(want, rel=1e-5)
    assert kl_per_sample(t.clone(), t).abs().max().item() < 1e-6


def test_unlabeled_items_get_the_soft_loss_only():
    from crackedge.training.losses import ce_dice_loss
    from distill.losses import distillation_loss, kl_per_sample

    g = torch.Generator().manual_seed(2)
    student = torch.randn(3, 2, 8, 8, generator=g)
    teacher = torch.randn(3, 2, 16, 16, generator=g)
    target = (torch.rand(3, 16, 16, generator=g) > 0.8).long()
    labeled = torch.tensor([True, False, True])
    out = distillation_loss(student, target, teacher, kind="kl", kl_weight=2.0, labeled=labeled)
    up = torch.nn.functional.interpolate(student[labeled], size=(16, 16), mode="bilinear", align_corners=False)
    assert out["hard"].item() == pytest.approx(ce_dice_loss(up, target[labeled]).item(), rel=1e-6)
    assert out["kl"].item() == pytest.approx(kl_per_sample(student, teacher, 3.0).mean().item(), rel=1e-6)
    assert out["cwd"].item() == 0.0
    assert out["loss"].item() == pytest.approx(out["hard"].item() + 2.0 * out["kl"].item(), rel=1e-6)
    # a batch without labels: soft only
    none = distillation_loss(student, target, teacher, kind="kl", labeled=torch.zeros(3, dtype=torch.bool))
    assert none["hard"].item() == 0.0 and none["loss"].item() == pytest.approx(none["kl"].item(), rel=1e-6)
    # both soft losses, and the warm-up factor scales only the soft part
    both = distillation_loss(student, target, teacher, kind="cwd+kl", soft_factor=0.25)
    assert both["cwd"].item() > 0 and both["kl"].item() > 0
    soft = 5.0 * both["cwd"].item() + 1.0 * both["kl"].item()
    assert both["loss"].item() == pytest.approx(both["hard"].item() + 0.25 * soft, rel=1e-6)
    with pytest.raises(ValueError, match="unknown soft loss 'mse'"):
        distillation_loss(student, target, teacher, kind="mse")


def test_soft_on_unlabeled_leaves_labeled_items_to_their_masks():
    from distill.losses import distillation_loss, kl_per_sample

    g = torch.Generator().manual_seed(3)
    student = torch.randn(3, 2, 8, 8, generator=g)
    teacher = torch.randn(3, 2, 8, 8, generator=g)
    target = (torch.rand(3, 8, 8, generator=g) > 0.8).long()
    labeled = torch.tensor([True, False, True])
    out = distillation_loss(student, target, teacher, kind="kl", labeled=labeled, soft_on="unlabeled")
    assert out["kl"].item() == pytest.approx(kl_per_sample(student[1:2], teacher[1:2], 3.0).item(), rel=1e-6)
    everything = distillation_loss(student, target, teacher, kind="kl", labeled=labeled)
    assert out["hard"].item() == pytest.approx(everything["hard"].item(), rel=1e-6)
    assert out["kl"].item() != pytest.approx(everything["kl"].item(), rel=1e-3)
    # an all-labeled batch has no soft term at all; no labels given means all labeled
    for lab in (torch.ones(3, dtype=torch.bool), None):
        none = distillation_loss(student, target, teacher, kind="cwd", labeled=lab, soft_on="unlabeled")
        assert none["cwd"].item() == 0.0 and none["loss"].item() == pytest.approx(none["hard"].item(), rel=1e-6)
    # the gradient of a labeled item comes from its mask only
    lab = torch.tensor([False, False, True])
    grads = []
    for t in (teacher, None):  # with the teacher (soft on items 0, 1) and hard loss only
        s = student.clone().requires_grad_(True)
        distillation_loss(s, target, t, kind="kl", labeled=lab, soft_on="unlabeled")["loss"].backward()
        grads.append(s.grad)
    assert torch.allclose(grads[0][2], grads[1][2]) and grads[0][0].abs().sum() > 0 == grads[1][0].abs().sum()
    with pytest.raises(ValueError, match="soft_on must be"):
        distillation_loss(student, target, teacher, soft_on="labeled")


def test_soft_weight_ramps_linearly_over_the_warm_up():
    from distill.losses import soft_weight_at

    assert [soft_weight_at(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert soft_weight_at(0, 0) == 1.0


def test_pseudo_label_loss_is_the_hard_loss_against_the_teachers_mask():
    from crackedge.training.losses import ce_dice_loss
    from distill.losses import pseudo_label_loss

    g = torch.Generator().manual_seed(4)
    teacher = torch.randn(2, 2, 16, 16, generator=g) * 4
    student = torch.randn(2, 2, 8, 8, generator=g)
    up = torch.nn.functional.interpolate(student, size=(16, 16), mode="bilinear", align_corners=False)
    want = ce_dice_loss(up, teacher.argmax(dim=1)).item()
    assert pseudo_label_loss(student, teacher).item() == pytest.approx(want, rel=1e-6)
    # a student that agrees with the teacher's mask scores far lower than one that inverts it
    agree = pseudo_label_loss(teacher * 3, teacher).item()
    invert = pseudo_label_loss(-teacher * 3, teacher).item()
    assert agree < 0.1 < 0.9 < invert
    # only the teacher's argmax counts: scaling its logits changes nothing
    assert pseudo_label_loss(student, teacher * 10).item() == pytest.approx(want, rel=1e-6)
    s = student.clone().requires_grad_(True)
    t = teacher.clone().requires_grad_(True)
    pseudo_label_loss(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and t.grad is None


def test_kl_plus_pseudo_adds_both_terms_with_their_weights():
    from distill.losses import distillation_loss, kl_per_sample, pseudo_label_loss

    g = torch.Generator().manual_seed(5)
    student = torch.randn(3, 2, 8, 8, generator=g)
    teacher = torch.randn(3, 2, 16, 16, generator=g)
    target = (torch.rand(3, 16, 16, generator=g) > 0.8).long()
    labeled = torch.tensor([True, False, False])
    out = distillation_loss(student, target, teacher, kind="kl+pseudo", temperature=1.0, kl_weight=0.5,
                            labeled=labeled, soft_factor=0.5, soft_on="unlabeled", pseudo_weight=2.0)
    rest = torch.tensor([False, True, True])
    assert out["pseudo"].item() == pytest.approx(pseudo_label_loss(student[rest], teacher[rest]).item(), rel=1e-6)
    assert out["kl"].item() == pytest.approx(kl_per_sample(student[rest], teacher[rest], 1.0).mean().item(), rel=1e-6)
    soft = 0.5 * out["kl"].item() + 2.0 * out["pseudo"].item()
    assert out["loss"].item() == pytest.approx(out["hard"].item() + 0.5 * soft, rel=1e-6)
    kl_only = distillation_loss(student, target, teacher, kind="kl", labeled=labeled)
    assert kl_only["pseudo"].item() == 0.0


def test_soft_loss_names_and_their_description():
    from crackedge.errors import ConfigError
    from distill.train_config import DistillTrainConfig, check_train_config, soft_loss_text, soft_terms

    assert soft_terms("kl+pseudo") == ("kl", "pseudo")
    with pytest.raises(ValueError, match="unknown soft loss 'kl\\+mse'; its terms are cwd, kl, pseudo"):
        soft_terms("kl+mse")
    assert soft_loss_text({"soft": "kl+pseudo", "kl_weight": 0.5, "pseudo_weight": 1.0}) == "KL x0.5 + pseudo-label x1"
    assert soft_loss_text({"soft": "cwd"}) == "CWD x5"
    cfg = DistillTrainConfig.model_validate({"data": {"root": "d"}, "teacher": {"kind": "parnet", "cache": "c"},
                                             "loss": {"soft": "pseudo", "pseudo_weight": 0}})
    with pytest.raises(ConfigError, match="the soft loss pseudo has weight 0"):
        check_train_config(cfg)
