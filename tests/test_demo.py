"""The main job end to end (smoke size): every stage runs and leaves the files a user looks at."""

from __future__ import annotations

import json

import pytest
import yaml

from workflows.demo import DemoConfig, run_demo


@pytest.mark.slow
def test_demo_runs_every_stage_end_to_end(tmp_path):
    cfg = DemoConfig(out=tmp_path, size=64, n_train=6, n_val=2, n_test=2, teacher_steps=4, student_steps=3,
                     batch_size=2, variants=1, edge_frames=4, edge_fps=8.0, frame_size=(160, 120))
    res = run_demo(cfg)
    for rel in ("teacher/best.pt", "teacher/curves.png", "teacher_cache/index.yaml", "student/best.pt",
                "student/curves.png", "bundle/model.onnx", "bundle/model.xml", "bundle/metadata.yaml",
                "eval_teacher/metrics.yaml", "eval_student/metrics.yaml", "summary.md", "data_examples.jpg"):
        assert (tmp_path / rel).is_file(), rel
    meta = yaml.safe_load((tmp_path / "bundle" / "metadata.yaml").read_text())
    assert meta["opset"] == 11 and meta["input"]["height"] == 64
    assert 0.0 <= res.figures["teacher_iou"] <= 1.0 and 0.0 <= res.figures["student_iou"] <= 1.0
    assert res.figures["edge_frames"] >= 4
    run = next((tmp_path / "edge" / "runs").iterdir())
    for sidecar in run.glob("[0-9]*.json"):
        side = json.loads(sidecar.read_text())
        assert (run / side["image"]).is_file() and side["model"]["sha256"]
    assert not list(run.glob("*.tmp"))
    # a second call reuses every stage's output instead of redoing it
    again = run_demo(cfg)
    assert again.figures["teacher_iou"] == res.figures["teacher_iou"]
