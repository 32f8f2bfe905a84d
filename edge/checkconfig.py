"""`edge check-config`: everything the daemon checks before READY=1, without starting anything.

With the device check (the default) the model is read and compiled on the configured device with
the configured settings, exactly as `edge run` does, then released: a bundle whose hashes match but
whose weights OpenVINO rejects (a truncated model.bin re-hashed by hand, a wrong opset for the
installed OpenVINO) fails here, not on the vehicle.
"""

from __future__ import annotations

import os
from pathlib import Path

from crackedge.errors import ConfigError
from crackedge.runtime.backends import create_backend
from crackedge.runtime.bundle import load_bundle
from edge.config import HttpMjpegSource, is_live, load_edge_config
from edge.httpserve import is_loopback
from edge.sources import check_source


def check_config(path: Path, check_device: bool = True) -> str:
    """Validate the config file, the bundle (hashes), paths and (optionally) the device.

    Returns a short human summary; raises a CrackedgeError naming the first problem.
    """
    cfg = load_edge_config(path)
    src = cfg.source
    checked = check_source(src, str(path))  # the same check as `edge run`: exit 2 for a source this machine lacks
    bundle = load_bundle(cfg.model.local_bundle)
    lines = [f"{path}: OK"]
    where = getattr(src, "url", None) or getattr(src, "path", None) or getattr(src, "device", None) or getattr(src, "camera_num", "")
    lines.append(f"  source: {src.kind} {where} ({'live: keep the freshest frame' if is_live(src) else 'file: drop nothing'}); "
                 f"{checked}")
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
        f"  bundle: {cfg.model.local_bundle} ({m.model.kind} {m.model_name}, input {m.input.width}x{m.input.height} {m.input.color_order}, "
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
        backend, key = create_backend(cfg.model, bundle)  # read + compile, as `edge run` does
        try:
            info = dict(backend.info)
        finally:
            backend.close()
        lines.append(
            f"  openvino {api.version} ({api.module}): devices {', '.join(devices)}; compiled {m.models[key]} on "
            f"{cfg.model.device} (precision {info.get('precision')}, {info.get('requests')} infer requests)"
        )
        lines.append(f"  precision {info.get('precision_reason')}")
    if cfg.model.backend == "remote":
        from crackedge.runtime.backends.remote import RemoteBackend

        r = cfg.model.remote
        client = RemoteBackend(r, m.input)
        try:
            up = client.probe()
        finally:
            client.close()
        lines.append(f"  remote: {r.model_name} at {r.url} ({'ready' if up else 'NOT answering now: frames will go to the fallback'}), "
                     f"timeout {r.timeout_s} s, {r.requests} in flight, wire {r.wire}; fallback: the bundle above")
    lines.append(f"  saving to {out}/runs/<start time>/ (floor {cfg.disk.min_free_mb:.0f} MB free, policy {cfg.disk.policy})")
    if cfg.preview.enabled:
        lines.append(f"  preview: http://{cfg.preview.host}:{cfg.preview.port}/{' (token required)' if cfg.preview.token else ''}")
        if not cfg.preview.token and not is_loopback(cfg.preview.host):
            lines.append(f"  WARNING: the preview listens on {cfg.preview.host} without a token: anyone on that network can "
                         "watch the stream; set preview.token")
    if isinstance(src, HttpMjpegSource):
        lines.append(f"  stream timeouts: connect {src.connect_timeout_s} s, read {src.read_timeout_s} s, "
                     f"whole frame {src.frame_timeout_s} s")
    return "\n".join(lines)
