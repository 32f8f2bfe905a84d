"""The remote-with-fallback backend without a server: fake remote and local backends, deadlines,
late answers, errors, the probe and backoff, results in submit order, the config keys and /metrics."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from crackedge.runtime.async_runner import AsyncRunner
from crackedge.runtime.backends.base import InferenceBackend
from crackedge.runtime.backends.fallback import FallbackBackend, probability_as
from crackedge.runtime.metadata import OutputSpec

LOCAL_SPEC = OutputSpec(kind="probabilities", channels=1, crack_channel=0, stride=4)


class FakeRemote:
    """Answers after `delay_s` with 0.9 everywhere, or fails while `down`."""

    n_requests = 4
    info = {"url": "http://fake:8000"}

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.down = False
        self.ready = True
        self.cb = None

    def set_callback(self, cb) -> None:
        self.cb = cb

    def start_async(self, blob, token) -> None:
        delay, down = self.delay_s, self.down

        def answer() -> None:
            time.sleep(delay)
            if down:
                self.cb(token, None, ConnectionRefusedError("refused"))
            else:
                self.cb(token, np.full((1, 1, 2, 2), 0.9, np.float32), None)

        threading.Thread(target=answer, daemon=True).start()

    def probe(self, timeout_s=None) -> bool:
        return self.ready and not self.down

    def infer(self, blob):
        raise ConnectionRefusedError("refused")

    def close(self) -> None:
        pass


class FakeLocal(InferenceBackend):
    n_requests = 2

    def __init__(self) -> None:
        self.info = {"device": "CPU", "precision": "f32"}
        self.cb = None

    def infer(self, blob):
        return np.full((1, 1, 2, 2), 0.1, np.float32)

    def set_callback(self, cb) -> None:
        self.cb = cb

    def start_async(self, blob, token) -> None:
        threading.Thread(target=lambda: self.cb(token, self.infer(blob), None), daemon=True).start()

    def wait_all(self) -> None:
        pass


def _run(fb: FallbackBackend, n: int, between=None) -> list[tuple[int, str]]:
    """Submit n frames through an AsyncRunner; (frame, source) in the order results come out."""
    runner = AsyncRunner(fb)
    abort = threading.Event()
    out: list[tuple[int, str]] = []

    def collect() -> None:
        while True:
            got = runner.next_result(5.0)
            assert got is not None, "a result never came"
            kind, frame, output, error = got
            if kind == "end":
                return
            assert error is None
            out.append((frame, output.produced_by["source"]))

    t = threading.Thread(target=collect)
    t.start()
    for i in range(n):
        if between is not None:
            between(i)
        runner.submit(np.zeros((1, 3, 8, 8), np.float32), i, abort)
    runner.finish()
    t.join(30)
    return out


def test_remote_answers_are_used_and_tagged() -> None:
    fb = FallbackBackend(FakeRemote(), FakeLocal(), LOCAL_SPEC, timeout_s=0.5)
    out = _run(fb, 10)
    assert out == [(i, "remote") for i in range(10)]
    assert fb.stats()["frames_remote"] == 10 and fb.stats()["switches_to_local"] == 0
    fb.close()


def test_a_refused_remote_moves_frames_local_and_the_probe_brings_it_back() -> None:
    remote = FakeRemote()
    fb = FallbackBackend(remote, FakeLocal(), LOCAL_SPEC, timeout_s=0.5, retry_initial_s=0.2, retry_max_s=0.4)

    def script(i: int) -> None:
        if i == 5:
            remote.down = True
        if i == 15:
            remote.down = False
            time.sleep(0.6)  # one probe interval: the remote is ready again
        time.sleep(0.02)

    out = _run(fb, 25, script)
    assert [f for f, _ in out] == list(range(25))  # submit order, each frame once
    sources = [s for _, s in out]
    assert sources[:5] == ["remote"] * 5 and set(sources[6:15]) == {"local"} and sources[-1] == "remote"
    st = fb.stats()
    assert st["switches_to_local"] == 1 and st["switches_to_remote"] == 1 and st["remote_errors"] >= 1
    assert st["frames_remote"] + st["frames_local"] == 25
    fb.close()


def test_a_slow_remote_times_out_within_the_timeout_and_late_answers_are_dropped() -> None:
    remote = FakeRemote()
    remote.delay_s = 1.0
    remote.ready = False
    fb = FallbackBackend(remote, FakeLocal(), LOCAL_SPEC, timeout_s=0.3, retry_initial_s=5.0)
    t0 = time.monotonic()
    out = _run(fb, 3)
    assert time.monotonic() - t0 < 0.3 + 0.5
    assert out[0] == (0, "local") and [f for f, _ in out] == [0, 1, 2]
    time.sleep(1.0)
    st = fb.stats()
    assert st["remote_timeouts"] >= 1 and st["late_remote_results"] >= 1 and st["frames_local"] == 3
    fb.close()


def test_remote_probability_in_the_local_layout() -> None:
    p = np.array([[[[0.2, 0.8]]]], np.float32)
    two = probability_as(p, OutputSpec(kind="logits", channels=2, crack_channel=1, stride=4))
    assert two.shape == (1, 2, 1, 2) and np.allclose(two[0, 0], 0) and two[0, 1, 0, 1] > 0 > two[0, 1, 0, 0]
    from crackedge.runtime.decode import MaskDecoder

    spec = OutputSpec(kind="logits", channels=2, crack_channel=1, stride=4)
    assert MaskDecoder(spec, 0.5).mask(two, (2, 1)).tolist() == [[0, 1]]


def test_config_needs_remote_and_fallback_together(tmp_path) -> None:
    from edge.config import ModelConfig

    with pytest.raises(ValueError, match="backend remote needs remote"):
        ModelConfig(backend="remote", fallback=tmp_path)
    with pytest.raises(ValueError, match="not bundle"):
        ModelConfig(backend="remote", bundle=tmp_path, fallback=tmp_path,
                    remote={"url": "http://h:8000", "model_name": "m"})
    with pytest.raises(ValueError, match="url must start with http"):
        ModelConfig(backend="remote", fallback=tmp_path, remote={"url": "h:8000", "model_name": "m"})
    cfg = ModelConfig(backend="remote", fallback=tmp_path, remote={"url": "http://h:8000", "model_name": "m"})
    assert cfg.local_bundle == tmp_path and cfg.remote.wire == "jpeg"


def test_prometheus_counts_frames_per_model_and_switches() -> None:
    from edge.metrics import Metrics
    from edge.prometheus import exposition

    m = Metrics()
    m.remote_provider = lambda: {"state": "local", "remote_model": "cracksam", "local_model": "hrnet_w18",
                                 "frames_remote": 7, "frames_local": 3, "switches_to_local": 1,
                                 "switches_to_remote": 0, "remote_timeouts": 1, "remote_errors": 0,
                                 "late_remote_results": 1}
    body, _ = exposition(m.snapshot())
    text = body.decode()
    assert 'crackedge_model_frames_total{model="cracksam",source="remote"} 7.0' in text
    assert 'crackedge_model_switches_total{to="local"} 1.0' in text and "crackedge_remote_in_use 0.0" in text
