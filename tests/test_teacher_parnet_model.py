"""PARNet forward/backward on the small preset: shapes at the project's and DeepCrack's sizes, the teacher
output protocol, independence of the two encoders, config errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from crackedge.config import parse_config  # noqa: E402
from crackedge.errors import ConfigError  # noqa: E402
from teacher.models.parnet import PARNet, build_parnet  # noqa: E402
from teacher.models.parnet_config import ParnetConfig, parnet_config  # noqa: E402


@pytest.fixture(scope="module")
def small_model() -> PARNet:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    return build_parnet(parnet_config("small"))


@pytest.mark.parametrize("size", [(448, 448), (544, 384), (320, 480), (97, 130)])
def test_training_output_shapes_and_finite_gradients(small_model, size):
    model = small_model.train()
    model.zero_grad(set_to_none=True)
    x = torch.randn(2, 3, *size)
    out = model(x)
    assert out["logits"].shape == (2, 2, *size)
    assert len(out["aux"]) == 4
    assert all(a.shape == (2, 2, *size) for a in out["aux"])
    loss = out["logits"][:, 1].mean() + sum(a[:, 1].mean() for a in out["aux"])
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None for g in grads.values()), [n for n, g in grads.items() if g is None]
    assert all(torch.isfinite(g).all() for g in grads.values())
    # both encoders reach the output
    assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith("swin."))
    assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith("cnn."))


def test_logits_follow_the_teacher_protocol(small_model):
    model = small_model.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        out = model(x)
    assert set(out) == {"logits"}  # no aux in eval
    logits = out["logits"]
    assert logits.shape == (1, 2, 64, 96)
    assert torch.equal(logits[:, 0], torch.zeros_like(logits[:, 0]))
    prob = torch.softmax(logits, dim=1)[:, 1]
    assert torch.allclose(prob, torch.sigmoid(logits[:, 1]), atol=1e-6)


def test_fused_output_is_the_learned_fusion_of_the_sides(small_model):
    model = small_model.train()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    sides = torch.cat([a[:, 1:] for a in out["aux"]], dim=1)
    expected = model.fuse.conv(sides)
    assert torch.allclose(out["logits"][:, 1:], expected, atol=1e-5)


def test_encoders_are_independent_until_fusion(small_model):
    """Nothing flows between the CNN and Swin branches while encoding: no gradient path, no value change."""
    model = small_model.train()
    x = torch.randn(2, 3, 64, 64)
    cnn_feats, swin_feats = model.encode(x)
    cnn_params = [p for n, p in model.named_parameters() if n.startswith("cnn.")]
    swin_params = [p for n, p in model.named_parameters() if n.startswith("swin.")]
    g_swin_wrt_cnn = torch.autograd.grad(sum(f.sum() for f in swin_feats), cnn_params, allow_unused=True, retain_graph=True)
    g_cnn_wrt_swin = torch.autograd.grad(sum(f.sum() for f in cnn_feats), swin_params, allow_unused=True)
    assert all(g is None for g in g_swin_wrt_cnn)
    assert all(g is None for g in g_cnn_wrt_swin)

    model.eval()
    with torch.no_grad():
        cnn_before, swin_before = model.encode(x)
        saved = {n: p.clone() for n, p in model.named_parameters() if n.startswith("cnn.")}
        for n, p in model.named_parameters():
            if n.startswith("cnn."):
                p.add_(torch.randn_like(p))
        cnn_after, swin_after = model.encode(x)
        for n, p in model.named_parameters():
            if n in saved:
                p.copy_(saved[n])
    assert all(torch.equal(a, b) for a, b in zip(swin_before, swin_after))
    assert not all(torch.equal(a, b) for a, b in zip(cnn_before, cnn_after))


def test_stage_grids_line_up_at_deepcrack_size(small_model):
    model = small_model.eval()
    with torch.no_grad():
        cnn, swin = model.encode(torch.randn(1, 3, 544, 384))
    assert [tuple(f.shape[-2:]) for f in cnn[2:]] == [(136, 96), (68, 48), (34, 24), (17, 12)]
    assert [tuple(f.shape[-2:]) for f in swin] == [(136, 96), (68, 48), (34, 24), (17, 12)]
    assert [f.shape[1] for f in swin] == [48, 96, 192, 384]


def test_bad_input_shape_is_a_clear_error(small_model):
    with pytest.raises(ValueError, match=r"N x 3 x H x W.*\(1, 1, 32, 32\)"):
        small_model(torch.zeros(1, 1, 32, 32))


def test_presets_and_config_errors():
    paper = parnet_config("paper")
    assert paper.swin.embed_dim == 96 and paper.swin.depths == (2, 2, 6, 2) and paper.swin.num_heads == (3, 6, 12, 24)
    assert parnet_config("small", decoder_widths=(8, 8, 8, 8)).decoder_widths == (8, 8, 8, 8)
    with pytest.raises(ValueError, match="unknown PARNet preset 'tiny'; valid presets: paper, small"):
        parnet_config("tiny")
    with pytest.raises(ConfigError, match="cnn_width: unknown key"):
        parse_config({"cnn_width": [1, 2, 3, 4, 5, 6]}, ParnetConfig, source="parnet.yaml")
    with pytest.raises(ConfigError, match=r"swin: .*num_heads\[0\]=5 must divide"):
        parse_config({"swin": {"embed_dim": 48, "num_heads": [5, 4, 8, 16]}}, ParnetConfig, source="parnet.yaml")


def test_a_few_training_steps_fit_a_line_crack():
    """The whole model trains: 30 Adam steps on one synthetic 64x64 image lower the deep-supervised loss."""
    from teacher.losses_parnet import parnet_loss

    torch.manual_seed(0)
    model = build_parnet(parnet_config("small")).train()
    target = torch.zeros(1, 64, 64, dtype=torch.long)
    target[:, 30:33, 8:56] = 1
    x = torch.randn(1, 3, 64, 64) * 0.1 - 1.5 * target.unsqueeze(1).float()  # dark crack on a grey surface
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = parnet_loss(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with torch.no_grad():
        prob = torch.softmax(model(x)["logits"], 1)[0, 1]
    assert prob[target[0] == 1].mean() > prob[target[0] == 0].mean() + 0.15  # 0.24-0.44 over seeds 0-3
