"""Spacing between saved crack frames (save.min_spacing_m / save.min_interval_s, edge.save_spacing)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from crackedge.errors import ConfigError
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.metadata import OutputSpec
from edge.config import load_edge_config
from edge.frames import Capture, Frame
from edge.measure import Measurer
from edge.metrics import Metrics
from edge.pipeline import PipelineOptions, PostprocessWorker
from edge.queues import StageQueue
from edge.save_spacing import SaveSpacing, ground_distance_m
from edge.watchdog import HeartbeatRegistry
from tests.edge_bundle_fixture import synthetic_frame

LAT0, LON0 = 52.0, 13.0
M_PER_DEG_LAT = 6_371_008.8 * np.pi / 180  # 111 195 m


def _north(metres: float) -> dict:
    return {"lat": LAT0 + metres / M_PER_DEG_LAT, "lon": LON0, "source": "nmea"}


def test_ground_distance_matches_known_figures() -> None:
    assert ground_distance_m(_north(0), _north(25.0)) == pytest.approx(25.0, abs=1e-3)
    # one degree of longitude at 60 degrees north is half of one at the equator
    eq = ground_distance_m({"lat": 0.0, "lon": 0.0}, {"lat": 0.0, "lon": 1.0})
    assert eq == pytest.approx(M_PER_DEG_LAT, rel=1e-9)
    assert ground_distance_m({"lat": 60.0, "lon": 0.0}, {"lat": 60.0, "lon": 1.0}) == pytest.approx(eq / 2, rel=2e-4)


def test_distance_spacing_saves_one_frame_per_stretch_and_none_while_stationary() -> None:
    s = SaveSpacing(min_spacing_m=5.0)
    decisions = []
    for i in range(20):  # a crack frame every 1.4 m (50 km/h at 10 FPS), then 10 frames standing still
        pos = _north(1.4 * min(i, 10))
        ok = s.allows(float(i), pos)
        if ok:
            s.saved(float(i), pos)
        decisions.append(ok)
    saved_at = [round(1.4 * min(i, 10), 1) for i, ok in enumerate(decisions) if ok]
    assert saved_at == [0.0, 5.6, 11.2]  # every saved frame >= 5 m from the one before; no save while stopped
    assert sum(decisions) == 3


def test_without_a_fix_time_spacing_applies_and_without_it_nothing_is_withheld() -> None:
    s = SaveSpacing(min_spacing_m=5.0, min_interval_s=1.0)
    s.saved(0.0, _north(0))
    assert s.allows(0.5, None) is False and s.allows(1.0, None) is True  # GPS lost: spaced by time
    assert s.allows(0.5, _north(6.0)) is True  # fix back, 6 m on: distance decides, not time
    only_distance = SaveSpacing(min_spacing_m=5.0)
    only_distance.saved(0.0, _north(0))
    assert only_distance.allows(0.1, None) is True  # no position and no time rule: never withheld
    off = SaveSpacing()
    off.saved(0.0, _north(0))
    assert not off.enabled and off.allows(0.0, _north(0)) is True
    with pytest.raises(ValueError, match="min_spacing_m=-1"):
        SaveSpacing(min_spacing_m=-1)


def _worker(**opt) -> PostprocessWorker:
    return PostprocessWorker(StageQueue("in", 2, "block"), StageQueue("out", 8, "block"),
                             MaskDecoder(OutputSpec(kind="probabilities", channels=1, crack_channel=0, stride=8), 0.5),
                             Measurer(None), None, PipelineOptions(**opt), threading.Event(),
                             HeartbeatRegistry().register("postprocess"), Metrics())


def _crack_frame(seq: int, t_mono: float, position) -> tuple[Frame, np.ndarray]:
    out = np.full((1, 1, 30, 40), 0.1, np.float32)
    out.reshape(-1)[:60] = 0.9  # 5 % crack: above the default min_crack_ratio
    cap = Capture(image=synthetic_frame(320, 240, seed=seq), t_wall=time.time(), t_mono=t_mono, full_size=(320, 240))
    return Frame(seq, "test", cap, position=position), out


def test_the_pipeline_withholds_crack_frames_within_the_spacing_and_counts_them() -> None:
    w = _worker(min_spacing_m=4.0, every_nth=6)
    results = [w.handle(_crack_frame(seq, float(seq), _north(1.5 * seq))) for seq in range(8)]
    saved = {seq: r.save_reasons for seq, r in enumerate(results) if r is not None}
    # 0 m, 4.5 m (seq 3), 9 m (seq 6, also every_nth); seq 6 is both; nothing else is saved
    assert saved == {0: ["crack", "every_nth"], 3: ["crack"], 6: ["crack", "every_nth"]}
    assert all(results[s].annotated_jpeg for s in saved)
    assert w.metrics.saved.get("skipped_spacing") == 5 and w.metrics.saved.get("skipped_threshold") == 0


def test_an_every_nth_frame_is_saved_even_within_the_spacing() -> None:
    w = _worker(min_interval_s=10.0, every_nth=2)
    results = [w.handle(_crack_frame(seq, float(seq), None)) for seq in range(4)]
    assert [r.save_reasons if r is not None else None for r in results] == [["crack", "every_nth"], None, ["every_nth"], None]
    assert w.metrics.saved.get("skipped_spacing") == 2


def test_config_accepts_spacing_and_rejects_a_negative_value(tmp_path) -> None:
    good = tmp_path / "edge.yaml"
    good.write_text(f"source: {{kind: images, path: {tmp_path}}}\nmodel: {{bundle: {tmp_path}}}\n"
                    f"save: {{out_dir: {tmp_path}, min_spacing_m: 3.5, min_interval_s: 0.5}}\n")
    cfg = load_edge_config(good)
    assert (cfg.save.min_spacing_m, cfg.save.min_interval_s) == (3.5, 0.5)
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("min_spacing_m: 3.5", "min_spacing_m: -2"))
    with pytest.raises(ConfigError, match="min_spacing_m"):
        load_edge_config(bad)
