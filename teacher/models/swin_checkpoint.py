"""Load a timm Swin Transformer state dict from a local file into PARNet's Swin encoder.

Accepted: what `torch.save(timm.create_model("swin_tiny_patch4_window7_224").state_dict(), path)` writes
(optionally wrapped as {"model": ...} or {"state_dict": ...}), and the original Microsoft Swin release
layout (downsampling at the end of a stage), which is renamed to timm's. `adapt_swin_state_dict` is the
one place where keys are renamed or dropped; it logs each key and the reason. Nothing is resized: a
file whose shapes do not match the configured encoder is a SwinCheckpointError naming the keys.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from crackedge.errors import CrackedgeError

log = logging.getLogger(__name__)

_MAX_LISTED = 6


class SwinCheckpointError(CrackedgeError):
    """A Swin checkpoint file is missing, unreadable or does not match the configured encoder."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict (name -> tensor) from `path` with `torch.load(weights_only=True)`."""
    path = Path(path)
    if not path.is_file():
        raise SwinCheckpointError(
            f"Swin checkpoint not found: {path}. Pass a local timm state dict file (for the paper preset: "
            f"torch.save(timm.create_model('swin_tiny_patch4_window7_224').state_dict(), PATH)) or set "
            f"swin.checkpoint to null for a randomly initialised encoder"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any load failure is the file's fault; say which file
        raise SwinCheckpointError(f"{path}: not a readable torch state dict ({type(exc).__name__}: {exc})") from None
    for wrapper in ("model", "state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not obj:
        raise SwinCheckpointError(f"{path}: expected a mapping of parameter names to tensors, got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise SwinCheckpointError(f"{path}: entries that are not tensors: {', '.join(map(str, bad[:_MAX_LISTED]))}")
    return dict(obj)


def adapt_swin_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Rename the original Swin layout to timm's and drop keys a headless encoder does not hold.

    Returns (adapted state dict, {dropped key: reason}). Dropped: the classifier (`head.*`) and buffers
    that timm rebuilds from the window size (`relative_position_index`, `attn_mask`).
    """
    original_layout = "layers.0.downsample.reduction.weight" in state
    out: dict[str, torch.Tensor] = {}
    dropped: dict[str, str] = {}
    for key, value in state.items():
        if original_layout:
            key = re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) + 1}.downsample", key)
            if key.startswith("head.") and not key.startswith("head.fc."):
                key = "head.fc." + key[len("head.") :]
        if key.startswith("head."):
            dropped[key] = "ImageNet classifier, not part of the segmentation encoder"
        elif key.endswith("relative_position_index") or key.endswith("attn_mask"):
            dropped[key] = "buffer rebuilt from the window size"
        else:
            out[key] = value
    if original_layout:
        log.info("Swin checkpoint in the original (Microsoft) layout: downsample keys moved to the next stage")
    for key, why in dropped.items():
        log.info("Swin checkpoint: dropped %s (%s)", key, why)
    return out, dropped


def _describe_file(state: Mapping[str, torch.Tensor]) -> str:
    """A short guess at the architecture in a Swin state dict: embed dim and blocks per stage."""
    proj = state.get("patch_embed.proj.weight")
    embed = f"embed_dim {proj.shape[0]}" if proj is not None and proj.ndim == 4 else "no patch_embed.proj.weight"
    depths = []
    for stage in range(8):
        blocks = {int(m.group(1)) for k in state if (m := re.match(rf"layers\.{stage}\.blocks\.(\d+)\.", k))}
        if not blocks:
            break
        depths.append(max(blocks) + 1)
    return f"{embed}, depths {tuple(depths)}"


def load_swin_checkpoint(model: nn.Module, path: str | Path) -> dict[str, str]:
    """Load a timm Swin state dict from `path` into `model` (a timm SwinTransformer without head).

    Every remaining key must exist in the model with the same shape and every model key must be present;
    otherwise a SwinCheckpointError lists the missing, unexpected and mismatched keys. Returns the dropped
    keys with their reasons.
    """
    state, dropped = adapt_swin_state_dict(read_state_dict(path))
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatches", mismatched)):
            if items:
                more = f", ... (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
                problems.append(f"{len(items)} {label}: {', '.join(items[:_MAX_LISTED])}{more}")
        model_desc = _describe_file(own)
        raise SwinCheckpointError(
            f"{path} does not fit the configured Swin encoder ({model_desc}); the file holds "
            f"{_describe_file(state)}. " + "; ".join(problems) + ". Pass a state dict of the same Swin variant "
            "(swin.embed_dim / depths / num_heads / window_size in the PARNet config must match the file)"
        )
    model.load_state_dict(state, strict=True)
    log.info("loaded Swin encoder weights from %s (%d tensors, %d dropped)", path, len(state), len(dropped))
    return dropped
