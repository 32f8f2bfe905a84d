"""A model on a KServe v2 server (Triton: `crackedge serve`) behind the InferenceBackend interface.

The vehicle side of the paper's cloud deployment, torch-free: `tritonclient[http]` (imported here
only). Each of `requests` worker threads owns one HTTP client (the tritonclient HTTP client is not
shared across threads) and sends the frame as `wire` says (crackedge.runtime.wire: by default the
JPEG of the network-size image). The answer is the crack probability [1, 1, h, w].

On its own this backend reports every failure to the callback; crackedge.runtime.backends.fallback
wraps it with the local bundle, the timeout, the backoff and the counts.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Optional

import numpy as np

from crackedge.errors import MissingDependencyError
from crackedge.runtime import wire
from crackedge.runtime.backends.base import DoneCallback, InferenceBackend
from crackedge.runtime.metadata import InputSpec
from crackedge.runtime.options import RemoteOptions

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'tritonclient[http]' (in `pip install 'crackedge[edge]'`; no torch)"


def _tritonclient():
    try:
        import tritonclient.http as http
    except ImportError as err:
        raise MissingDependencyError(f"model.backend remote needs the KServe v2 client ({err}): {INSTALL_HINT}") from None
    return http


def split_url(url: str) -> tuple[str, bool]:
    """'https://host:8000/prefix' -> ('host:8000/prefix', True) as tritonclient wants it."""
    ssl = url.startswith("https://")
    return url.split("://", 1)[1].rstrip("/"), ssl


class RemoteError(RuntimeError):
    """The server did not answer, answered an error, or answered something unusable."""


class RemoteBackend(InferenceBackend):
    def __init__(self, opts: RemoteOptions, input_spec: InputSpec) -> None:
        self.http = _tritonclient()
        self.opts = opts
        self.spec = input_spec
        self.n_requests = opts.requests
        self.hostport, self.ssl = split_url(opts.url)
        self._callback: Optional[DoneCallback] = None
        self._jobs: "queue.Queue[Any]" = queue.Queue()
        self._stop = threading.Event()
        self._sync_client = None
        self._sync_lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition()
        self.info = {"api": "KServe v2 HTTP (tritonclient)", "url": opts.url, "model": opts.model_name,
                     "wire": opts.wire, "requests": opts.requests, "timeout_s": opts.timeout_s}
        self._workers = [threading.Thread(target=self._work, name=f"remote-{i}", daemon=True) for i in range(opts.requests)]
        for t in self._workers:
            t.start()

    def client(self):
        timeout = self.opts.timeout_s
        return self.http.InferenceServerClient(self.hostport, ssl=self.ssl, connection_timeout=timeout,
                                               network_timeout=timeout)

    def request(self, client, blob: np.ndarray) -> np.ndarray:
        """One inference on `client`: the frame as the wire payload -> crack probability [1, 1, h, w]."""
        payload = wire.payload_for(blob, self.spec, self.opts.wire, self.opts.jpeg_quality)
        inp = self.http.InferInput(wire.INPUT_NAME, [1, int(payload.size)], "UINT8")
        inp.set_data_from_numpy(payload[None], binary_data=True)
        out = self.http.InferRequestedOutput(wire.OUTPUT_NAME, binary_data=True)
        try:
            result = client.infer(self.opts.model_name, [inp], outputs=[out], headers=self.opts.headers or None)
            prob = result.as_numpy(wire.OUTPUT_NAME)
        except Exception as err:  # connection refused/reset, timeouts, HTTP errors: all mean "not now"
            raise RemoteError(f"{self.opts.url} model {self.opts.model_name}: {type(err).__name__}: {err}") from None
        if prob is None or prob.ndim != 4 or prob.shape[:2] != (1, 1) or not np.isfinite(prob).all():
            raise RemoteError(f"{self.opts.url} answered an unusable output {None if prob is None else prob.shape}")
        return prob.astype(np.float32, copy=False)

    def _work(self) -> None:
        client = None
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=0.25)
            except queue.Empty:
                continue
            if job is None:
                break
            blob, userdata = job
            try:
                if client is None:
                    client = self.client()
                out, err = self.request(client, blob), None
            except Exception as error:
                out, err = None, error
                client = None  # a fresh connection for the next request
            cb = self._callback
            try:
                if cb is not None:
                    cb(userdata, out, err)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def probe(self, timeout_s: Optional[float] = None) -> bool:
        """True when the server says it and the model are ready (a quick health request)."""
        timeout = timeout_s or self.opts.timeout_s
        try:
            client = self.http.InferenceServerClient(self.hostport, ssl=self.ssl, connection_timeout=timeout,
                                                     network_timeout=timeout)
            try:
                return bool(client.is_server_ready(headers=self.opts.headers or None)
                            and client.is_model_ready(self.opts.model_name, headers=self.opts.headers or None))
            finally:
                client.close()
        except Exception:
            return False

    def infer(self, blob: np.ndarray) -> np.ndarray:
        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = self.client()
            try:
                return self.request(self._sync_client, blob)
            except RemoteError:
                self._sync_client = None
                raise

    def set_callback(self, callback: DoneCallback) -> None:
        self._callback = callback

    def start_async(self, blob: np.ndarray, userdata: Any) -> None:
        with self._idle:
            self._pending += 1
        self._jobs.put((blob, userdata))

    def wait_all(self, timeout_s: Optional[float] = None) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._pending <= 0, timeout_s)

    def close(self) -> None:
        self._callback = None
        self._stop.set()
        for _ in self._workers:
            self._jobs.put(None)
