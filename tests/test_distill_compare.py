"""`distill compare` and `distill bench-steps` on a tiny synthetic dataset with a tiny CrackSAM teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from crackedge.errors import ConfigError
from distill.cli import main
from distill.compare import CompareOptions, auto_variants, run_compare
from tests.test_distill_train import SIZE, STUDENT, tiny_data_and_teacher

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """A tiny synthetic dataset and a tiny CrackSAM teacher checkpoint (random weights, 64 px)."""
    tmp = tmp_path_factory.mktemp("compare")
    data, _, teacher = tiny_data_and_teacher(tmp, seed=4, n_test=2)
    return {"tmp": tmp, "data": data, "teacher": teacher}


def _opts(setup, out: Path, **kw) -> CompareOptions:
    base = dict(data=setup["data"], out=out, teacher_checkpoint=setup["teacher"], student=STUDENT, size=SIZE,
                steps=2, batch_size=2, eval_every=2, noise=("clean", "dim"), progress=False, threads=2)
    return CompareOptions(**{**base, **kw})


@pytest.fixture(scope="module")
def compared(setup):
    out = setup["tmp"] / "cmp"
    return out, run_compare(_opts(setup, out))


def test_compare_trains_exports_and_scores_both_students(compared):
    from crackedge.runtime.metadata import load_metadata
    from distill.checkpoints import load_student_checkpoint

    out, result = compared
    assert set(result.runs) == {"kd", "none"}
    for run in ("kd", "none"):
        assert result.runs[run].steps == 2 and result.runs[run].wall_s > 0
        assert load_metadata(out / run / "bundle").student == STUDENT
        assert (out / run / "eval" / "metrics.yaml").is_file()
    assert load_student_checkpoint(out / "kd" / "best.pt").teacher == "cracksam-tiny-none"
    assert load_student_checkpoint(out / "none" / "best.pt").teacher is None
    # the KD run read the cache made once here; both runs saw the same augmentation views
    assert (out / "teacher_cache" / "index.yaml").is_file()
    kd_cfg = yaml.safe_load((out / "kd" / "config.yaml").read_text())
    none_cfg = yaml.safe_load((out / "none" / "config.yaml").read_text())
    assert kd_cfg["teacher"]["cache"] == str(out / "teacher_cache") and none_cfg["teacher"]["kind"] == "none"
    assert {k: v for k, v in kd_cfg.items() if k != "teacher"} == {k: v for k, v in none_cfg.items() if k != "teacher"}
    assert kd_cfg["data"]["variants"] == auto_variants(2, 2, 4) == 1


def test_compare_report_has_teacher_and_both_students_per_noise_case(compared):
    out, result = compared
    saved = yaml.safe_load((out / "compare.yaml").read_text())
    assert list(saved["rows"]) == ["teacher", "kd", "none"]
    for row in saved["rows"].values():
        assert set(row["metrics"]) == {"clean", "dim"}
        assert all(0.0 <= row["metrics"][c][k] <= 1.0 for c in ("clean", "dim") for k in ("iou", "f1", "ods_f", "miou"))
    assert saved["test_images"] == 2 and saved["budget"]["steps"] == 2
    md = (out / "compare.md").read_text()
    assert md == result.table
    for text in ("teacher cracksam-tiny-none", f"{STUDENT} + CWD", f"{STUDENT} alone", "CWD - alone",
                 "noise `clean`", "noise `dim`", "| student + CWD | logit cache", "CrackSAM convention"):
        assert text in md, text
    kd = saved["rows"]["kd"]["metrics"]["clean"]["iou"]
    alone = saved["rows"]["none"]["metrics"]["clean"]["iou"]
    assert f"| CWD - alone | | {kd - alone:+.4f} |" in md


def test_compare_rerun_reuses_every_stage(setup, compared, monkeypatch):
    import crackedge.evaluation.bundle as bundle_eval
    import crackedge.evaluation.loop as evaluation
    import distill.export.bundle_export as bundle_export
    import distill.logit_cache_setup as cache_setup
    import distill.train as train
    import teacher.cache_logits

    out, first = compared

    def boom(*a, **k):
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr(train, "train_student", boom)
    monkeypatch.setattr(bundle_export, "export_bundle", boom)
    monkeypatch.setattr(bundle_eval, "evaluate_bundle", boom)
    monkeypatch.setattr(evaluation, "evaluate", boom)
    monkeypatch.setattr(teacher.cache_logits, "cache_teacher_logits", boom)
    assert cache_setup.cache_fits(out / "teacher_cache", setup["data"], SIZE, 0, 1, setup["teacher"])
    again = run_compare(_opts(setup, out))
    assert again.metrics == first.metrics


def test_compare_refuses_a_folder_of_other_settings(setup, compared):
    out, _ = compared
    with pytest.raises(ConfigError, match=r"optim.steps: 2 there, 3 now.*another --out"):
        run_compare(_opts(setup, out, steps=3))


def test_compare_needs_a_teacher_and_a_matching_size(setup, tmp_path):
    with pytest.raises(ConfigError, match="--teacher-checkpoint PATH"):
        run_compare(_opts(setup, tmp_path / "a", teacher_checkpoint=None))
    with pytest.raises(ConfigError, match="pass --size 64"):
        run_compare(_opts(setup, tmp_path / "b", size=96))


def test_bench_steps_prints_the_three_modes(setup, tmp_path, capsys):
    rc = main(["bench-steps", "--data", str(setup["data"]), "--teacher-checkpoint", str(setup["teacher"]),
               "--student", STUDENT, "--size", str(SIZE), "--batch-size", "2", "--steps", "2", "--warmup", "1",
               "--out", str(tmp_path / "bench"), "--threads", "2", "--json", str(tmp_path / "steps.json")])
    assert rc == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in
             ("student-only", "cwd-cache", "cwd-online")}
    assert set(lines) == {"student-only", "cwd-cache", "cwd-online"}
    assert lines["student-only"].rstrip().endswith("1.00x")
    assert "cache / student-only step time:" in out and "goal <= 1.2x" in out
    # the teacher's share is zero without a teacher and measured with one
    assert float(lines["student-only"].split()[3]) == 0.0
    assert float(lines["cwd-online"].split()[3]) > 0.0
    # the JSON is what bench-report reads: same modes, same ratio as printed
    from workflows.bench.distill_cost import distill_cost_section

    section = distill_cost_section(tmp_path / "steps.json")
    assert set(section["modes"]) == {"student-only", "cwd-cache", "cwd-online"}
    assert section["context"]["size"] == SIZE and section["context"]["batch_size"] == 2
    printed = float(out.split("cache / student-only step time:")[1].split("x")[0])
    assert section["cache_vs_student_only"] == pytest.approx(printed, abs=0.006)
