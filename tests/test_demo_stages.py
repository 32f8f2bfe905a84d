"""The demo's training stages, chained at a tiny size with another seed than 0 and with crops: the
commands they run agree with each other (the cache is made for the student's views)."""

from __future__ import annotations

import yaml

from workflows.demo import DemoConfig, DemoResult
from workflows.demo.stages import stage_cache, stage_data, stage_student, stage_teacher


def test_teacher_cache_and_student_chain_with_seed_1_and_crops(tmp_path):
    cfg = DemoConfig(out=tmp_path / "demo", size=64, n_train=8, n_val=4, n_test=4, n_unlabeled=4, teacher_steps=2,
                     student_steps=2, variants=1, teacher_crop=32, student_crop=32, seed=1, max_minutes=None)
    res = DemoResult()
    ds, frames = stage_data(cfg, res)
    teacher = stage_teacher(cfg, ds.root, res)
    cache = stage_cache(cfg, ds.root, teacher, frames, res)
    student = stage_student(cfg, ds.root, cache, frames, res)
    assert student.is_file() and res.figures["student_steps"] == "2/2"
    assert yaml.safe_load((cache / "index.yaml").read_text())["seed"] == 1
    teacher_cfg = yaml.safe_load((cfg.out / "teacher" / "config.yaml").read_text())
    student_cfg = yaml.safe_load((cfg.out / "student" / "config.yaml").read_text())
    assert teacher_cfg["data"]["crop"] == 32 and student_cfg["data"]["crop"] == 32
    assert student_cfg["data"]["seed"] == 1 and student_cfg["seed"] == 1
    assert any("2 steps on random 32x32 windows" in line for line in res.lines)
