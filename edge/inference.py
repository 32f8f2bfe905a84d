"""Model bundle loading, preprocessing, and asynchronous inference delivered in capture order.

Everything the network needs (input size, colour order, mean/std, output layout, threshold) comes
from the bundle's metadata.yaml; every model file is checked against its SHA-256 before use.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

from crackedge.bundle import BundleError, BundleMetadata, InputSpec, load_metadata, verify_files

from edge.backends.base import InferenceBackend

log = logging.getLogger(__name__)


@dataclass
class LoadedBundle:
    path: Path
    meta: BundleMetadata

    @property
    def input_wh(self) -> tuple[int, int]:
        return (self.meta.input.width, self.meta.input.height)

    def model_file(self, key: str) -> Path:
        return self.path / self.meta.models[key]

    def model_sha256(self, key: str) -> Optional[str]:
        entry = self.meta.files.get(self.meta.models[key])
        return entry.sha256 if entry else None


def load_bundle(path: Path) -> LoadedBundle:
    """Read metadata.yaml and verify every listed file's SHA-256 (BundleError naming the file)."""
    path = Path(path)
    meta = load_metadata(path)
    verify_files(path, meta)
    for key, name in meta.models.items():
        if name not in meta.files:
            raise BundleError(f"{path / 'metadata.yaml'}: model {key} ({name}) has no recorded SHA-256; re-run `distill export`")
    return LoadedBundle(path, meta)


class Preprocessor:
    """RGB uint8 HxWx3 frame -> 1x3xHxW float32 network input, `(x - mean) / std` in the bundle's colour order.

    Uses cv2.dnn.blobFromImage (resize + mean + scale + HWC->CHW in one native call; 0.4 ms vs
    2.9 ms of numpy at 448x448). blobFromImage takes one scalar scale factor, so a per-channel std
    is applied afterwards as a multiply on the small blob. The mean is given in output channel
    order, which is what blobFromImage expects when swapRB is set.
    """

    _INTERP = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}

    def __init__(self, spec: InputSpec) -> None:
        self.size = (int(spec.width), int(spec.height))
        self.mean = tuple(float(m) for m in spec.mean)
        std = np.asarray(spec.std, dtype=np.float32)
        self.swap_rb = spec.color_order == "BGR"  # frames are RGB in memory
        self.uniform_std = bool(np.allclose(std, std[0]))
        self.scale = float(1.0 / std[0]) if self.uniform_std else 1.0
        self.inv_std = (1.0 / std).reshape(1, 3, 1, 1).astype(np.float32)
        self.interp = self._INTERP[spec.resize]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        img = rgb
        if self.interp != cv2.INTER_LINEAR and (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=self.interp)
        blob = cv2.dnn.blobFromImage(img, self.scale, self.size, self.mean, swapRB=self.swap_rb, crop=False)
        if not self.uniform_std:
            blob *= self.inv_std
        return blob


class AsyncRunner:
    """Keeps up to `backend.n_requests` inferences in flight and hands results out in submit order.

    `submit()` (one producer thread) waits for a free request slot and starts inference;
    `next_result()` (one consumer thread) returns results strictly in the order they were submitted,
    whatever order the device finishes them in. At most `window` (2 x n_requests) results may be
    submitted but not yet taken, so a slow consumer holds the producer back instead of letting
    finished outputs pile up in memory.
    """

    def __init__(self, backend: InferenceBackend) -> None:
        self.backend = backend
        self.n = max(1, int(backend.n_requests))
        self.window = 2 * self.n
        self._slots = threading.Semaphore(self.n)
        self._cond = threading.Condition()
        self._done: dict[int, tuple[Any, Optional[np.ndarray], Optional[BaseException]]] = {}
        self._started_at: dict[int, float] = {}
        self._next_submit = 0
        self._next_out = 0
        self._end_at: Optional[int] = None
        backend.set_callback(self._on_done)

    @property
    def in_flight(self) -> int:
        with self._cond:
            return len(self._started_at)

    def oldest_started(self) -> Optional[float]:
        """time.monotonic() when the oldest unfinished request started (None when idle)."""
        with self._cond:
            return min(self._started_at.values()) if self._started_at else None

    def submit(self, blob: np.ndarray, userdata: Any, abort: threading.Event, poll_s: float = 0.1, on_wait=None) -> bool:
        """Start inference on `blob`; False if `abort` was set while waiting for a free request."""
        with self._cond:
            while self._next_submit - self._next_out >= self.window:
                if abort.is_set():
                    return False
                self._cond.wait(poll_s)
                if on_wait is not None:
                    on_wait()
        while not self._slots.acquire(timeout=poll_s):
            if on_wait is not None:
                on_wait()
            if abort.is_set():
                return False
        with self._cond:
            idx = self._next_submit
            self._next_submit += 1
            self._started_at[idx] = time.monotonic()
        try:
            self.backend.start_async(blob, (idx, userdata))
        except BaseException as err:
            self._on_done((idx, userdata), None, err)
        return True

    def _on_done(self, token: Any, output: Optional[np.ndarray], error: Optional[BaseException]) -> None:
        idx, userdata = token
        with self._cond:
            self._started_at.pop(idx, None)
            self._done[idx] = (userdata, output, error)
            self._cond.notify_all()
        self._slots.release()

    def finish(self) -> None:
        """No more submissions: next_result() reports the end after the last submitted result."""
        with self._cond:
            self._end_at = self._next_submit
            self._cond.notify_all()

    def next_result(self, timeout: float) -> Optional[tuple[str, Any, Optional[np.ndarray], Optional[BaseException]]]:
        """('result', userdata, output, error) in submit order, ('end', ...) after finish(), or None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._next_out in self._done:
                    userdata, out, err = self._done.pop(self._next_out)
                    self._next_out += 1
                    self._cond.notify_all()  # the producer may be waiting for the window
                    return ("result", userdata, out, err)
                if self._end_at is not None and self._next_out >= self._end_at:
                    return ("end", None, None, None)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


def create_backend(cfg: Any, bundle: LoadedBundle) -> tuple[InferenceBackend, str]:
    """The OpenVINO backend for `cfg` (an edge.config.ModelConfig) and the bundle model key it runs."""
    from edge.backends.openvino_backend import OpenVinoBackend
    from edge.backends.openvino_compat import choose_model_key, load_openvino_api

    api = load_openvino_api()
    key = choose_model_key(bundle.meta, api.generation, cfg.model)
    precision = bundle.meta.inference_precision if cfg.precision == "bundle" else cfg.precision
    backend = OpenVinoBackend(
        bundle.model_file(key),
        device=cfg.device,
        precision=precision,
        hint=cfg.performance_hint,
        threads=cfg.threads,
        num_requests=cfg.num_requests,
        cache_dir=cfg.cache_dir,
        output_name=bundle.meta.output.name,
        api=api,
    )
    backend.info["model_key"] = key
    backend.info["model_sha256"] = bundle.model_sha256(key)
    return backend, key
