"""The main job end to end at its real size: the student bundle must find the drawn cracks, and the
daemon must leave whole frames (annotated + raw image + sidecar) behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from workflows.demo import STUDENT_IOU_FLOOR, DemoConfig, run_demo
from workflows.demo.edge_stage import check_run


@pytest.mark.slow
def test_demo_distils_a_student_that_finds_the_drawn_cracks(tmp_path):
    cfg = DemoConfig(out=tmp_path / "demo")
    res = run_demo(cfg)
    assert res.warnings == []  # no stage was cut by the minute safety net
    assert res.figures["student_iou"] >= STUDENT_IOU_FLOOR, res.figures
    assert res.figures["teacher_steps"] == f"{cfg.teacher_steps}/{cfg.teacher_steps}"
    assert res.figures["student_steps"] == f"{cfg.student_steps}/{cfg.student_steps}"
    out = cfg.out
    for rel in ("teacher/best.pt", "teacher/curves.png", "teacher_cache/index.yaml", "student/best.pt",
                "student/curves.png", "bundle/model.onnx", "bundle/model.xml", "bundle/metadata.yaml",
                "eval_teacher/metrics.yaml", "eval_student/metrics.yaml", "eval_student/overlays_clean.jpg",
                "summary.md", "data_examples.jpg", "annotated_frames.jpg"):
        assert (out / rel).is_file(), rel
    meta = yaml.safe_load((out / "bundle" / "metadata.yaml").read_text())
    assert meta["opset"] == 11 and meta["input"]["height"] == cfg.size
    assert "unlabeled images" in meta["training_data"]  # the frames without masks were used
    assert yaml.safe_load((out / "teacher_cache" / "index.yaml").read_text())["unlabeled_images"] == cfg.n_unlabeled
    # the daemon saved whole frames: every sidecar with its annotated and raw image, nothing half-written
    run = Path(res.figures["edge_run"])
    jpgs, sidecars = check_run(run)
    assert len(sidecars) >= 1 and res.figures["edge_frames"] >= cfg.edge_frames
    for side in sidecars:
        doc = json.loads(side.read_text())
        assert (run / doc["image"]).is_file() and (run / doc["raw_image"]).is_file()
        assert doc["crack_ratio"] >= 0.002 and doc["model"]["sha256"]
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*"))
    summary = (out / "summary.md").read_text()
    assert f"student bundle (OpenVINO) {res.figures['student_iou']:.3f}" in summary and "WARNING" not in summary
    assert f"{cfg.student_steps} steps on random {cfg.student_crop}x{cfg.student_crop} windows" in summary
    # a second call reuses every stage's output instead of redoing it
    again = run_demo(cfg)
    assert again.figures["student_iou"] == res.figures["student_iou"] and again.figures["minutes"] < 3
