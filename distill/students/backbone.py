"""timm feature backbones for the students, and loading real timm weights onto them.

A timm classification checkpoint (`timm.create_model(name).state_dict()`, optionally wrapped as
{"state_dict": ...}, {"model": ...} or {"state_dict_ema": ...}, optionally with a `module.`
prefix) is mapped onto the `features_only` model: every key the feature model has must be present
with the same shape; keys only the classifier uses (head, final layers) are dropped and logged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from distill.errors import CheckpointError

log = logging.getLogger(__name__)

_WRAPPER_KEYS = ("state_dict_ema", "state_dict", "model")
_MAX_NAMED = 8


def create_backbone(timm_name: str, weights: Optional[Path] = None, **kwargs: Any):
    """`timm.create_model(timm_name, features_only=True, pretrained=False, **kwargs)` + optional weights.

    Returns the timm feature model; its `feature_info` gives channels and reductions of the outputs.
    """
    import timm

    model = timm.create_model(timm_name, features_only=True, pretrained=False, **kwargs)
    if weights is not None:
        load_timm_weights(model, weights, timm_name)
    return model


def read_state_dict(path: Path) -> dict:
    """Read a state dict from a torch file, unwrapping the usual container keys and `module.`."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"backbone weights file not found: {path} (pass a timm state-dict file, or omit it)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or non-torch files
        raise CheckpointError(f"{path}: not a readable torch state-dict file ({type(err).__name__}: {err})") from None
    for key in _WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise CheckpointError(f"{path}: expected a dict of tensors (a timm state dict), got {type(obj).__name__}")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def _named(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_NAMED])
    return shown + (f", ... ({len(keys) - _MAX_NAMED} more)" if len(keys) > _MAX_NAMED else "")


def map_state_dict(source: dict, target: dict, source_name: str, model_name: str) -> tuple[dict, list[str]]:
    """Select from `source` the entries the feature model's `target` state dict needs.

    Returns (state dict for the feature model, dropped source keys). Raises CheckpointError naming
    the missing keys and the keys whose shapes differ.
    """
    missing = [k for k in target if k not in source]
    mismatched = [
        f"{k} {tuple(source[k].shape)} vs {tuple(target[k].shape)}"
        for k in target
        if k in source and tuple(source[k].shape) != tuple(target[k].shape)
    ]
    if missing or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} of {len(target)} backbone keys missing ({_named(missing)})")
        if mismatched:
            parts.append(f"{len(mismatched)} keys with other shapes ({_named(mismatched)})")
        raise CheckpointError(
            f"{source_name} does not fit timm model {model_name!r}: {'; '.join(parts)}. "
            f"Pass the state dict of `timm.create_model({model_name!r})`."
        )
    dropped = sorted(k for k in source if k not in target)
    return {k: source[k] for k in target}, dropped


def load_timm_weights(model, path: Path, timm_name: str) -> None:
    """Load a timm classification state dict from `path` onto the features_only `model` (in place)."""
    source = read_state_dict(path)
    mapped, dropped = map_state_dict(source, model.state_dict(), str(path), timm_name)
    model.load_state_dict(mapped, strict=True)
    log.info(
        "loaded %d tensors from %s onto %s features; dropped %d classifier-only keys: %s",
        len(mapped), path, timm_name, len(dropped), _named(dropped),
    )
