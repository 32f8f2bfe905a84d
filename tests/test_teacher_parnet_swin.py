"""Loading timm Swin state dicts (built here by timm itself) into PARNet's Swin encoder, and the errors for
files that do not fit."""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from teacher.models.parnet import build_parnet  # noqa: E402
from teacher.models.parnet_config import SWIN_T_TIMM_NAME, parnet_config  # noqa: E402
from teacher.models.swin_checkpoint import SwinCheckpointError, adapt_swin_state_dict  # noqa: E402
from teacher.models.swin_encoder import SwinEncoder  # noqa: E402

SMALL_SWIN = dict(embed_dim=48, depths=(1, 1, 1, 1), num_heads=(2, 4, 8, 16))


def timm_swin(**kwargs):
    torch.manual_seed(1)
    return timm.create_model(SWIN_T_TIMM_NAME, pretrained=False, **kwargs)


def small_cfg(checkpoint):
    cfg = parnet_config("small")
    return cfg.model_copy(update={"swin": cfg.swin.model_copy(update={"checkpoint": str(checkpoint)})})


def test_loads_a_timm_state_dict_into_the_small_preset(tmp_path):
    reference = timm_swin(**SMALL_SWIN, strict_img_size=False).eval()  # same state dict; runs at any size
    path = tmp_path / "swin_small.pth"
    torch.save(reference.state_dict(), path)
    model = build_parnet(small_cfg(path)).eval()
    ours = model.swin.body.state_dict()
    for key, value in reference.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(ours[key], value), key
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        expected = reference.forward_intermediates(x, norm=True, intermediates_only=True)
        got = model.swin(x)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, expected))


def test_loads_real_swin_tiny_state_dict_and_wrapped_and_original_layouts(tmp_path):
    reference = timm_swin()
    state = reference.state_dict()
    plain = tmp_path / "swin_t.pth"
    torch.save(state, plain)
    enc = SwinEncoder(parnet_config("paper").swin.model_copy(update={"checkpoint": str(plain)}))
    assert torch.equal(enc.body.layers[2].blocks[5].attn.qkv.weight, reference.layers[2].blocks[5].attn.qkv.weight)

    # the original Microsoft layout: downsample at the end of the previous stage, head without .fc, index buffers
    original = {}
    for key, value in state.items():
        key = re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) - 1}.downsample", key)
        original[key.replace("head.fc.", "head.")] = value
    original["layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(49, 49, dtype=torch.long)
    wrapped = tmp_path / "swin_t_original.pth"
    torch.save({"model": original}, wrapped)
    enc2 = SwinEncoder(parnet_config("paper").swin.model_copy(update={"checkpoint": str(wrapped)}))
    assert torch.equal(enc2.body.layers[3].downsample.reduction.weight, reference.layers[3].downsample.reduction.weight)


def test_adapt_reports_every_dropped_key():
    state = {"patch_embed.proj.weight": torch.zeros(1), "head.fc.weight": torch.zeros(1), "head.fc.bias": torch.zeros(1),
             "layers.0.blocks.0.attn.relative_position_index": torch.zeros(1)}
    kept, dropped = adapt_swin_state_dict(state)
    assert set(kept) == {"patch_embed.proj.weight"}
    assert set(dropped) == {"head.fc.weight", "head.fc.bias", "layers.0.blocks.0.attn.relative_position_index"}
    assert "classifier" in dropped["head.fc.weight"]


def test_a_different_swin_variant_is_a_clear_error(tmp_path):
    path = tmp_path / "swin_wrong.pth"
    torch.save(timm_swin(embed_dim=32, depths=(1, 1, 2, 1), num_heads=(2, 4, 8, 16)).state_dict(), path)
    with pytest.raises(SwinCheckpointError) as err:
        build_parnet(small_cfg(path))
    msg = str(err.value)
    assert str(path) in msg
    assert "embed_dim 48, depths (1, 1, 1, 1)" in msg  # what the config wants
    assert "embed_dim 32, depths (1, 1, 2, 1)" in msg  # what the file holds
    assert "unexpected: layers.2.blocks.1." in msg
    assert re.search(r"\d+ shape mismatches: layers.0.blocks.0.attn.proj.bias: file \(32,\) vs model \(48,\)", msg)


def test_missing_unreadable_and_non_tensor_files(tmp_path):
    with pytest.raises(SwinCheckpointError, match=r"Swin checkpoint not found: .*nope\.pth.*swin.checkpoint to null"):
        build_parnet(small_cfg(tmp_path / "nope.pth"))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(SwinCheckpointError, match=r"garbage\.pth: not a readable torch state dict"):
        build_parnet(small_cfg(garbage))
    odd = tmp_path / "odd.pth"
    torch.save({"patch_embed.proj.weight": [1, 2, 3]}, odd)
    with pytest.raises(SwinCheckpointError, match=r"odd\.pth: entries that are not tensors: patch_embed.proj.weight"):
        build_parnet(small_cfg(odd))
