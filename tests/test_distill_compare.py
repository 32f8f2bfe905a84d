"""`distill compare` (seeds, labeled fraction, evaluation sets, budgets) and `distill bench-steps` on a tiny
synthetic dataset with a tiny CrackSAM teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from crackedge.errors import ConfigError
from distill.cli import main
from distill.compare import CompareOptions, parse_eval_set, run_compare
from distill.train_config import DistillTrainConfig
from tests.helpers.tiny_distill_setup import SIZE, STUDENT, tiny_data_and_teacher

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """A tiny synthetic dataset, a second one to score on, and a tiny CrackSAM teacher (random, 64 px)."""
    from crackedge.synth import write_synthetic_dataset

    tmp = tmp_path_factory.mktemp("compare")
    data, _, teacher = tiny_data_and_teacher(tmp, seed=4, n_test=2)
    other = tmp / "other"
    write_synthetic_dataset(other, n_train=0, n_val=0, n_test=3, size=(80, 96), seed=9, progress=False)
    return {"tmp": tmp, "data": data, "teacher": teacher, "other": other}


def _train(setup, **data) -> DistillTrainConfig:
    return DistillTrainConfig.model_validate({
        "student": {"name": STUDENT, "size": SIZE},
        "teacher": {"checkpoint": str(setup["teacher"])},
        "data": {"root": str(setup["data"]), **data},
        "loss": {"soft": "kl"},
        "optim": {"steps": 2, "batch_size": 2, "warmup_steps": 1, "eval_every": 2},
        "device": "cpu",
    })


def _opts(setup, out: Path, train: DistillTrainConfig | None = None, **kw) -> CompareOptions:
    sets = [parse_eval_set(setup["data"], "test", set()), parse_eval_set(f"{setup['other']}:all", "test", {"data"})]
    base = dict(train=train or _train(setup), out=out, seeds=(0, 1), eval_sets=sets, noise=("clean", "dim"),
                progress=False, threads=2, parity_images=2)
    return CompareOptions(**{**base, **kw})


@pytest.fixture(scope="module")
def compared(setup):
    """A whole compare (3 seeds x 2 runs, exports, evaluation): ~50 s on 2 busy cores, so its users are `slow`,
    as are the tests that run a compare of their own (~25-30 s each)."""
    out = setup["tmp"] / "cmp"
    return out, run_compare(_opts(setup, out))


@pytest.mark.slow
def test_every_seed_trains_both_runs_on_one_cache(compared):
    from crackedge.runtime.metadata import load_metadata
    from distill.checkpoints import load_student_checkpoint

    out, result = compared
    assert set(result.runs) == {"seed0/kd", "seed0/alone", "seed1/kd", "seed1/alone"}
    for key, rec in result.runs.items():
        assert rec.steps == rec.planned_steps == 2 and not rec.stopped_by_budget
        assert load_metadata(out / key / "bundle").student == STUDENT
        assert (out / key / "eval" / "data" / "metrics.yaml").is_file()
        assert (out / key / "eval" / "other" / "metrics.yaml").is_file()
    assert load_student_checkpoint(out / "seed0/kd/best.pt").teacher == "cracksam-tiny-none"
    assert load_student_checkpoint(out / "seed0/alone/best.pt").teacher is None
    kd = yaml.safe_load((out / "seed1/kd/config.yaml").read_text())
    alone = yaml.safe_load((out / "seed1/alone/config.yaml").read_text())
    assert kd["teacher"]["cache"] == str(out / "teacher_cache") and alone["teacher"]["kind"] == "none"
    assert kd["seed"] == alone["seed"] == 1 and kd["data"] == alone["data"] and kd["optim"] == alone["optim"]
    assert kd["loss"]["soft"] == "kl" and alone["loss"]["soft"] == "cwd"  # the default: alone has no soft loss
    # two seeds start from different weights
    w0 = load_student_checkpoint(out / "seed0/alone/best.pt").model
    w1 = load_student_checkpoint(out / "seed1/alone/best.pt").model
    assert any(not torch.equal(w0[k], w1[k]) for k in w0 if w0[k].is_floating_point())


@pytest.mark.slow
def test_report_gives_mean_spread_and_paired_difference(compared):
    out, result = compared
    saved = yaml.safe_load((out / "compare.yaml").read_text())
    assert [s["name"] for s in saved["eval_sets"]] == ["data", "other"]
    assert saved["eval_sets"][1]["split"] == "all" and saved["eval_sets"][1]["images"] == 3
    iou = saved["summary"]["other"]["dim"]["iou"]
    kd = [result.metrics[f"seed{s}/kd"]["other"]["dim"]["iou"] for s in (0, 1)]
    alone = [result.metrics[f"seed{s}/alone"]["other"]["dim"]["iou"] for s in (0, 1)]
    assert iou["kd"]["mean"] == pytest.approx(sum(kd) / 2)
    assert iou["kd - alone"]["mean"] == pytest.approx((kd[0] - alone[0] + kd[1] - alone[1]) / 2)
    assert iou["kd - alone"]["sd"] == pytest.approx(abs((kd[0] - alone[0]) - (kd[1] - alone[1])) / 2 ** 0.5)
    md = (out / "compare.md").read_text()
    assert md == result.table
    for text in ("teacher cracksam-tiny-none", "distilled (bundle, 2 seeds)", "**distilled - alone** (paired)",
                 "## other (all, 3 images), noise `dim`", "KL x1, T 3", "CrackSAM convention", "±",
                 "| teacher - alone (the teacher's margin) |", "teacher - alone: the teacher's margin over"):
        assert text in md, text
    assert "WARNING" not in md and saved["cut_by_max_minutes"] == []
    assert "teacher" in result.metrics and set(result.metrics["teacher"]) == {"data", "other"}


@pytest.mark.slow
def test_rerun_reuses_every_stage(setup, compared, monkeypatch):
    import crackedge.evaluation.bundle as bundle_eval
    import crackedge.evaluation.loop as evaluation
    import distill.export.bundle_export as bundle_export
    import distill.train as train
    import teacher.cache_logits

    out, first = compared

    def boom(*a, **k):
        raise AssertionError("a finished stage ran again")

    for module, name in ((train, "train_student"), (bundle_export, "export_bundle"), (bundle_eval, "evaluate_bundle"),
                         (evaluation, "evaluate"), (teacher.cache_logits, "cache_teacher_logits")):
        monkeypatch.setattr(module, name, boom)
    again = run_compare(_opts(setup, out))
    assert again.metrics == first.metrics


@pytest.mark.slow
def test_a_run_cut_by_max_minutes_is_reported_loudly(setup, tmp_path):
    train = _train(setup)
    train = train.model_copy(update={"optim": train.optim.model_copy(update={"steps": 200, "max_minutes": 1e-4})})
    result = run_compare(_opts(setup, tmp_path / "cut", train, seeds=(0,), noise=("clean",)))
    assert result.report["cut_by_max_minutes"] and "seed0/kd at step" in result.report["cut_by_max_minutes"][0]
    assert "**WARNING: the --max-minutes safety net cut" in result.table
    assert "**cut by --max-minutes**" in result.table


@pytest.mark.slow
def test_labeled_fraction_hides_masks_from_both_runs_and_feeds_the_rest_to_the_teacher(setup, tmp_path, caplog):
    from distill.checkpoints import load_student_checkpoint

    caplog.set_level("INFO", logger="distill.teacher_labels")
    out = tmp_path / "frac"
    run_compare(_opts(setup, out, _train(setup, labeled_fraction=0.5, unlabeled_share=0.5), seeds=(0,),
                      noise=("clean",)))
    kd = load_student_checkpoint(out / "seed0/kd/best.pt")
    alone = load_student_checkpoint(out / "seed0/alone/best.pt")
    assert "2 labeled, 2 used without masks" in kd.training_data
    assert "2 labeled, 2 left out" in alone.training_data  # without a teacher they are of no use
    md = (out / "compare.md").read_text()
    assert "labeled fraction 0.5" in md
    # the tiny teacher checkpoint was saved without `teacher train`: no record of its training labels
    labels = yaml.safe_load((out / "compare.yaml").read_text())["teacher_labels"]
    assert labels["status"] == "unknown" and labels["hidden_masks"] == 2
    assert "**WARNING: cannot tell whether teacher cracksam-tiny-none trained on the 2 masks this run hides" in md
    warned = [r for r in caplog.records if r.name == "distill.teacher_labels" and r.levelname == "WARNING"]
    assert len(warned) == 2 and all(r.getMessage().startswith("!!! cannot tell") for r in warned)  # kd run + report


@pytest.mark.slow
def test_compare_refuses_a_folder_of_other_settings(setup, compared):
    out, _ = compared
    train = _train(setup)
    train = train.model_copy(update={"optim": train.optim.model_copy(update={"steps": 3})})
    with pytest.raises(ConfigError, match=r"optim.steps: 2 there, 3 now.*another --out"):
        run_compare(_opts(setup, out, train))


def test_compare_needs_a_teacher_steps_and_a_matching_size(setup, tmp_path):
    train = _train(setup)
    with pytest.raises(ConfigError, match="--teacher-checkpoint PATH"):
        run_compare(_opts(setup, tmp_path / "a", train.model_copy(
            update={"teacher": train.teacher.model_copy(update={"checkpoint": None})})))
    with pytest.raises(ConfigError, match="pass --size 64"):
        run_compare(_opts(setup, tmp_path / "b", train.model_copy(
            update={"student": train.student.model_copy(update={"size": 96})})))
    with pytest.raises(ConfigError, match="budgets in steps"):
        run_compare(_opts(setup, tmp_path / "c", train.model_copy(
            update={"optim": train.optim.model_copy(update={"steps": None})})))
    with pytest.raises(ConfigError, match="has no split 'val'"):
        parse_eval_set(f"{setup['other']}:val", "test", set())


@pytest.mark.slow
def test_compare_cli(setup, tmp_path, capsys):
    rc = main(["compare", "--data", str(setup["data"]), "--teacher-checkpoint", str(setup["teacher"]),
               "--student", STUDENT, "--size", str(SIZE), "--steps", "2", "--batch-size", "2", "--eval-every", "2",
               "--warmup-steps", "1", "--seeds", "3", "--eval-data", f"{setup['other']}:all", "--noise", "clean",
               "--parity-images", "2", "--device", "cpu", "--threads", "2", "--out", str(tmp_path / "c")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "## other (all, 3 images), noise `clean`" in out and (tmp_path / "c/seed3/alone/bundle").is_dir()


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


@pytest.mark.slow
def test_a_given_cache_sets_the_views_of_both_runs(setup, compared, tmp_path):
    from crackedge.data.logit_cache import LogitCache

    out, _ = compared
    cache = out / "teacher_cache"
    train = _train(setup)
    train = train.model_copy(update={"teacher": train.teacher.model_copy(update={"checkpoint": None,
                                                                                  "cache": str(cache)})})
    run_compare(_opts(setup, tmp_path / "given", train, seeds=(0,), noise=("clean",)))
    views = LogitCache.open(cache).meta["variants"]
    for run in ("kd", "alone"):
        assert yaml.safe_load((tmp_path / "given" / "seed0" / run / "config.yaml").read_text())["data"]["variants"] == views
