"""Teacher model registry: the `model` field of a teacher checkpoint's config -> how to rebuild it.

Each entry names (as "module:attribute" strings, imported only when used):
- `config`: a `crackedge.config.StrictModel`; if it has no `model` field, the checkpoint keeps the
  entry name beside its fields and the loader removes it before validation;
- `build`: `build(config) -> nn.Module` (random init; a full checkpoint's weights are loaded into
  it), and, for entries with `supports_delta`, `build(config, base_file)` on top of a base weights
  file (CrackSAM: the SAM checkpoint) before a delta checkpoint's trainable weights are loaded.
Teacher modules expose a `teacher_name` property (e.g. "cracksam-vit_h-adapter") or are named by
their `config.model`. A module may define `config_for_checkpoint()` to store a config other than its
own (PARNet: without the Swin initialisation file, whose weights the full checkpoint holds).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Dict


@dataclass(frozen=True)
class TeacherEntry:
    name: str
    config: str  # "module:ConfigClass"
    build: str  # "module:build_function"
    supports_delta: bool = False  # checkpoints may hold only trainable weights on top of a base file

    def config_class(self) -> Any:
        return _resolve(self.config)

    def build_fn(self) -> Callable[..., Any]:
        return _resolve(self.build)


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


TEACHER_MODELS: Dict[str, TeacherEntry] = {
    "cracksam": TeacherEntry(
        "cracksam",
        config="teacher.models.sam_config:CrackSAMConfig",
        build="teacher.models.cracksam:build_cracksam_from_config",
        supports_delta=True,
    ),
    "parnet": TeacherEntry(
        "parnet",
        config="teacher.models.parnet_config:ParnetConfig",
        build="teacher.models.parnet:build_parnet",
    ),
}


def get_teacher_entry(name: str) -> TeacherEntry:
    """Registry lookup; ValueError listing the valid names for an unknown one."""
    try:
        return TEACHER_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown teacher model {name!r}; valid names: {', '.join(TEACHER_MODELS)}") from None


def teacher_name(model: Any) -> str:
    """The model's `teacher_name` if it has one, else its `config.model`, else its class name in lower case."""
    name = getattr(model, "teacher_name", None)
    if isinstance(name, str):
        return name
    model_field = getattr(getattr(model, "config", None), "model", None)
    if isinstance(model_field, str):
        return model_field
    return type(model).__name__.lower()
