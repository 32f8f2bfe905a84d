"""One command-line vocabulary for every crackedge command: the same option name, meaning and syntax
wherever the concept appears.

| option | meaning | syntax |
|---|---|---|
| `--data DIR` | a canonical dataset folder | path |
| `--out DIR` | the folder a command writes | path |
| `--split NAME` | a dataset split (`all`: every image) | name |
| `--noise CASE ...` | robustness cases, crackedge.noise | space- or comma-separated: `clean dim` = `clean,dim` |
| `--basis image|input` | where evaluation counts pixels (crackedge.evaluation) | word |
| `--size N` / `--size HxW` | a network input size, height x width | `448` (square) or `384x544` |
| `--device` | where a model runs: torch commands `auto, cpu, cuda, cuda:N`; bundle (OpenVINO) commands `cpu, ncs2, gpu, auto` | word |
| `--seed N` | every random choice of the run | int |
| `--threads N` | CPU threads of torch / OpenVINO / ONNX Runtime | int |

Options that mirror config fields are generated from the pydantic models (`add_config_options`),
so their help, type and bounds come from one place, and `config_from_options` merges them over a
`--config` YAML file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Type, TypeVar

from pydantic import BaseModel

from crackedge.noise import NOISE_CASES

M = TypeVar("M", bound=BaseModel)


def parse_size(text: str) -> tuple[int, int]:
    """`448` -> (448, 448); `384x544` -> (384, 544) (height x width). argparse-friendly errors."""
    try:
        parts = [int(v) for v in str(text).lower().replace(" ", "").split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 448 or HEIGHTxWIDTH like 384x544, got {text!r}") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 16:
        raise argparse.ArgumentTypeError(f"expected a size like 448 or HEIGHTxWIDTH with both >= 16, got {text!r}")
    return parts[0], parts[1]


def square_side(size: Optional[tuple[int, int]], option: str = "--size") -> Optional[int]:
    """The side of a square size; ConfigError for a non-square one (for models that take squares only)."""
    from crackedge.errors import ConfigError

    if size is None:
        return None
    if size[0] != size[1]:
        raise ConfigError(f"{option} {size[0]}x{size[1]}: this model takes a square input; pass one number")
    return size[0]


def parse_noise(values: Sequence[str]) -> tuple[str, ...]:
    """`["clean", "dim,blurry"]` -> ("clean", "dim", "blurry"); ArgumentTypeError naming an unknown case."""
    cases = tuple(c.strip() for v in values for c in str(v).split(",") if c.strip())
    bad = [c for c in cases if c not in NOISE_CASES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown noise case(s) {', '.join(bad)}; valid: {', '.join(NOISE_CASES)}")
    return cases


class _NoiseAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        try:
            setattr(namespace, self.dest, parse_noise(values))
        except argparse.ArgumentTypeError as err:
            parser.error(f"{option_string}: {err}")


def parse_runtime_device(text: str) -> str:
    """`cpu` / `ncs2` / `gpu` / `auto` (any case; MYRIAD too) -> the OpenVINO device name."""
    from crackedge.runtime.options import device_name

    try:
        return device_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_data(p: argparse.ArgumentParser, required: bool = True, help: str = "canonical dataset folder") -> None:
    p.add_argument("--data", type=Path, required=required, metavar="DIR", help=help)


def add_out(p: argparse.ArgumentParser, required: bool = True, help: str = "output folder",
            default: Optional[Path] = None) -> None:
    p.add_argument("--out", type=Path, required=required and default is None, default=default, metavar="DIR",
                   help=help + (f" (default {default})" if default is not None else ""))


def add_split(p: argparse.ArgumentParser, default: str = "test") -> None:
    p.add_argument("--split", default=default, metavar="NAME", help=f"dataset split, or 'all' (default {default})")


def split_value(split: str) -> Optional[str]:
    """--split all -> None (every image)."""
    return None if split == "all" else split


def add_noise(p: argparse.ArgumentParser, default: Sequence[str] = ("clean",)) -> None:
    p.add_argument("--noise", nargs="+", action=_NoiseAction, default=tuple(default), metavar="CASE",
                   help=f"robustness cases, space- or comma-separated: {', '.join(NOISE_CASES)} "
                   f"(default {' '.join(default)})")


def add_basis(p: argparse.ArgumentParser) -> None:
    p.add_argument("--basis", choices=("image", "input"), default="image",
                   help="where pixels are counted: image = each image at its own size (prediction upsampled; the "
                   "default, comparable across models), input = image and mask resized to the model's input size")


def add_size(p: argparse.ArgumentParser, help: str, default: Optional[tuple[int, int]] = None) -> None:
    p.add_argument("--size", type=parse_size, default=default, metavar="N|HxW", help=help)


def add_torch_device(p: argparse.ArgumentParser, default: str = "auto") -> None:
    p.add_argument("--device", default=default, metavar="DEVICE",
                   help=f"where torch runs: auto, cpu, cuda or cuda:N (default {default})")


def add_runtime_device(p: argparse.ArgumentParser, default: str = "CPU") -> None:
    p.add_argument("--device", type=parse_runtime_device, default=default, metavar="DEVICE",
                   help="where the bundle runs (OpenVINO): cpu, ncs2 (MYRIAD), gpu or auto (default cpu)")


def add_seed(p: argparse.ArgumentParser, default: Optional[int] = 0) -> None:
    p.add_argument("--seed", type=int, default=default, metavar="N",
                   help="seed of every random choice" + (f" (default {default})" if default is not None else ""))


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch / OpenVINO / ONNX Runtime (default: the library's)")


def add_eval_options(p: argparse.ArgumentParser, split: str = "test") -> None:
    """--data --split --noise --basis --threshold --overlays --limit: what every `eval` command takes."""
    add_data(p)
    add_split(p, split)
    add_noise(p)
    add_basis(p)
    p.add_argument("--threshold", type=float, default=None,
                   help="crack probability threshold (default: the model's own; 0.5 for a checkpoint)")
    p.add_argument("--overlays", type=int, default=8, metavar="N", help="error overlays per noise case (default 8)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="score the first N images only")


# ---- options generated from pydantic config models -------------------------------------------------

def _field(model: Type[BaseModel], dotted: str) -> Any:
    """The pydantic FieldInfo at `dotted` ("optim.lr") in `model` (nested models followed, Optional unwrapped)."""
    import typing

    cls: Any = model
    *parents, leaf = dotted.split(".")
    for key in parents:
        cls = cls.model_fields[key].annotation
        args = [a for a in typing.get_args(cls) if a is not type(None)]
        if args and not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            cls = args[0]
    return cls.model_fields[leaf]


def _unwrap_optional(annotation: Any) -> Any:
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(args) == 1:
        return args[0]
    return annotation


def square_size(text: str) -> int:
    """`--size` of a square-input model: `256` or `256x256` -> 256 (ArgumentTypeError for a non-square size)."""
    h, w = parse_size(text)
    if h != w:
        raise argparse.ArgumentTypeError(f"this model takes a square input: pass one number, not {text!r}")
    return h


def add_config_options(p: argparse.ArgumentParser, model: Type[BaseModel], options: Mapping[str, str],
                       strip: str = "", types: Optional[Mapping[str, Any]] = None) -> None:
    """One option per entry of `options` (option name -> dotted config field), with the field's type,
    choices (a Literal) and description as help. Defaults are None (unset: the config file's or the
    model's default applies, shown in the help). `strip`: a prefix of the dotted names not present in
    `model` (options of one branch of a union, e.g. "model." with CrackSAMConfig). `types`: option ->
    argparse type overriding the field's (e.g. `--size` -> square_size)."""
    import typing

    for option, dotted in options.items():
        info = _field(model, dotted[len(strip):] if strip and dotted.startswith(strip) else dotted)
        annotation = _unwrap_optional(info.annotation)
        default = None if info.is_required() else info.get_default(call_default_factory=False)
        shown = "" if default is None or isinstance(default, BaseModel) else f" (default {default})"
        help_text = f"{info.description or dotted.replace('_', ' ')}{shown}"
        kwargs: dict[str, Any] = {"default": None, "help": help_text}
        if annotation is bool:
            p.add_argument(option, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if typing.get_origin(annotation) is typing.Literal:
            kwargs["choices"] = typing.get_args(annotation)
        else:
            kind = (types or {}).get(option) or (annotation if annotation in (int, float, str, Path) else str)
            kwargs.update(type=kind, metavar=option.lstrip("-").upper().replace("-", "_"))
        p.add_argument(option, **kwargs)


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def set_dotted(data: dict, dotted: str, value: Any) -> None:
    """data["a"]["b"] = value for dotted "a.b" (creating mappings; ConfigError where a non-mapping is in the way)."""
    from crackedge.errors import ConfigError

    *parents, leaf = dotted.split(".")
    for i, key in enumerate(parents):
        if data.get(key) is None:
            data[key] = {}
        data = data[key]
        if not isinstance(data, dict):
            raise ConfigError(f"{'.'.join(parents[: i + 1])}: expected a mapping of keys in --config")
    data[leaf] = value


def options_into(data: dict, args: argparse.Namespace, options: Mapping[str, str]) -> dict:
    """`data` (a config mapping) with every option the user gave (not None) set at its dotted field."""
    for option, dotted in options.items():
        value = getattr(args, _dest(option), None)
        if value is not None:
            set_dotted(data, dotted, str(value) if isinstance(value, Path) else value)
    return data


def config_from_options(model: Type[M], args: argparse.Namespace, options: Mapping[str, str],
                        config: Optional[Path] = None, extra: Optional[dict] = None) -> M:
    """`model` from the optional YAML `config`, then `extra` settings, then the given options on top."""
    from crackedge.config import parse_config, read_yaml_mapping

    data: dict = read_yaml_mapping(config) if config is not None else {}
    for dotted, value in (extra or {}).items():
        set_dotted(data, dotted, value)
    options_into(data, args, options)
    source = f"{config} + command-line options" if config is not None else "command-line options"
    return parse_config(data, model, source=source)
