"""`edge bench` prints the comparison figures; `edge eval` scores a bundle on a canonical dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from tests.edge_bundle_fixture import build_test_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_test_bundle(tmp_path_factory.mktemp("bundle") / "b")


def test_bench_reports_pipeline_vs_raw_inference_latency_and_memory(bundle: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", str(bundle), "--frames", "40", "--width", "320", "--height", "240", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for label in ("single inference latency", "raw async inference", "pipeline", "end-to-end latency", "RSS",
                  "daemon memory"):
        assert label in text
    r = json.loads(out.read_text())
    assert r["raw_async_fps"] > 0 and r["pipeline_fps"] > 0
    assert r["pipeline_vs_raw"] == pytest.approx(r["pipeline_fps"] / r["raw_async_fps"])
    assert r["single_inference_ms"]["median_ms"] > 0 and r["end_to_end_ms"]["median_ms"] > 0
    assert r["drops_throughput_run"] == 0  # file semantics: nothing dropped
    assert set(r["stages"]) >= {"capture", "preprocess", "infer", "postprocess"}
    assert r["stages"]["capture"]["count"] == 40
    assert r["rss_mb_peak_during_pipeline"] > 50 and r["inference"]["precision"] == "f32"
    # the daemon itself (`edge run` in a child process) replayed 100 frames and reported its peak memory
    daemon = r["daemon"]
    assert "error" not in daemon, daemon
    assert daemon["frames"] == 100 and daemon["infer_fps"] > 0
    assert 50 < daemon["rss_peak_mb"] < 2000 and daemon["rss_end_mb"] <= daemon["rss_peak_mb"]
    # the end figure split into the process's own pages and its mapped files (RssShmem is the rest)
    parts = daemon["rss_anon_end_mb"] + daemon["rss_file_end_mb"]
    assert daemon["rss_anon_end_mb"] > 10 and daemon["rss_file_end_mb"] > 10
    assert daemon["rss_end_mb"] - 1.0 <= parts <= daemon["rss_end_mb"] + 0.2
    assert "page cache" in daemon["settings"] and "mapped files (RssFile)" in text
    # what the drop left cached: at least this process's own mapped pages of OpenCV / OpenVINO, far from all
    assert 1.0 < daemon["libraries_cached_after_drop_mb"] < 400.0 and "libraries still cached" in text
    # and again from the compiled-model cache the first start wrote (every later start on the vehicle)
    assert 50 < daemon["rss_peak_warm_mb"] < 2000 and daemon["infer_fps_warm"] > 0
    assert daemon["model_cache_files"] >= 1  # the first start compiled and cached the model ...
    assert 20 < daemon["compile_child_peak_mb"] < 2000  # ... in a child process, whose peak is reported
    assert "compiling child process" in text
    assert "daemon memory, warm cache" in text


def test_eval_scores_the_bundle_on_a_canonical_dataset(bundle: Path, tmp_path: Path, capsys) -> None:
    import cv2
    import numpy as np

    from tests.edge_bundle_fixture import synthetic_frame

    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "splits").mkdir()
    names = []
    for i in range(4):
        img = synthetic_frame(96, 96, seed=i, crack=i != 3, thickness=6)
        mask = ((img[..., 0] < 60) * 255).astype(np.uint8)  # the dark line is the crack
        cv2.imwrite(str(root / "images" / f"s{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "masks" / f"s{i}.png"), mask)
        names.append(f"s{i}")
    (root / "splits" / "test.txt").write_text("\n".join(names) + "\n")
    out = tmp_path / "eval"
    assert main(["eval", str(bundle), "--data", str(root), "--out", str(out), "--overlays", "2"]) == 0
    text = capsys.readouterr().out
    assert "CrackSAM convention" in text and "ODS" in text
    m = yaml.safe_load((out / "metrics.yaml").read_text())["metrics"]["clean"]
    assert m["n_images"] == 4.0 and m["iou"] > 0.3 and m["ods_f"] > 0.3
    assert sorted(p.name for p in (out / "overlays" / "clean").iterdir()) == ["s0.jpg", "s3.jpg"]
    assert main(["eval", str(bundle), "--data", str(root), "--split", "val"]) == 2
    assert "no split 'val'" in capsys.readouterr().err


def test_daemon_memory_reports_a_daemon_that_would_not_start(tmp_path: Path) -> None:
    from edge.bench import synthetic_jpegs
    from edge.bench_daemon import daemon_memory

    result = daemon_memory(tmp_path / "no-bundle", synthetic_jpegs((64, 48), n=1), {"device": "CPU"}, frames=2)
    assert set(result) == {"error"}
    assert "edge run (first start) exited 2" in result["error"] and "no-bundle" in result["error"]
