"""PARNet building blocks: DFA, RFF, residual stage, decoder stage, side fusion, CNN encoder."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from teacher.models.parnet_blocks import (  # noqa: E402
    DFA,
    RFF,
    DecoderStage,
    ResidualStage,
    SideFusion,
    two_channel_logits,
)
from teacher.models.parnet_cnn import DeepCrackEncoder  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_dfa_aligns_grid_and_width():
    dfa = DFA(swin_ch=24, cnn_ch=16, out_ch=12, se_reduction=4)
    swin = torch.randn(2, 24, 5, 7)  # a coarser grid than the CNN map: resized inside
    cnn = torch.randn(2, 16, 10, 14)
    out = dfa(swin, cnn)
    assert out.shape == (2, 12, 10, 14)
    assert dfa.last_mask.shape == (2, 1, 10, 14)
    assert ((dfa.last_mask > 0) & (dfa.last_mask < 1)).all()
    assert dfa.last_channel_weights.shape == (2, 12, 1, 1)
    assert ((dfa.last_channel_weights > 0) & (dfa.last_channel_weights < 1)).all()


def test_dfa_mask_gates_the_swin_feature():
    """With the mask forced to ~0, the masked conv sees nothing of the Swin feature."""
    dfa = DFA(swin_ch=8, cnn_ch=8, out_ch=8, se_reduction=2).eval()
    with torch.no_grad():
        last = dfa.mask[-1]
        last.weight.zero_()
        last.bias.fill_(-100.0)  # sigmoid(-100) ~ 0
        a = dfa(torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6))
        b = dfa(torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6))
    assert torch.allclose(a, b, atol=1e-6)  # output independent of the inputs once everything is masked


def test_rff_shape_and_residual_to_cnn_branch():
    rff = RFF(cnn_ch=16, aligned_ch=12, fusion_ch=8).eval()
    cnn = torch.randn(2, 16, 9, 11)
    aligned = torch.randn(2, 12, 9, 11)
    assert rff(cnn, aligned).shape == (2, 16, 9, 11)
    with torch.no_grad():
        rff.refine[0].weight.zero_()  # no correction -> out = ReLU(cnn + BN(0)) with eval-mode BN of zero
        rff.refine[1].running_mean.zero_()
        rff.refine[1].bias.zero_()
        out = rff(cnn, aligned)
    assert torch.allclose(out, torch.relu(cnn), atol=1e-6)


def test_residual_stage_shapes_and_shortcuts():
    same = ResidualStage(8, 8, n_convs=3)
    wider = ResidualStage(8, 16, n_convs=2)
    x = torch.randn(1, 8, 7, 9)
    assert same(x).shape == (1, 8, 7, 9)
    assert isinstance(same.shortcut, torch.nn.Identity)
    assert wider(x).shape == (1, 16, 7, 9)
    assert (wider(x) >= 0).all()
    with pytest.raises(ValueError, match="at least one conv"):
        ResidualStage(8, 8, n_convs=0)


def test_decoder_stage_upsamples_to_skip_grid():
    stage = DecoderStage(coarse_ch=16, skip_ch=8, out_ch=4)
    assert stage(torch.randn(1, 16, 5, 6), torch.randn(1, 8, 10, 12)).shape == (1, 4, 10, 12)


def test_side_fusion_starts_as_mean_and_two_channel_logits():
    fusion = SideFusion(4)
    sides = torch.randn(2, 4, 3, 5)
    assert torch.allclose(fusion(sides), sides.mean(dim=1, keepdim=True), atol=1e-6)
    z = torch.randn(2, 1, 3, 5)
    logits = two_channel_logits(z)
    assert logits.shape == (2, 2, 3, 5)
    assert torch.allclose(torch.softmax(logits, 1)[:, 1:], torch.sigmoid(z), atol=1e-6)


def test_deepcrack_encoder_strides_and_widths():
    enc = DeepCrackEncoder((4, 6, 8, 10, 12, 14), (2, 2, 3, 3, 3, 1))
    feats = enc(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (4, 64, 96), (6, 32, 48), (8, 16, 24), (10, 8, 12), (12, 4, 6), (14, 2, 3)
    ]
    assert enc.strides == (1, 2, 4, 8, 16, 32)
    with pytest.raises(ValueError, match="same length"):
        DeepCrackEncoder((4, 6), (2,))
