"""distill compare's report: the teacher's margin over the student alone beside the paired difference.

Fixture numbers (tests/compare_fixture.py): teacher 0.64 clean; alone 0.55, 0.56, 0.54 over seeds 0-2.
"""

from __future__ import annotations

import pytest
import yaml

from distill.compare_report import format_markdown
from tests.compare_fixture import write_compare_yaml


def test_the_teacher_margin_over_each_seed_alone_is_summarised(tmp_path):
    report = yaml.safe_load((write_compare_yaml(tmp_path / "c") / "compare.yaml").read_text())
    margin = report["summary"]["crack500"]["clean"]["iou"]["teacher - alone"]
    assert margin["values"] == pytest.approx([0.09, 0.08, 0.10])
    assert margin["mean"] == pytest.approx(0.09) and margin["sd"] == pytest.approx(0.01)
    # the dim case: teacher and alone both 0.10 lower, the same margin; the second set 0.2 lower
    assert report["summary"]["crackforest"]["dim"]["iou"]["teacher - alone"]["mean"] == pytest.approx(0.09)
    md = format_markdown(report)
    assert ("| teacher - alone (the teacher's margin) | +0.0900 ± 0.0100 | +0.0900 ± 0.0100 | +0.0900 ± 0.0100 "
            "| +0.0000 ± 0.0000 |") in md
    assert md.count("teacher - alone: the teacher's margin over each seed's student alone") == 1


def test_no_margin_without_a_scored_teacher(tmp_path):
    report = yaml.safe_load((write_compare_yaml(tmp_path / "c", teacher=False, noise=("clean",)) / "compare.yaml")
                            .read_text())
    assert "teacher - alone" not in report["summary"]["crack500"]["clean"]["iou"]
    md = format_markdown(report)
    assert "teacher - alone" not in md and "the teacher's margin" not in md


def test_the_setup_line_says_when_the_student_saw_noised_inputs(tmp_path):
    report = yaml.safe_load((write_compare_yaml(tmp_path / "c") / "compare.yaml").read_text())
    assert "noised in colour" not in format_markdown(report)
    report["budget"]["photometric"] = 0.5
    assert "views per image, 50% of inputs noised in colour and sharpness for the student)" in format_markdown(report)


def test_the_setup_line_says_when_the_runs_trained_on_windows(tmp_path):
    report = yaml.safe_load((write_compare_yaml(tmp_path / "c") / "compare.yaml").read_text())
    assert "windows" not in format_markdown(report)
    report["budget"]["crop"] = 160
    assert "views per image, trained on random 160x160 windows), run seeds" in format_markdown(report)


def test_the_training_section_says_which_validation_picked_best_pt(tmp_path):
    report = yaml.safe_load((write_compare_yaml(tmp_path / "c") / "compare.yaml").read_text())
    assert report["budget"]["val_basis"] == "input"
    assert "(images and masks resized to the training size: `--val-basis input`), which picks best.pt" in \
        format_markdown(report)
    report["budget"]["val_basis"] = "image"
    assert "(each image at its own size, as the test scores it: `--val-basis image`)" in format_markdown(report)
