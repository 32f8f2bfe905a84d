"""Teacher checkpoints that describe themselves: delta (trainable weights on a base file) or full.

A checkpoint is a `torch.save`d dict, readable with `torch.load(weights_only=True)`:

    format      "crackedge-teacher/1"
    kind        "delta": only the trainable weights (adapters/LoRA + prompt encoder + mask
                decoder); rebuilding needs the base weights file named in `base`.
                "full": every weight (e.g. a tiny CrackSAM trained from scratch); no base.
    teacher     e.g. "cracksam-vit_h-adapter"
    config      the model config (pydantic, JSON-compatible dump) plus `config["model"]`, the
                registry entry (teacher.models.registry) that rebuilds the network
    base        {"file": "sam_vit_h_4b8939.pth", "sha256": "..."} for delta, None for full
    state_dict  name -> tensor
    meta        free-form JSON-like dict (epoch, metrics, ...)
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

from crackedge.config import parse_config
from crackedge.errors import CrackedgeError
from crackedge.fileio import atomic_write_bytes, sha256_file
from teacher.models.registry import get_teacher_entry

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "crackedge-teacher/1"
KINDS = ("delta", "full")


class TeacherCheckpointError(CrackedgeError):
    """A teacher checkpoint is missing, malformed, or does not match its base weights."""


def _teacher_name(model: nn.Module) -> str:
    from teacher.models.registry import teacher_name

    return teacher_name(model)


def checkpoint_dict(model: nn.Module, kind: str = "auto", meta: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The checkpoint content for `model` (see the module docstring). `kind="auto"`: delta when
    the model was built on base weights (`model.load_report`), else full."""
    report = getattr(model, "load_report", None)
    if kind == "auto":
        kind = "delta" if report is not None else "full"
    if kind not in KINDS:
        raise ValueError(f"checkpoint kind must be one of {KINDS} or 'auto', got {kind!r}")
    stored_config = getattr(model, "config_for_checkpoint", None)
    config = stored_config() if callable(stored_config) else getattr(model, "config", None) or getattr(model, "cfg", None)
    if config is None or not hasattr(config, "model_dump"):
        raise ValueError(f"{type(model).__name__} has no pydantic `config`; cannot write a self-describing checkpoint")
    config_dict = config.model_dump(mode="json")
    # the registry name: the config's own `model` field, else the teacher's name (e.g. "parnet")
    config_dict.setdefault("model", _teacher_name(model))
    if kind == "delta":
        if report is None:
            raise TeacherCheckpointError(
                "this model was built from random init (no base weights file): save it with kind='full'"
            )
        state = {k: p.detach().cpu().clone() for k, p in model.named_parameters() if p.requires_grad}
        base = {"file": Path(report.source).name, "sha256": report.file_sha256()}
    else:
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        base = None
    return {
        "format": CHECKPOINT_FORMAT,
        "kind": kind,
        "teacher": _teacher_name(model),
        "config": config_dict,
        "base": base,
        "state_dict": state,
        "meta": dict(meta or {}),
    }


def save_teacher_checkpoint(
    path: Path, model: nn.Module, kind: str = "auto", meta: Optional[Dict[str, Any]] = None
) -> Path:
    """Write `model` as a teacher checkpoint atomically; returns the path."""
    ckpt = checkpoint_dict(model, kind, meta)
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    atomic_write_bytes(Path(path), buf.getvalue())
    log.info("saved %s checkpoint of %s (%d tensors) to %s", ckpt["kind"], ckpt["teacher"], len(ckpt["state_dict"]), path)
    return Path(path)


def read_teacher_checkpoint(path: Path) -> Dict[str, Any]:
    """Read and validate the envelope of a teacher checkpoint (not the weights)."""
    path = Path(path)
    if not path.is_file():
        raise TeacherCheckpointError(
            f"teacher checkpoint not found: {path} (pass the .pt file written by `teacher train`)"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise TeacherCheckpointError(f"{path}: cannot read it as a torch checkpoint ({err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        if isinstance(ckpt, dict) and "image_encoder.patch_embed.proj.weight" in ckpt:
            raise TeacherCheckpointError(
                f"{path} is a plain SAM state dict, not a teacher checkpoint: pass it as --sam-checkpoint "
                "together with a delta teacher checkpoint"
            )
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise TeacherCheckpointError(f"{path}: not a teacher checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})")
    missing = [k for k in ("kind", "config", "state_dict", "base") if k not in ckpt]
    if missing or ckpt["kind"] not in KINDS:
        raise TeacherCheckpointError(f"{path}: malformed teacher checkpoint (missing {missing}, kind {ckpt.get('kind')!r})")
    return ckpt


def peek_teacher_name(path: Path) -> str:
    """The teacher name a checkpoint records ("parnet", "cracksam-tiny-none"), without building the model."""
    ckpt = read_teacher_checkpoint(path)
    return str(ckpt.get("teacher") or ckpt["config"].get("model", "cracksam"))


def peek_training_labels(path: Path) -> Optional[Dict[str, Any]]:
    """The record of the masks the checkpoint's training run used (`crackedge.data.label_record`), or None
    for a checkpoint written before the record existed (or not by `teacher train`)."""
    record = (read_teacher_checkpoint(path).get("meta") or {}).get("training_labels")
    return dict(record) if isinstance(record, dict) else None


def _check_base(path: Path, ckpt: Dict[str, Any], base_file: Optional[Path]) -> str:
    """Verify the base weights file of a delta checkpoint; returns its SHA-256."""
    base = ckpt["base"] or {}
    want_name, want_sha = base.get("file", "?"), base.get("sha256")
    if base_file is None:
        raise TeacherCheckpointError(
            f"{path} is a delta checkpoint ({ckpt.get('teacher')}) on top of {want_name}: "
            f"pass --sam-checkpoint PATH/{want_name} (sha256 {want_sha})"
        )
    base_file = Path(base_file)
    if not base_file.is_file():
        raise TeacherCheckpointError(f"base weights not found: {base_file} (the delta checkpoint {path} needs {want_name})")
    got = sha256_file(base_file)
    if got != want_sha:
        raise TeacherCheckpointError(
            f"{base_file} (sha256 {got}) is not the base this delta checkpoint was trained on: "
            f"{path} expects {want_name} with sha256 {want_sha}"
        )
    return got


def apply_checkpoint_weights(model: nn.Module, ckpt: Dict[str, Any], path: Path) -> None:
    """Load `ckpt["state_dict"]` into `model`: all keys for a full checkpoint, exactly the trainable
    ones for a delta; TeacherCheckpointError naming the keys otherwise."""
    state = ckpt["state_dict"]
    if ckpt["kind"] == "full":
        result = model.load_state_dict(state, strict=False)
        problems = list(result.missing_keys) + list(result.unexpected_keys)
        expected = set(model.state_dict())
    else:
        expected = {n for n, p in model.named_parameters() if p.requires_grad}
        result = model.load_state_dict(state, strict=False)
        problems = sorted((expected - set(state)) | set(result.unexpected_keys))
    if problems:
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - set(model.state_dict()))
        raise TeacherCheckpointError(
            f"{path}: weights do not match the model its config describes ({ckpt.get('teacher')}): "
            f"missing {missing[:8]}{' ...' if len(missing) > 8 else ''}, "
            f"unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}"
        )


def load_teacher_checkpoint(path: Path, base_file: Optional[Path] = None) -> nn.Module:
    """Rebuild a teacher from its checkpoint (and the base weights file for a delta), on CPU."""
    path = Path(path)
    ckpt = read_teacher_checkpoint(path)
    cfg_dict = ckpt["config"]
    name = cfg_dict.get("model") if isinstance(cfg_dict, dict) else None
    try:
        entry = get_teacher_entry(str(name))
    except ValueError as err:
        raise TeacherCheckpointError(f"{path}: config.model: {err}") from None
    config_class = entry.config_class()
    if "model" not in config_class.model_fields:  # the registry key is stored beside the fields
        cfg_dict = {k: v for k, v in cfg_dict.items() if k != "model"}
    cfg = parse_config(cfg_dict, config_class, source=f"{path} (config)")
    build = entry.build_fn()
    if ckpt["kind"] == "delta":
        if not entry.supports_delta:
            raise TeacherCheckpointError(f"{path}: {name} has no delta checkpoints; expected kind 'full'")
        sha = _check_base(path, ckpt, base_file)
        model = build(cfg, Path(base_file))
        if getattr(model, "load_report", None) is not None:
            model.load_report.sha256 = sha
    else:
        if base_file is not None:
            log.warning("%s is a full checkpoint; ignoring the base weights %s", path, base_file)
        model = build(cfg)
    apply_checkpoint_weights(model, ckpt, path)
    return model
