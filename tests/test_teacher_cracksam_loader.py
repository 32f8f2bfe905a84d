"""SAM checkpoint -> 448 CrackSAM: key surgery, its report and logs, and every error path."""

from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from teacher.models.cracksam import build_cracksam  # noqa: E402
from teacher.models.sam_config import SAM_ARCHS, build_sam, get_sam_arch  # noqa: E402
from teacher.models.sam_loader import (  # noqa: E402
    SamCheckpointError,
    adapt_sam_state_dict,
    read_sam_state_dict,
)
from teacher.testing import make_upstream_sam, save_sam_checkpoint  # noqa: E402

torch.set_num_threads(2)
TINY = get_sam_arch("tiny")


@pytest.fixture(scope="module")
def sam_file(tmp_path_factory):
    return save_sam_checkpoint(tmp_path_factory.mktemp("sam") / "sam_tiny.pth", "tiny", seed=0)


def _target(img_size: int = 448):
    return build_sam(TINY, img_size).state_dict()


def test_load_reports_and_logs_every_changed_key(sam_file, caplog):
    caplog.set_level(logging.INFO, logger="teacher.models.sam_loader")
    model = build_cracksam("tiny", "adapter", sam_checkpoint=sam_file)
    report = model.load_report
    assert report.backbone == "tiny"
    assert report.names("resized") == [
        "image_encoder.pos_embed",
        "image_encoder.blocks.2.attn.rel_pos_h",
        "image_encoder.blocks.2.attn.rel_pos_w",
    ]
    reinit = report.names("reinitialised")
    assert "mask_decoder.mask_tokens.weight" in reinit
    assert "mask_decoder.output_hypernetworks_mlps.1.layers.2.weight" in reinit
    assert "mask_decoder.iou_prediction_head.layers.0.weight" in reinit
    assert "mask_decoder.output_hypernetworks_mlps.3.layers.0.weight" in report.names("dropped")
    logged = caplog.text
    for name in report.names():
        assert name in logged
    # windowed blocks keep their tables; nothing of the encoder but pos_embed/global rel_pos changes
    assert not any("blocks.0." in n or "blocks.1." in n for n in report.names())


def test_loaded_weights_equal_checkpoint_where_unchanged(sam_file):
    state = torch.load(sam_file, weights_only=True)
    model = build_cracksam("tiny", "none", sam_checkpoint=sam_file, decoder_heads="slice")
    ours = model.sam.state_dict()
    changed = set(model.load_report.names())
    for k, v in state.items():
        if k not in changed:
            assert torch.equal(ours[k], v), k
    assert torch.equal(ours["mask_decoder.mask_tokens.weight"], state["mask_decoder.mask_tokens.weight"][:2])
    last = "mask_decoder.iou_prediction_head.layers.2."
    assert torch.equal(ours[last + "weight"], state[last + "weight"][:2])
    assert torch.equal(ours[last + "bias"], state[last + "bias"][:2])
    assert model.load_report.names("dropped") == [
        f"mask_decoder.output_hypernetworks_mlps.{i}.layers.{j}.{w}" for i in (2, 3) for j in range(3) for w in ("weight", "bias")
    ]


def test_reinit_keeps_fresh_heads(sam_file):
    state = torch.load(sam_file, weights_only=True)
    model = build_cracksam("tiny", "none", sam_checkpoint=sam_file)  # decoder_heads="reinit" default
    tokens = model.sam.mask_decoder.mask_tokens.weight
    assert tokens.shape == (2, 64)
    assert not torch.equal(tokens, state["mask_decoder.mask_tokens.weight"][:2])
    assert torch.equal(model.sam.mask_decoder.output_upscaling[0].weight, state["mask_decoder.output_upscaling.0.weight"])


def test_pos_embed_resize_keeps_constant_and_linear_fields():
    src = make_upstream_sam("tiny").state_dict()
    g0, g, c = 64, 28, TINY.embed_dim
    ii = torch.arange(g0, dtype=torch.float32)
    field = 0.5 + 0.25 * ii[:, None, None] - 0.125 * ii[None, :, None] + torch.zeros(1, 1, c)
    field[..., 0] = 3.0  # channel 0: a constant field
    src["image_encoder.pos_embed"] = field[None]
    new, _ = adapt_sam_state_dict(src, _target(), TINY, 448)
    pe = new["image_encoder.pos_embed"][0]
    assert pe.shape == (g, g, c)
    torch.testing.assert_close(pe[..., 0], torch.full((g, g), 3.0))
    # bilinear, align_corners=False: output index i samples the source at (i + 0.5) * 64/28 - 0.5
    u = (torch.arange(g, dtype=torch.float32) + 0.5) * g0 / g - 0.5
    expected = 0.5 + 0.25 * u[:, None] - 0.125 * u[None, :]
    torch.testing.assert_close(pe[..., 1], expected, rtol=0, atol=1e-5)


def test_global_rel_pos_resize_matches_upstream_runtime_interpolation():
    """A global block with the resized (55 x D) table attends exactly like upstream's Attention
    with the original (127 x D) table, which interpolates the same way on the fly."""
    from segment_anything.modeling.image_encoder import Attention

    torch.manual_seed(0)
    src = make_upstream_sam("tiny").state_dict()
    new, _ = adapt_sam_state_dict(src, _target(), TINY, 448)
    key = "image_encoder.blocks.2.attn."
    big = Attention(96, 3, use_rel_pos=True, input_size=(64, 64))
    small = Attention(96, 3, use_rel_pos=True, input_size=(28, 28))
    big.load_state_dict({k[len(key):]: v for k, v in src.items() if k.startswith(key)})
    small.load_state_dict({k[len(key):]: v for k, v in new.items() if k.startswith(key)})
    assert small.rel_pos_h.shape == (55, 32)
    x = torch.randn(1, 28, 28, 96)
    with torch.no_grad():
        torch.testing.assert_close(small(x), big(x), rtol=1e-5, atol=1e-6)
    # a linear table stays linear
    src[key + "rel_pos_w"] = torch.arange(127, dtype=torch.float32)[:, None].repeat(1, 32)
    new, _ = adapt_sam_state_dict(src, _target(), TINY, 448)
    col = new[key + "rel_pos_w"][:, 0]
    torch.testing.assert_close(col, (torch.arange(55) + 0.5) * 127 / 55 - 0.5)


@pytest.mark.parametrize("backbone", ["vit_b", "vit_l", "vit_h"])
def test_real_sam_key_sets_are_accepted_on_meta(backbone):
    from segment_anything import sam_model_registry

    arch = SAM_ARCHS[backbone]
    with torch.device("meta"):
        published = sam_model_registry[backbone]().state_dict()
        model = build_cracksam(backbone, "none")
    new, report = adapt_sam_state_dict(published, model.sam.state_dict(), arch, 448, "slice")
    resized = {f"image_encoder.blocks.{i}.attn.rel_pos_{a}" for i in arch.global_attn_indexes for a in "hw"}
    assert set(report.names("resized")) == resized | {"image_encoder.pos_embed"}
    assert new["image_encoder.pos_embed"].shape == (1, 28, 28, arch.embed_dim)
    assert len(report.names("dropped")) == 12  # hypernetwork MLPs 2 and 3
    result = model.sam.load_state_dict(new, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


@pytest.mark.parametrize(("have", "want"), [("vit_l", "vit_h"), ("vit_b", "vit_l"), ("vit_h", "vit_b")])
def test_wrong_backbone_names_the_right_one(have, want):
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        published = sam_model_registry[have]().state_dict()
        target = build_sam(get_sam_arch(want), 448).state_dict()
    with pytest.raises(SamCheckpointError, match=rf"looks like a {have} checkpoint.*pass --backbone {have}"):
        adapt_sam_state_dict(published, target, get_sam_arch(want), 448, source="sam.pth")


def test_unexpected_missing_and_misshaped_keys_are_named():
    src = make_upstream_sam("tiny").state_dict()
    bad = dict(src)
    bad["image_encoder.extra.weight"] = torch.zeros(3)
    with pytest.raises(SamCheckpointError, match=r"unexpected keys.*image_encoder\.extra\.weight"):
        adapt_sam_state_dict(bad, _target(), TINY, 448)
    bad = dict(src)
    del bad["image_encoder.neck.1.weight"]
    with pytest.raises(SamCheckpointError, match=r"missing keys: image_encoder\.neck\.1\.weight"):
        adapt_sam_state_dict(bad, _target(), TINY, 448)
    bad = dict(src)
    bad["image_encoder.blocks.0.attn.rel_pos_h"] = torch.zeros(127, 32)  # a windowed block
    with pytest.raises(SamCheckpointError, match=r"global-attention blocks in the checkpoint are \[0, 2\]"):
        adapt_sam_state_dict(bad, _target(), TINY, 448)
    bad = dict(src)
    bad["prompt_encoder.no_mask_embed.weight"] = torch.zeros(1, 65)
    with pytest.raises(SamCheckpointError, match=r"prompt_encoder\.no_mask_embed\.weight: checkpoint \(1, 65\) vs model \(1, 64\)"):
        adapt_sam_state_dict(bad, _target(), TINY, 448)


def test_wrapped_checkpoint_prefix_is_explained():
    src = {"module." + k: v for k, v in make_upstream_sam("tiny").state_dict().items()}
    with pytest.raises(SamCheckpointError, match=r"not a SAM state dict.*'module\.'"):
        adapt_sam_state_dict(src, _target(), TINY, 448, source="wrapped.pth")


def test_missing_file_says_what_to_pass(tmp_path):
    with pytest.raises(SamCheckpointError, match=r"SAM checkpoint not found: .*nope\.pth.*--sam-checkpoint.*sam_vit_h_4b8939\.pth"):
        build_cracksam("tiny", "adapter", sam_checkpoint=tmp_path / "nope.pth")


def test_non_state_dict_file_is_rejected(tmp_path):
    path = tmp_path / "junk.pth"
    torch.save({"kind": "delta", "config": {}, "state_dict": {}}, path)
    with pytest.raises(SamCheckpointError, match=r"plain SAM state dict.*teacher CHECKPOINT"):
        read_sam_state_dict(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(SamCheckpointError, match=r"junk\.pth: cannot read it"):
        read_sam_state_dict(path)
