"""The served model while the link is good, the local bundle when it is not, never a lost frame.

`FallbackBackend(remote, local, ...)` is an InferenceBackend: the pipeline's AsyncRunner submits
frames and takes results in submit order exactly as with a local model. Each frame goes to the
remote model while it is healthy. A frame whose remote request fails (connection refused, reset,
HTTP error, unusable answer) or has no answer within `timeout_s` is given to the local model at
once, and the remote is marked down: the next frames go straight to the local model. A late remote
answer for a frame already given to the local model is dropped (counted): each frame gets exactly
one result. While the remote is down a probe thread asks its health endpoint after
`retry_initial_s`, doubling up to `retry_max_s`; when it answers ready, frames go to the remote
again (the backoff starts over only after a remote answer succeeds).

Every result carries `produced_by` ({"source": "remote" | "local", "model": NAME}): the output
array is a `ModelOutput` (an ndarray subclass with that attribute); edge writes it into the sidecar.
`stats()` has the counts /metrics reports: frames per model, switches each way, timeouts, errors.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from crackedge.runtime.backends.base import DoneCallback, InferenceBackend
from crackedge.runtime.metadata import OutputSpec

log = logging.getLogger(__name__)

REMOTE, LOCAL = "remote", "local"


class ModelOutput(np.ndarray):
    """A network output that knows which model produced it (`produced_by`)."""

    produced_by: Optional[dict[str, Any]] = None

    def __array_finalize__(self, obj: Any) -> None:
        self.produced_by = getattr(obj, "produced_by", None)


def tag(output: np.ndarray, produced_by: dict[str, Any]) -> ModelOutput:
    out = np.asarray(output).view(ModelOutput)
    out.produced_by = dict(produced_by)
    return out


def probability_as(prob: np.ndarray, spec: OutputSpec) -> np.ndarray:
    """A remote crack probability [1, 1, h, w] in the local bundle's output layout, so the local
    decoder (crackedge.runtime.decode) reads it: probabilities as they are (2 channels: 1 - p, p), logits
    as the logit margin (2 channels: 0 and the margin at the crack channel)."""
    p = np.clip(prob[:, :1].astype(np.float32), 1e-7, 1 - 1e-7)
    if spec.kind == "probabilities":
        if spec.channels == 1:
            return p
        other = 1.0 - p
        return np.concatenate([p, other] if spec.crack_channel == 0 else [other, p], axis=1)
    z = np.log(p / (1.0 - p))
    if spec.channels == 1:
        return z
    zero = np.zeros_like(z)
    return np.concatenate([z, zero] if spec.crack_channel == 0 else [zero, z], axis=1)


@dataclass
class _Job:
    token: Any
    blob: np.ndarray
    deadline: float
    claimed: bool = False  # a result (remote or local) has been taken for this frame


class FallbackBackend(InferenceBackend):
    def __init__(self, remote: Any, local: InferenceBackend, local_spec: OutputSpec, timeout_s: float,
                 retry_initial_s: float = 1.0, retry_max_s: float = 30.0, remote_name: str = "remote",
                 local_name: str = "local", start_remote: bool = True) -> None:
        self.remote, self.local, self.local_spec = remote, local, local_spec
        self.timeout_s = float(timeout_s)
        self.retry_initial_s, self.retry_max_s = float(retry_initial_s), float(retry_max_s)
        self.remote_tag = {"source": REMOTE, "model": remote_name}
        self.local_tag = {"source": LOCAL, "model": local_name}
        self.n_requests = max(int(remote.n_requests), int(local.n_requests))
        self._callback: Optional[DoneCallback] = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._jobs: dict[int, _Job] = {}
        self._next_id = 0
        self._outstanding = 0  # frames submitted and not yet answered
        self.state = REMOTE if start_remote else LOCAL
        self._backoff = self.retry_initial_s
        self._retry_at = time.monotonic() + (0 if start_remote else self._backoff)
        self.counts = {"frames_remote": 0, "frames_local": 0, "switches_to_local": 0, "switches_to_remote": 0,
                       "remote_timeouts": 0, "remote_errors": 0, "late_remote_results": 0, "local_errors": 0,
                       "probes": 0}
        self.last_error: Optional[str] = None
        self._local_q: "queue.Queue[Any]" = queue.Queue()
        self._stop = threading.Event()
        remote.set_callback(self._remote_done)
        local.set_callback(self._local_done)
        self.info = {"api": "fallback", "remote": dict(getattr(remote, "info", {})),
                     "local": dict(getattr(local, "info", {})), "timeout_s": self.timeout_s,
                     "precision": getattr(local, "info", {}).get("precision"), "device": "remote+local"}
        self._threads = [threading.Thread(target=self._local_feed, name="fallback-local", daemon=True),
                         threading.Thread(target=self._watch, name="fallback-watch", daemon=True),
                         threading.Thread(target=self._prober, name="fallback-probe", daemon=True)]
        for t in self._threads:
            t.start()

    # ---- submission ------------------------------------------------------------------------
    def set_callback(self, callback: DoneCallback) -> None:
        self._callback = callback

    def start_async(self, blob: np.ndarray, userdata: Any) -> None:
        with self._lock:
            self._outstanding += 1
            use_remote = self.state == REMOTE
            if use_remote:
                jid = self._next_id
                self._next_id += 1
                self._jobs[jid] = _Job(userdata, blob, time.monotonic() + self.timeout_s)
        if use_remote:
            self.remote.start_async(blob, jid)
        else:
            self._local_q.put((blob, userdata))

    def infer(self, blob: np.ndarray) -> np.ndarray:
        """Synchronous: the remote model if it answers within the timeout, else the local one."""
        if self.state == REMOTE:
            try:
                return tag(probability_as(self.remote.infer(blob), self.local_spec), self.remote_tag)
            except Exception as err:
                self._remote_failed(f"{err}", timeout=False)
        return tag(self.local.infer(blob), self.local_tag)

    # ---- remote results --------------------------------------------------------------------
    def _claim(self, jid: int) -> Optional[_Job]:
        """Take job `jid` for a result; None when it was already answered (late) or unknown."""
        with self._lock:
            job = self._jobs.pop(jid, None)
            if job is None or job.claimed:
                return None
            job.claimed = True
            return job

    def _remote_done(self, jid: Any, output: Optional[np.ndarray], error: Optional[BaseException]) -> None:
        job = self._claim(jid)
        if job is None:
            with self._lock:
                self.counts["late_remote_results"] += 1
            return
        if error is None and output is not None:
            try:
                converted = probability_as(output, self.local_spec)
            except Exception as err:  # an answer of the wrong shape is a remote error too
                error = err
            else:
                with self._lock:
                    self.counts["frames_remote"] += 1
                    self._backoff = self.retry_initial_s  # a real answer: the next outage starts over
                self._deliver(job.token, tag(converted, self.remote_tag), None)
                return
        self._remote_failed(str(error), timeout=False)
        self._local_q.put((job.blob, job.token))

    def _remote_failed(self, why: str, timeout: bool) -> None:
        with self._lock:
            self.counts["remote_timeouts" if timeout else "remote_errors"] += 1
            self.last_error = why
            if self.state == REMOTE:
                self.state = LOCAL
                self.counts["switches_to_local"] += 1
                self._retry_at = time.monotonic() + self._backoff
                log.warning("remote model unavailable (%s): frames go to the local model %s; asking again in %.1f s",
                            why, self.local_tag["model"], self._backoff)

    def _watch(self) -> None:
        """Deadlines of remote requests."""
        tick = min(0.05, self.timeout_s / 10)
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._lock:
                late = [jid for jid, job in self._jobs.items() if not job.claimed and job.deadline <= now]
                expired = []
                for jid in late:
                    job = self._jobs.pop(jid)
                    job.claimed = True
                    expired.append(job)
            for job in expired:
                self._remote_failed(f"no answer within {self.timeout_s:g} s", timeout=True)
                self._local_q.put((job.blob, job.token))

    def _prober(self) -> None:
        """While the remote is down: ask its health endpoint when the backoff says so."""
        while not self._stop.wait(0.1):
            with self._lock:
                due = self.state == LOCAL and time.monotonic() >= self._retry_at
            if due:
                self._probe()

    def _probe(self) -> None:
        ok = bool(self.remote.probe(min(self.timeout_s, 2.0)))
        with self._lock:
            self.counts["probes"] += 1
            if ok and self.state == LOCAL:
                self.state = REMOTE
                self.counts["switches_to_remote"] += 1
                log.warning("remote model answers again: frames go to %s", self.remote_tag["model"])
            elif not ok:
                self._backoff = min(self.retry_max_s, self._backoff * 2)
                self._retry_at = time.monotonic() + self._backoff

    # ---- local -----------------------------------------------------------------------------
    def _local_feed(self) -> None:
        """Feeds the local model from one thread: its start_async may block while its requests are busy."""
        while not self._stop.is_set():
            try:
                item = self._local_q.get(timeout=0.1)
            except queue.Empty:
                continue
            blob, token = item
            try:
                self.local.start_async(blob, token)
            except Exception as err:
                self._local_done(token, None, err)

    def _local_done(self, token: Any, output: Optional[np.ndarray], error: Optional[BaseException]) -> None:
        with self._lock:
            self.counts["frames_local" if error is None else "local_errors"] += 1
        self._deliver(token, None if output is None else tag(output, self.local_tag), error)

    def _deliver(self, token: Any, output: Optional[np.ndarray], error: Optional[BaseException]) -> None:
        cb = self._callback
        try:
            if cb is not None:
                cb(token, output, error)
        finally:
            with self._lock:
                self._outstanding -= 1
                self._idle.notify_all()

    # ---- the rest of the interface -----------------------------------------------------------
    def wait_all(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._outstanding <= 0, timeout=max(5.0, 3 * self.timeout_s))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            retry = None if self.state == REMOTE else max(0.0, self._retry_at - time.monotonic())
            return {"state": self.state, "remote_model": self.remote_tag["model"], "local_model": self.local_tag["model"],
                    "url": self.info["remote"].get("url"), "retry_in_s": None if retry is None else round(retry, 2),
                    "backoff_s": self._backoff, "last_error": self.last_error, **self.counts}

    def close(self) -> None:
        self.wait_all()
        self._callback = None
        self._stop.set()
        for t in self._threads:
            t.join(2.0)
        for backend in (self.remote, self.local):
            try:
                backend.close()
            except Exception:
                log.exception("closing %s failed", type(backend).__name__)


def with_remote(opts: Any, local: InferenceBackend, local_spec: OutputSpec, input_spec: Any,
                local_name: str) -> FallbackBackend:
    """The remote model of `opts` (crackedge.runtime.options.RemoteOptions) in front of `local`."""
    from crackedge.runtime.backends.remote import RemoteBackend

    remote = RemoteBackend(opts, input_spec)
    up = remote.probe(min(opts.timeout_s, 2.0))
    if not up:
        log.warning("remote model %s at %s does not answer at start: starting on the local model %s", opts.model_name,
                    opts.url, local_name)
    fb = FallbackBackend(remote, local, local_spec, opts.timeout_s, opts.retry_initial_s, opts.retry_max_s,
                         remote_name=opts.model_name, local_name=local_name, start_remote=up)
    fb.info["wire"] = opts.wire
    return fb
