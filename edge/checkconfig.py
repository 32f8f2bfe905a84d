"""`edge check-config`: everything the daemon checks before READY=1, without starting anything."""

from __future__ import annotations

import os
from pathlib import Path

from crackedge.errors import ConfigError
from crackedge.runtime.bundle import load_bundle
from edge.config import (
    HttpMjpegSource,
    ImageFolderSource,
    VideoFileSource,
    is_live,
    load_edge_config,
)


def check_config(path: Path, check_device: bool = True) -> str:
    """Validate the config file, the bundle (hashes), paths and (optionally) the device.

    Returns a short human summary; raises a CrackedgeError naming the first problem.
    """
    cfg = load_edge_config(path)
    bundle = load_bundle(cfg.model.bundle)
    lines = [f"{path}: OK"]
    src = cfg.source
    if isinstance(src, (VideoFileSource, ImageFolderSource)) and not Path(src.path).exists():
        raise ConfigError(f"{path}: source.path: {src.path} does not exist")
    where = getattr(src, "url", None) or getattr(src, "path", None) or getattr(src, "device", None) or getattr(src, "camera_num", "")
    lines.append(f"  source: {src.kind} {where} ({'live: keep the freshest frame' if is_live(src) else 'file: drop nothing'})")
    if cfg.measure.calib is not None and not Path(cfg.measure.calib).is_file():
        raise ConfigError(f"{path}: measure.calib: file not found: {cfg.measure.calib}")
    out = Path(cfg.save.out_dir)
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise ConfigError(f"{path}: save.out_dir: {out} is not writable (nearest existing folder {probe})")
    m = bundle.meta
    lines.append(
        f"  bundle: {cfg.model.bundle} ({m.student}, input {m.input.width}x{m.input.height} {m.input.color_order}, "
        f"output {m.output.kind} x{m.output.channels} stride {m.output.stride}, threshold {m.threshold}, hashes OK)"
    )
    if check_device:
        from crackedge.runtime.backends.openvino_compat import check_device as _check
        from crackedge.runtime.backends.openvino_compat import (
            choose_model_key,
            load_openvino_api,
        )

        api = load_openvino_api()
        key = choose_model_key(m, api.generation, cfg.model.model)
        devices = [str(d) for d in api.Core().available_devices]
        _check(cfg.model.device, devices, api.version)
        lines.append(f"  openvino {api.version} ({api.module}): devices {', '.join(devices)}; will run {m.models[key]} on {cfg.model.device}")
    lines.append(f"  saving to {out}/runs/<start time>/ (floor {cfg.disk.min_free_mb:.0f} MB free, policy {cfg.disk.policy})")
    if cfg.preview.enabled:
        lines.append(f"  preview: http://{cfg.preview.host}:{cfg.preview.port}/{' (token required)' if cfg.preview.token else ''}")
    if isinstance(src, HttpMjpegSource):
        lines.append(f"  stream timeouts: connect {src.connect_timeout_s} s, read {src.read_timeout_s} s")
    return "\n".join(lines)
