"""CrackSAM model: shapes, trainable sets per delta kind, identity at init, LoRA/adapter maths."""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from crackedge.errors import DataError  # noqa: E402
from teacher.models.cracksam import build_cracksam  # noqa: E402
from teacher.models.deltas import Adapter, LoRAQKV  # noqa: E402
from teacher.models.sam_config import SAM_ARCHS, CrackSAMConfig, build_sam, get_sam_arch  # noqa: E402

torch.set_num_threads(2)
DELTAS = ("adapter", "lora", "both", "none")


def _image(n: int = 1, size: int = 448, seed: int = 0) -> "torch.Tensor":
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _perturb(model, pattern: str, seed: int = 1) -> int:
    """Fill the parameters whose names match `pattern` with random values; returns how many."""
    gen = torch.Generator().manual_seed(seed)
    n = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if re.search(pattern, name):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
                n += 1
    return n


@pytest.mark.parametrize("delta", DELTAS)
def test_tiny_forward_shapes_and_finite(delta):
    model = build_cracksam("tiny", delta).eval()
    with torch.no_grad():
        out = model(_image(2))
    assert set(out) == {"logits", "logits_low"}
    assert out["logits"].shape == (2, 2, 448, 448)
    assert out["logits_low"].shape == (2, 2, 112, 112)
    assert torch.isfinite(out["logits"]).all()
    # logits are the bilinear upsampling of logits_low (align_corners=False)
    up = torch.nn.functional.interpolate(out["logits_low"], size=(448, 448), mode="bilinear", align_corners=False)
    assert torch.equal(up, out["logits"])


@pytest.mark.parametrize("backbone", ["vit_b", "vit_l", "vit_h"])
def test_published_backbones_shapes_on_meta(backbone):
    with torch.device("meta"):
        model = build_cracksam(backbone, "adapter")
        out = model(torch.empty(2, 3, 448, 448))
    arch = SAM_ARCHS[backbone]
    enc = model.sam.image_encoder
    assert out["logits"].shape == (2, 2, 448, 448) and out["logits_low"].shape == (2, 2, 112, 112)
    assert enc.pos_embed.shape == (1, 28, 28, arch.embed_dim)
    assert len(enc.blocks) == arch.depth
    for i, blk in enumerate(enc.blocks):
        rel = blk.attn.attn.rel_pos_h  # blk.attn is the adapter wrapper
        expected = 2 * 28 - 1 if i in arch.global_attn_indexes else 2 * 14 - 1
        assert rel.shape == (expected, arch.head_dim), (i, rel.shape)
    assert model.sam.mask_decoder.mask_tokens.weight.shape[0] == 2


@pytest.mark.parametrize("backbone", ["vit_b", "vit_l", "vit_h"])
def test_build_sam_at_1024_is_upstream_builder(backbone):
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        ours = build_sam(get_sam_arch(backbone), 1024, num_multimask_outputs=3)
        theirs = sam_model_registry[backbone]()
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown SAM backbone 'vit_x'.*vit_b, vit_l, vit_h, tiny"):
        build_cracksam("vit_x", "adapter")


def test_wrong_input_size_is_a_clear_error():
    model = build_cracksam("tiny", "none")
    with pytest.raises(DataError, match=r"N x 3 x 448 x 448.*got \(1, 3, 224, 224\)"):
        model(_image(1, 224))


def test_smaller_img_size_works():
    model = build_cracksam("tiny", "lora", img_size=224).eval()
    with torch.no_grad():
        out = model(_image(1, 224))
    assert out["logits"].shape == (1, 2, 224, 224) and out["logits_low"].shape == (1, 2, 56, 56)


def test_batch_equals_per_image():
    """The no-prompt embeddings (batch 1) broadcast over the images; each image is independent."""
    model = build_cracksam("tiny", "both", adapter={"init": "default"}).eval()
    x = _image(3)
    with torch.no_grad():
        batch = model(x)["logits_low"]
        single = torch.cat([model(x[i : i + 1])["logits_low"] for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=1e-5, atol=1e-5)


# Exact trainable-parameter patterns per delta kind (image encoder frozen).
HEAD = [r"sam\.prompt_encoder\..+", r"sam\.mask_decoder\..+"]
ADAPTER = [
    r"sam\.image_encoder\.blocks\.\d+\.attn\.adapter\.(down|up)\.(weight|bias)",
    r"sam\.image_encoder\.blocks\.\d+\.mlp\.adapter\.(down|up)\.(weight|bias)",
]
LORA = [r"sam\.image_encoder\.blocks\.\d+\.attn\.(attn\.)?qkv\.lora\.(q|v)\.(a|b)\.weight"]
TRAINABLE = {"adapter": HEAD + ADAPTER, "lora": HEAD + LORA, "both": HEAD + ADAPTER + LORA, "none": HEAD}


@pytest.mark.parametrize("delta", DELTAS)
def test_trainable_set_is_exactly_as_specified(delta):
    model = build_cracksam("tiny", delta)
    depth = SAM_ARCHS["tiny"].depth
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    patterns = [re.compile(p) for p in TRAINABLE[delta]]
    assert all(any(p.fullmatch(n) for p in patterns) for n in trainable), trainable
    assert not any(any(p.fullmatch(n) for p in patterns) for n in frozen)
    assert all(n.startswith("sam.image_encoder.") for n in frozen)
    n_adapter = sum(".adapter." in n for n in trainable)
    n_lora = sum(".lora." in n for n in trainable)
    assert n_adapter == (depth * 2 * 4 if delta in ("adapter", "both") else 0)
    assert n_lora == (depth * 2 * 2 if delta in ("lora", "both") else 0)
    # every prompt-encoder and decoder parameter trains
    head = [n for n, _ in model.named_parameters() if not n.startswith("sam.image_encoder.")]
    assert set(head) <= set(trainable)


def test_lora_targets_k_and_proj_are_selectable():
    model = build_cracksam("tiny", "lora", lora={"targets": ["k", "proj"], "rank": 2})
    names = [n for n, p in model.named_parameters() if p.requires_grad and ".lora." in n]
    assert any(".qkv.lora.k.a.weight" in n for n in names)
    assert any(".proj.lora.a.weight" in n for n in names)
    assert not any(".lora.q." in n or ".lora.v." in n for n in names)
    assert model.sam.image_encoder.blocks[0].attn.proj.lora.a.weight.shape == (2, 96)


def test_unfrozen_encoder_option():
    model = build_cracksam("tiny", "none", freeze_image_encoder=False)
    assert all(p.requires_grad for p in model.parameters())


def _base_and_delta(delta: str, **kw):
    """A plain model and the same weights with deltas applied (deltas at their init)."""
    torch.manual_seed(0)
    base = build_cracksam("tiny", "none").eval()
    _perturb(base, r"image_encoder")  # non-trivial base weights (pos_embed/rel_pos start at zero)
    model = build_cracksam("tiny", delta, **kw).eval()
    own = model.state_dict()
    for name, value in base.state_dict().items():
        # map plain names onto wrapped names: attn -> attn.attn, qkv -> qkv.base, mlp -> mlp.mlp
        candidates = [k for k in own if _unwrap(k) == name]
        assert len(candidates) == 1, (name, candidates)
        own[candidates[0]] = value
    model.load_state_dict(own)
    return base, model


def _unwrap(name: str) -> str:
    return name.replace("attn.attn.", "attn.").replace("mlp.mlp.", "mlp.").replace("qkv.base.", "qkv.").replace(
        "proj.base.", "proj."
    )


@pytest.mark.parametrize("targets", [["q", "v"], ["q", "k", "v", "proj"]])
def test_lora_with_zero_b_reproduces_base_exactly(targets):
    base, model = _base_and_delta("lora", lora={"targets": targets})
    x = _image(1, seed=3)
    with torch.no_grad():
        assert torch.equal(base(x)["logits"], model(x)["logits"])


def test_zero_up_adapters_reproduce_base_exactly_and_default_init_does_not():
    x = _image(1, seed=4)
    base, model = _base_and_delta("both")
    with torch.no_grad():
        assert torch.equal(base(x)["logits"], model(x)["logits"])
    base, model = _base_and_delta("adapter", adapter={"init": "default"})
    with torch.no_grad():
        assert not torch.allclose(base(x)["logits"], model(x)["logits"])


def test_lora_qkv_maths_touches_only_targeted_chunks():
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 24)
    lora = LoRAQKV(lin, rank=2, scaling=0.5, targets=["q", "v"])
    torch.nn.init.normal_(lora.lora["q"].b.weight)
    torch.nn.init.normal_(lora.lora["v"].b.weight)
    x = torch.randn(3, 5, 8)
    out, ref = lora(x), lin(x)
    dq = 0.5 * x @ lora.lora["q"].a.weight.T @ lora.lora["q"].b.weight.T
    dv = 0.5 * x @ lora.lora["v"].a.weight.T @ lora.lora["v"].b.weight.T
    torch.testing.assert_close(out[..., :8], ref[..., :8] + dq)
    assert torch.equal(out[..., 8:16], ref[..., 8:16])  # k untouched
    torch.testing.assert_close(out[..., 16:], ref[..., 16:] + dv)


def test_lora_alpha_scaling_default_is_one():
    assert CrackSAMConfig(lora={"rank": 8}).lora.scaling == 1.0
    assert CrackSAMConfig(lora={"rank": 8, "alpha": 16}).lora.scaling == 2.0


def test_adapter_wrappers_follow_the_crackSAM_equations():
    model = build_cracksam("tiny", "adapter", adapter={"init": "default", "scale": 0.2, "dim": 8})
    blk = model.sam.image_encoder.blocks[0]
    x = torch.randn(2, 14, 14, 96)
    with torch.no_grad():
        y = blk.attn.attn(x)
        torch.testing.assert_close(blk.attn(x), y + blk.attn.adapter(y))
        torch.testing.assert_close(blk.mlp(x), blk.mlp.mlp(x) + 0.2 * blk.mlp.adapter(x))
    assert isinstance(blk.mlp.adapter, Adapter) and blk.mlp.adapter.down.out_features == 8


def test_teacher_name():
    from teacher.api import teacher_name

    assert teacher_name(build_cracksam("tiny", "lora")) == "cracksam-tiny-lora"

    class PARNet(torch.nn.Module):
        pass

    assert teacher_name(PARNet()) == "parnet"


@pytest.mark.slow
def test_real_vit_b_from_a_real_format_checkpoint(tmp_path):
    """Full-size ViT-B (random weights, real format): load at 448 and run one image (~1.5 GB RAM)."""
    from segment_anything import sam_model_registry

    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(sam_model_registry["vit_b"]().state_dict(), path)
    model = build_cracksam("vit_b", "both", sam_checkpoint=path).eval()
    with torch.no_grad():
        out = model(_image(1))
    assert out["logits"].shape == (1, 2, 448, 448) and torch.isfinite(out["logits"]).all()
    assert model.load_report.backbone == "vit_b"
