"""Typed configuration loaded from YAML: unknown keys rejected, every error names the key path.

Configs are data: `yaml.safe_load` only (no executable tags). Models derive from `StrictModel`
(pydantic, `extra="forbid"`), so a misspelt key is an error that names it instead of a silently
ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from crackedge.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) if loc else "(top level)"


def format_validation_error(err: ValidationError, source: str) -> str:
    """Turn a pydantic ValidationError into lines `source: key.path: problem (got value)`."""
    lines = [f"{source}: {err.error_count()} problem(s) in the configuration:"]
    for e in err.errors():
        key = _key_path(e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  - {key}: unknown key; remove it or check its spelling")
            continue
        got = e.get("input")
        got_s = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  - {key}: {e['msg']}{got_s}")
    return "\n".join(lines)


def parse_config(data: Any, model: type[M], source: str = "<config>") -> M:
    """Validate a parsed mapping against `model`, raising ConfigError that names each bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file ({} for an empty file).

    Raises ConfigError naming the file for a missing file, invalid YAML (with line and column) or a
    top level that is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (pass an existing YAML file)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def load_config(path: str | Path, model: type[M]) -> M:
    """Read a YAML file and validate it against `model` (ConfigError naming the file and each bad key)."""
    return parse_config(read_yaml_mapping(path), model, source=str(Path(path)))


def dump_config(cfg: BaseModel, path: str | Path) -> None:
    """Write a config model back to YAML (JSON-compatible values only), atomically."""
    from crackedge.fileio import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
