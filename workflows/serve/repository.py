"""A Triton model repository for crackedge bundles: one Python-backend model per bundle.

    REPO/
      NAME/
        config.pbtxt     backend python, input `image` UINT8 [-1] (ragged), output `crack` FP32 [1, h, w],
                         dynamic batching (or not), instance group, parameters (bundle, metadata)
        1/model.py       workflows/serve/triton_model.py
        1/bundle/        only with copy_bundles: the bundle itself (a self-contained repository for
                         another machine, a stock Triton container or a KServe InferenceService)

Parameters carry what a client needs to know about the model (kind, name, input size, output
stride, threshold); a client reads them at GET /v2/models/NAME/config.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from crackedge.errors import ConfigError
from crackedge.runtime.bundle import LoadedBundle, load_bundle
from crackedge.runtime.wire import INPUT_NAME, OUTPUT_NAME

MODEL_FILE = Path(__file__).with_name("triton_model.py")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class ModelSettings:
    dynamic_batching: bool = True
    max_batch_size: int = 16
    max_queue_delay_us: int = 2000
    instances: int = 1
    requests: Optional[int] = None  # OpenVINO infer requests per instance (None: the device's optimum)
    threads: Optional[int] = None
    precision: str = "bundle"
    device: str = "CPU"


def parse_bundle_arg(text: str) -> tuple[Path, Optional[str]]:
    """`PATH` or `PATH=NAME` -> (path, name or None)."""
    path, sep, name = text.partition("=")
    if sep and not _NAME.match(name):
        raise ConfigError(f"model name {name!r} in {text!r}: use letters, digits, '_', '-', '.'")
    return Path(path), (name if sep else None)


def default_name(bundle: LoadedBundle) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", bundle.meta.model_name)
    return name if _NAME.match(name) else f"m_{name}"


def _param(key: str, value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'  {{ key: "{key}" value: {{ string_value: "{text}" }} }}'


def model_config(name: str, bundle: LoadedBundle, settings: ModelSettings, bundle_ref: str,
                 code_path: Optional[Path]) -> str:
    meta = bundle.meta
    h = meta.input.height // meta.output.stride
    w = meta.input.width // meta.output.stride
    params = {
        "bundle": bundle_ref,
        "model_kind": meta.model.kind,
        "model_name": meta.model_name,
        "input_height": meta.input.height,
        "input_width": meta.input.width,
        "output_stride": meta.output.stride,
        "threshold": meta.threshold,
        "precision": settings.precision,
        "device": settings.device,
        "requests": settings.requests or "",
        "threads": settings.threads or "",
        "crackedge_path": code_path or "",
    }
    lines = [
        f'name: "{name}"',
        'backend: "python"',
        f"max_batch_size: {settings.max_batch_size}",
        f'input [ {{ name: "{INPUT_NAME}" data_type: TYPE_UINT8 dims: [ -1 ] allow_ragged_batch: true }} ]',
        f'output [ {{ name: "{OUTPUT_NAME}" data_type: TYPE_FP32 dims: [ 1, {h}, {w} ] }} ]',
        f"instance_group [ {{ kind: KIND_CPU count: {settings.instances} }} ]",
    ]
    if settings.dynamic_batching:
        lines.append(f"dynamic_batching {{ max_queue_delay_microseconds: {settings.max_queue_delay_us} }}")
    lines.append("parameters [\n" + ",\n".join(_param(k, v) for k, v in params.items()) + "\n]")
    return "\n".join(lines) + "\n"


def write_repository(bundles: list[tuple[Path, Optional[str]]], repo: Path, settings: ModelSettings,
                     copy_bundles: bool = False) -> dict[str, LoadedBundle]:
    """Write REPO (replacing models of the same names); returns {model name: bundle}.

    copy_bundles: copy each bundle into its model folder and refer to it relatively, and do not pin
    the crackedge source folder: a repository to move to other machines.
    """
    import crackedge

    repo = Path(repo)
    code = None if copy_bundles else Path(crackedge.__file__).resolve().parents[1]
    written: dict[str, LoadedBundle] = {}
    for path, name in bundles:
        bundle = load_bundle(path)
        name = name or default_name(bundle)
        if name in written:
            raise ConfigError(f"two bundles would be served as {name!r}: name them, e.g. {path}={name}-2")
        model_dir = repo / name
        if model_dir.exists():
            shutil.rmtree(model_dir)
        version = model_dir / "1"
        version.mkdir(parents=True)
        shutil.copy2(MODEL_FILE, version / "model.py")
        if copy_bundles:
            shutil.copytree(bundle.path, version / "bundle")
            ref = "bundle"
        else:
            ref = str(bundle.path.resolve())
        (model_dir / "config.pbtxt").write_text(model_config(name, bundle, settings, ref, code))
        written[name] = bundle
    return written
