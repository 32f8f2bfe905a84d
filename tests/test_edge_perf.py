"""The host side keeps up (issue 16): work only for frames that need it, the stride-level save
decision, the single-buffer overlay, reused network inputs, the per-step breakdown, the heap settings."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.metadata import OutputSpec
from crackedge.runtime.preprocess import Preprocessor, default_input_spec
from edge import pipeline as pipeline_mod
from edge import stages as stages_mod
from edge.breakdown import STEPS, StepCosts
from edge.frames import Capture, Frame
from edge.measure import Measurer
from edge.metrics import Metrics
from edge.pipeline import InputPool, PipelineOptions, PostprocessWorker
from edge.postprocess import annotate_frame, annotate_frame_reference
from edge.preview import FrameHub
from edge.queues import StageQueue
from edge.watchdog import HeartbeatRegistry
from tests.edge_bundle_fixture import build_test_bundle, synthetic_frame

PROB = OutputSpec(kind="probabilities", channels=1, crack_channel=0, stride=8)


class CountingMeasurer(Measurer):
    def __init__(self) -> None:
        super().__init__(None)
        self.calls = 0

    def measure(self, mask: np.ndarray) -> dict[str, Any]:
        self.calls += 1
        return {"area_px": int(mask.sum()), "bbox_xywh": None, "components": 1}


def _worker(monkeypatch, hub=None, **opt) -> tuple[PostprocessWorker, dict[str, int], CountingMeasurer]:
    calls = {"annotate": 0, "encode": 0}
    real_annotate, real_encode = stages_mod.annotate_frame, stages_mod.encode_jpeg

    def annotate(*a, **k):
        calls["annotate"] += 1
        return real_annotate(*a, **k)

    def encode(*a, **k):
        calls["encode"] += 1
        return real_encode(*a, **k)

    monkeypatch.setattr(stages_mod, "annotate_frame", annotate)  # where PostprocessWorker looks them up
    monkeypatch.setattr(stages_mod, "encode_jpeg", encode)
    measurer = CountingMeasurer()
    w = PostprocessWorker(StageQueue("in", 2, "block"), StageQueue("out", 8, "block"), MaskDecoder(PROB, 0.5), measurer,
                          hub, PipelineOptions(**opt), threading.Event(), HeartbeatRegistry().register("postprocess"),
                          Metrics())
    return w, calls, measurer


def _item(seq: int, crack_cells: int) -> tuple[Frame, np.ndarray]:
    """A 320x240 frame and a 1x1x30x40 probability output with `crack_cells` cells above 0.5."""
    out = np.full((1, 1, 30, 40), 0.1, np.float32)
    out.reshape(-1)[:crack_cells] = 0.9
    cap = Capture(image=synthetic_frame(320, 240, seed=seq), t_wall=time.time(), t_mono=time.monotonic(), full_size=(320, 240))
    return Frame(seq, "test", cap), out


def test_a_frame_neither_saved_nor_previewed_is_never_measured_overlaid_or_encoded(monkeypatch) -> None:
    w, calls, measurer = _worker(monkeypatch, min_crack_ratio=0.01)
    for seq in range(5):
        assert w.handle(_item(seq, crack_cells=3)) is None  # 3 of 1200 cells = 0.0025 < 0.01: not saved
    assert calls == {"annotate": 0, "encode": 0} and measurer.calls == 0
    assert w.metrics.saved.get("skipped_threshold") == 5
    steps = w.steps.snapshot()
    assert steps["frames"] == 5 and steps["steps"]["mask"]["runs"] == 5
    assert all(steps["steps"][s]["runs"] == 0 for s in ("measure", "overlay", "encode", "preview"))

    saved = w.handle(_item(9, crack_cells=60))  # 0.05: saved, with a full-size mask, measured, drawn, encoded once
    assert saved is not None and saved.save_reasons == ["crack"] and saved.annotated_jpeg
    assert saved.mask.shape == (240, 320) and saved.crack_pixels == int(saved.mask.sum()) > 0
    assert calls == {"annotate": 1, "encode": 1} and measurer.calls == 1


def test_preview_frames_are_drawn_at_the_preview_rate_and_a_saved_frame_is_reused(monkeypatch) -> None:
    hub = FrameHub(max_fps=1000.0, always=True)
    w, calls, measurer = _worker(monkeypatch, hub=hub, min_crack_ratio=0.01, preview_width=640)
    w.handle(_item(0, crack_cells=3))  # previewed, not saved: drawn and encoded for the preview; no calib measurement
    assert calls == {"annotate": 1, "encode": 1} and measurer.calls == 0 and hub.latest()[0] == 1
    w.handle(_item(1, crack_cells=60))  # saved and previewed: one drawing, one encoding serves both
    assert calls == {"annotate": 2, "encode": 2} and measurer.calls == 1 and hub.latest()[0] == 2
    hub.period = 3600.0  # the preview is not due again for an hour
    for seq in range(2, 6):
        w.handle(_item(seq, crack_cells=3))
    assert calls == {"annotate": 2, "encode": 2} and hub.latest()[0] == 2


def test_crack_ratio_at_the_output_resolution_agrees_with_the_full_size_mask(tmp_path: Path) -> None:
    """The save decision samples the output's bilinear surface (stride 4 here, 24x32 cells) instead of
    thresholding a full-size mask. On thin and thick crack frames the two agree within 10 % of the
    ratio plus one output cell's share; counting whole cells would not (faint thin cracks)."""
    from crackedge.runtime.backends import open_model
    from crackedge.runtime.bundle import load_bundle

    bundle = load_bundle(build_test_bundle(tmp_path / "b", height=96, width=128, stride=4))
    backend = open_model(bundle.model_file("ir_fp16"), precision="f32")
    pre, dec = Preprocessor(bundle.meta.input), MaskDecoder(bundle.meta.output, bundle.meta.threshold)
    cell = 1.0 / (24 * 32)
    ratios, cell_counts = [], []
    for seq in range(12):
        img = synthetic_frame(320, 240, seed=seq, crack=seq % 4 != 0, thickness=4 + seq)
        out = backend.infer(pre(img))
        r, full = dec.crack_ratio(out), float(dec.mask(out, (320, 240)).mean())
        ratios.append((r, full))
        assert abs(r - full) <= 0.10 * full + cell, (seq, r, full)
        cell_counts.append(float((dec.score_map(out) > dec.cut).mean()))
    assert sum(full > 0.01 for _, full in ratios) >= 4  # the frames do carry cracks
    assert sum(full == 0 for _, full in ratios) >= 3 and all(r == 0 for r, full in ratios if full == 0)
    # whole cells overstate the thin ones (why the decoder samples the surface)
    assert max(c - full for c, (_, full) in zip(cell_counts, ratios)) > 0.10 * 0.01 + cell


def test_annotate_frame_draws_the_reference_overlay_in_one_buffer() -> None:
    rng = np.random.default_rng(1)
    img = synthetic_frame(320, 240, seed=4)
    blob = (rng.random((30, 40)) > 0.7).astype(np.uint8)
    for mask in (np.zeros((240, 320), np.uint8), np.kron(blob, np.ones((8, 8), np.uint8))):
        buf = np.empty_like(img)
        out = annotate_frame(img, mask, ["2026-12-01 10:00:00", "crack 1.00% (5 px)"], 0.55, True, out=buf)
        ref = annotate_frame_reference(img, mask, ["2026-12-01 10:00:00", "crack 1.00% (5 px)"], 0.55, True)
        assert out is buf and out.shape == ref.shape
        assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1  # the blend rounds where the reference truncates
    assert np.array_equal(img, synthetic_frame(320, 240, seed=4))  # the frame itself is untouched


def test_preprocessor_writes_into_the_given_input() -> None:
    pre = Preprocessor(default_input_spec(64, 96))
    img = synthetic_frame(160, 120, seed=2)
    buf = pre.new_input()
    out = pre(img, out=buf)
    assert out is buf or np.shares_memory(out, buf)
    assert np.array_equal(buf, pre(img))
    with pytest.raises(ValueError, match="C-contiguous float32"):
        pre(img, out=np.empty((1, 3, 32, 32), np.float32))


def test_uint8_preprocessor_only_resizes_into_the_given_input() -> None:
    """model.input_tensor u8: the host resizes (as the float path does, on the uint8 image) and leaves the
    rest to the model; 1xHxWx3 uint8, written into the pooled input."""
    import cv2

    spec = default_input_spec(64, 96)
    pre = Preprocessor(spec, "u8")
    img = synthetic_frame(160, 120, seed=2)
    buf = pre.new_input()
    assert buf.shape == (1, 64, 96, 3) and buf.dtype == np.uint8
    assert pre(img, out=buf) is buf
    assert np.array_equal(buf[0], cv2.resize(img, (96, 64), interpolation=cv2.INTER_LINEAR))
    same = synthetic_frame(96, 64, seed=5)
    assert np.array_equal(pre(same)[0], same)  # already at the network size: copied as it is
    with pytest.raises(ValueError, match="C-contiguous uint8 array of shape \\(1, 64, 96, 3\\)"):
        pre(img, out=np.empty((1, 3, 64, 96), np.float32))
    with pytest.raises(ValueError, match="tensor must be 'f32' or 'u8'"):
        Preprocessor(spec, "f16")  # type: ignore[arg-type]


def test_input_pool_reuses_inputs_but_never_one_that_is_still_held() -> None:
    pool = InputPool(Preprocessor(default_input_spec(32, 32)), limit=2)
    a = pool.take()
    import sys

    refs = sys.getrefcount(a)
    assert pool.give(a, refs) and pool.take() is a  # only the caller held it: reused
    kept = [a]  # e.g. a backend that keeps the array it was handed
    refs = sys.getrefcount(a)
    assert not pool.give(a, refs) and pool.take() is not a
    assert kept


def test_pipeline_reuses_network_inputs_with_openvino(tmp_path: Path) -> None:
    from crackedge.runtime.bundle import load_bundle
    from edge.bench import MemoryJpegSource, run_pipeline
    from edge.config import ModelConfig
    from tests.edge_bundle_fixture import encode_jpeg

    path = build_test_bundle(tmp_path / "b")
    bundle = load_bundle(path)
    from crackedge.runtime.backends import create_backend

    backend, _ = create_backend(ModelConfig(bundle=path), bundle)
    made: list[int] = []
    real_init = pipeline_mod.Pipeline.__init__

    def init(self, *a, **k):
        real_init(self, *a, **k)
        made.append(self)

    pipeline_mod.Pipeline.__init__ = init
    try:
        jpegs = [encode_jpeg(synthetic_frame(320, 240, seed=s)) for s in range(3)]
        steps = StepCosts()
        r = run_pipeline(backend, bundle, MemoryJpegSource(jpegs, bundle.input_wh, 30), False, tmp_path / "out", steps=steps)
    finally:
        pipeline_mod.Pipeline.__init__ = real_init
        backend.close()
    assert len(r["results"]) == 30
    assert made[0].inputs.made <= 4  # 30 frames, a handful of inputs
    snap = steps.snapshot(budget_ms=10.0)
    assert snap["frames"] == 30 and set(snap["steps"]) == set(STEPS)
    for s in ("decode", "preprocess", "submit", "wait", "mask"):
        assert snap["steps"][s]["runs"] == 30, s
    assert snap["steps"]["write"]["runs"] == r["saved"]["frames"] > 0
    assert snap["host_cpu_ms_per_frame"] > 0 and snap["host_share_of_budget"] == pytest.approx(
        snap["host_cpu_ms_per_frame"] / 10.0, abs=1e-3)


def test_step_costs_per_frame_and_share_of_the_budget() -> None:
    c = StepCosts()
    for _ in range(4):
        c.add("decode", 0.002, 0.003)
        c.frame_done()
    c.add("write", 0.004, 0.010)
    c.add("wait", 1.0, 1.0)
    s = c.snapshot(budget_ms=10.0)
    assert s["steps"]["decode"] == {"runs": 4, "cpu_ms_per_frame": 2.0, "wall_ms_per_frame": 3.0, "cpu_ms_per_run": 2.0,
                                    "share_of_budget": 0.2}
    assert s["steps"]["write"]["cpu_ms_per_frame"] == 1.0 and s["steps"]["write"]["cpu_ms_per_run"] == 4.0
    assert s["host_cpu_ms_per_frame"] == 3.0 and s["host_share_of_budget"] == 0.3  # waiting is not host work


def test_heap_settings_apply_on_glibc() -> None:
    from edge import memory

    if memory._glibc() is None:
        pytest.skip("not glibc")
    assert memory.tune_malloc() is True
    junk = [bytearray(1 << 20) for _ in range(8)]
    del junk
    memory.release_free_memory()  # returns whether anything was released; must not fail


def test_int8_ir_on_an_amx_cpu_runs_without_amx_weight_packing(monkeypatch) -> None:
    """The INT8 IR must not cost more memory than the FP16 one: AMX packing costs ~110 MB (edge.memory)."""
    import os

    from edge import memory

    amx = ["avx512_bf16", "amx_bf16", "avx512_fp16"]
    monkeypatch.setattr(memory.platform, "machine", lambda: "x86_64")
    monkeypatch.delenv(memory.ISA_VARIABLE, raising=False)
    assert memory.lean_int8_isa("CPU", "ir_fp16", "bf16", amx) is None  # the FP16 IR needs AMX for bf16 speed
    assert memory.lean_int8_isa("CPU", "ir_int8", "f16", amx) is None  # f16 needs AVX512-FP16: left alone
    assert memory.lean_int8_isa("MYRIAD", "ir_int8", "f32", amx) is None
    assert memory.lean_int8_isa("CPU", "ir_int8", "f32", ["avx512_bf16"]) is None  # no AMX, nothing packed
    assert memory.ISA_VARIABLE not in os.environ
    for precision in ("f32", "bf16", "auto"):  # what auto resolves to is not asked: asking reads the variable
        assert memory.lean_int8_isa("CPU", "ir_int8", precision, amx) == "AVX512_CORE_BF16"
        assert os.environ[memory.ISA_VARIABLE] == "AVX512_CORE_BF16"
        monkeypatch.delenv(memory.ISA_VARIABLE)
    monkeypatch.setenv(memory.ISA_VARIABLE, "ALL")  # the unit (or the user) keeps AMX: that wins
    assert memory.lean_int8_isa("CPU", "ir_int8", "f32", amx) is None
    assert os.environ[memory.ISA_VARIABLE] == "ALL"
    monkeypatch.setattr(memory.platform, "machine", lambda: "aarch64")  # a Pi: no x86 ISA names
    monkeypatch.delenv(memory.ISA_VARIABLE)
    assert memory.lean_int8_isa("CPU", "ir_int8", "f32", amx) is None


def test_the_isa_cap_follows_the_model_the_backend_will_run(tmp_path: Path, monkeypatch) -> None:
    """edge run and edge bench resolve model.model as create_backend does; the precision is the request."""
    import os

    from crackedge.runtime.bundle import load_bundle
    from edge import memory
    from edge.config import ModelConfig

    path = build_test_bundle(tmp_path / "b")
    bundle = load_bundle(path)
    monkeypatch.setattr(memory.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr("crackedge.runtime.backends.openvino_compat.cpu_isa_flags", lambda: ["amx_bf16"])
    monkeypatch.delenv(memory.ISA_VARIABLE, raising=False)
    assert memory.lean_int8_isa_for(ModelConfig(bundle=path), bundle) is None  # auto: the FP16 IR
    assert memory.ISA_VARIABLE not in os.environ
    bundle.meta.models["ir_int8"] = bundle.meta.models["ir_fp16"]  # stands in for an INT8 IR
    assert memory.lean_int8_isa_for(ModelConfig(bundle=path, model="ir_int8"), bundle) == "AVX512_CORE_BF16"
    monkeypatch.delenv(memory.ISA_VARIABLE)
    assert memory.lean_int8_isa_for(ModelConfig(bundle=path, model="ir_int8", precision="f16"), bundle) is None
    assert memory.lean_int8_isa_for(ModelConfig(bundle=path, model="ir_int8", device="MYRIAD"), bundle) is None


def test_bench_daemon_only_reports_the_daemon_memory(tmp_path: Path, capsys) -> None:
    import json

    from edge.cli import main

    path = build_test_bundle(tmp_path / "b")
    out = tmp_path / "mem.json"
    assert main(["bench", str(path), "--daemon-only", "--performance-hint", "LATENCY", "--num-requests", "2",
                 "--width", "320", "--height", "240", "--json", str(out)]) == 0
    assert "daemon memory" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert r["model"]["performance_hint"] == "LATENCY" and r["model"]["num_requests"] == 2
    assert "error" not in r["daemon"], r["daemon"]
    assert r["daemon"]["frames"] == 100 and 50 < r["daemon"]["rss_peak_mb"] < 2000


@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_preprocessor_without_blob_params_matches_the_one_pass_path(order: str) -> None:
    """OpenCV older than 4.8 (a Pi's apt OpenCV) has no blobFromImageWithParams: the fallback gives the same input."""
    spec = default_input_spec(64, 96).model_copy(update={"color_order": order})
    fast, old = Preprocessor(spec), Preprocessor(spec)
    old.params = None
    img = synthetic_frame(160, 120, seed=3)
    buf = old.new_input()
    assert old(img, out=buf) is buf
    np.testing.assert_allclose(buf, fast(img), rtol=0, atol=1e-5)
    np.testing.assert_allclose(old(img), fast(img), rtol=0, atol=1e-5)
