"""BENCHMARKS.md rendering from cached section results: tables, goals, missing sections, readers of
`distill bench-steps` / `distill compare` output, the result store and `crackedge bench-report --render-only`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crackedge.errors import ConfigError, DataError
from tests.compare_fixture import write_compare_yaml
from workflows.bench.accuracy import accuracy_section
from workflows.bench.distill_cost import distill_cost_section
from workflows.bench.render import goal_rows, inference_summary_rows, render_report
from workflows.bench.results import load_all, load_section, save_section


def _timing(ms: float, n: int = 10) -> dict:
    return {"n": n, "median_ms": ms, "p90_ms": ms * 1.2, "mean_ms": ms, "min_ms": ms * 0.9, "fps": 1000 / ms}


MACHINE = {"cpu": "Test CPU 9000", "logical_cores": 2, "usable_cores": 2, "bf16_cpu": True, "memory_gb": 8.0,
           "os": "Linux", "python": "3.11", "libraries": {"torch": "2.14.1", "openvino": "2026.4.1"}}


def _envelope(quick: bool = False) -> dict:
    return {"quick": quick, "started": "2026-11-23T10:00", "duration_s": 120.0, "machine": MACHINE}


def inference_fixture(quick: bool = False) -> dict:
    def ov(model, precision, ms, fps, default=False, declared=False):
        return {"student": "hrnet_w18", "runtime": "OpenVINO CPU", "model": model, "precision": precision,
                "latency": _timing(ms), "throughput_fps": fps, "requests": 2, "default": default, "declared": declared}

    rows = [
        {"student": "hrnet_w18", "runtime": "torch eager", "model": "fp32 NCHW", "precision": "f32", "latency": _timing(445.0)},
        {"student": "hrnet_w18", "runtime": "torch eager", "model": "fp32 channels_last", "precision": "f32",
         "latency": _timing(260.0)},
        {"student": "hrnet_w18", "runtime": "ONNX Runtime", "model": "ONNX opset 11", "precision": "f32",
         "latency": _timing(230.0)},
        ov("FP16 IR", "f32", 180.0, 6.0, declared=True),
        ov("FP16 IR", "bf16", 100.0, 11.0, default=True),
        ov("INT8 IR", "f32", 70.0, 16.0, declared=True),
        ov("INT8 IR", "bf16", 61.0, 18.5, default=True),
        {"student": "hrnet_w18", "runtime": "OpenVINO CPU", "model": "INT8 IR", "precision": "f16",
         "error": "RuntimeError: boom"},
    ]
    return {**_envelope(quick), "setup": {
        "size": [448, 448], "device": "CPU", "threads": 2, "batch": 1, "max_seconds_per_measurement": 8.0, "warmup": 2,
        "max_repeats": 50, "runtimes": ["torch", "onnxruntime", "openvino"], "weights": "random weights",
        "flops": "FLOPs = 2 x MACs", "int8": "NNCF PTQ on 10 synthetic images", "openvino_version": "2026.4.1",
        "default_precision": "bf16"},
        "students": [{"student": "hrnet_w18", "params": 9636242, "params_m": 9.636242, "gflops": 28.1, "gmacs": 14.05,
                      "stride": 4, "bundle": "runs/x/bundle", "declared_precision": "f32", "rows": rows}]}


def edge_fixture(ratio: float = 0.95, daemon_mb: float = 350.0) -> dict:
    bench = {"bundle": "b", "student": "hrnet_w18", "input": [448, 448],
             "inference": {"device": "CPU", "precision": "f32", "requests": 2},
             "single_inference_ms": _timing(180.0), "raw_async_fps": 10.0, "pipeline_fps": 10.0 * ratio,
             "pipeline_vs_raw": ratio, "end_to_end_ms": _timing(250.0), "end_to_end_vs_single": 250 / 180,
             "rss_mb_peak_during_pipeline": 193.0, "stages": {},
             "daemon": {"rss_peak_mb": daemon_mb, "frames": 100, "infer_fps": 9.0, "settings": "edge run"}}
    entry = lambda lib, s, w, h, ms: {"library": lib, "scale": s, "output": [w, h], "decode": _timing(ms),  # noqa: E731
                                      "decode_resize": _timing(ms + 0.5), "below_model_input": h < 448}
    return {**_envelope(), "setup": {"device": "CPU", "precision": "bundle", "frames": 200, "rounds": 2,
                                     "frame": [1280, 720], "source": "synthetic 1280x720 JPEG q85",
                                     "goal_pipeline_vs_raw": 0.9},
            "decode": {"frame": [1280, 720], "quality": 85, "bytes": 170000, "model_input": [448, 448],
                       "edge_decoder": {"library": "simplejpeg", "scale": 2, "rule": "rule"},
                       "entries": [entry("cv2.imdecode", 1, 1280, 720, 3.0), entry("cv2.imdecode", 2, 640, 360, 1.9),
                                   entry("simplejpeg", 1, 1280, 720, 2.3), entry("simplejpeg", 2, 640, 360, 1.2)]},
            "bundles": [bench, {"bundle": "broken", "error": "edge bench exited 2: error: no bundle"}]}


def bench_steps_json(path: Path, cache_s: float = 2.5) -> Path:
    modes = {"student-only": {"step_median_s": 2.3, "step_p90_s": 2.5, "data_median_s": 0.1, "teacher_median_s": 0.0,
                              "total_median_s": 2.4},
             "cwd-cache": {"step_median_s": cache_s, "step_p90_s": 2.7, "data_median_s": 0.1, "teacher_median_s": 0.02,
                           "total_median_s": 2.6},
             "cwd-online": {"step_median_s": 9.2, "step_p90_s": 9.9, "data_median_s": 0.1, "teacher_median_s": 6.9,
                            "total_median_s": 9.3}}
    path.write_text(json.dumps({"student": "hrnet_w18", "size": 448, "batch_size": 8, "steps": 10, "modes": modes}))
    return path


def _table_line(md: str, first_cell: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {first_cell} |"))


def test_missing_sections_say_what_to_run():
    md = render_report({s: None for s in ("inference", "teachers", "edge", "distill", "accuracy", "soak", "serve")}, {})
    for command in ("crackedge bench-report --only inference", "crackedge bench-report --only teachers",
                    "crackedge bench-report --only inference,edge", "distill bench-steps", "distill compare",
                    "edge soak BUNDLE --out DIR --duration 1800 --json benchmarks/results/edge_soak.json && "
                    "crackedge bench-report --only soak",
                    "python -m workflows.serve.bench BUNDLE... --seconds 20 --wire-bundle TRAINED_BUNDLE --wire-images "
                    "IMAGES --json benchmarks/results/serve.json && crackedge bench-report --only serve"):
        assert f"_not measured: run `{command}" in md
    assert md.count("_not measured") == 7
    assert "QUICK RUN" not in md
    assert "## 5. What these CPU numbers say about a Raspberry Pi 4B + NCS2" in md
    assert "edge bench BUNDLE --device MYRIAD" in md


def test_inference_tables_and_quick_banner():
    results = {"inference": inference_fixture(quick=True), "teachers": None, "edge": None, "distill": None, "accuracy": None}
    md = render_report(results, {"inference": "benchmarks/inference.png"})
    assert "**QUICK RUN**" in md and "its numbers mean nothing" in md
    summary = _table_line(md, "hrnet_w18")
    # params, GFLOPs, best torch = channels_last 260 ms, ORT, FP16 IR f32/bf16, INT8 f32/bf16, best async FPS
    assert summary == ("| hrnet_w18 | 9.64 | 28.10 | 260.00 | channels_last | 230.00 | 180.00 | 100.00 | 70.00 | 61.00 "
                       "| 18.50 |")
    assert "OV FP16-IR bf16 (ms)" in md and "(**bf16**)" in md
    assert "| hrnet_w18 | OpenVINO CPU | FP16 IR | bf16 (CPU default) | 100.00 | 120.00 | 10 | 11.00 | 2 |  |" in md
    assert "f32 (bundle declares)" in md
    assert "RuntimeError: boom" in md
    assert "![latency and throughput per student](benchmarks/inference.png)" in md
    assert inference_summary_rows(results["inference"])[0][4] == "channels_last"


def test_goals_pass_and_miss():
    ok = {"edge": edge_fixture(0.96, 290.0), "distill": {"cache_vs_student_only": 1.05}}
    miss = {"edge": edge_fixture(0.60, 450.0), "distill": {"cache_vs_student_only": 1.6}}
    assert [r[-1] for r in goal_rows(ok)] == ["PASS", "PASS", "PASS"]
    assert [r[-1] for r in goal_rows(miss)] == ["MISS", "MISS", "MISS"]
    assert [r[-1] for r in goal_rows({})] == ["–", "–", "–"]
    assert goal_rows(ok)[1][:3] == ["daemon resident memory, hrnet_w18 IR <= 300 MB", "hrnet_w18 (f32, edge run)", 290.0]
    md = render_report({**{s: None for s in ("inference", "teachers", "accuracy", "distill")}, "edge": edge_fixture(0.6)}, {})
    edge_line = _table_line(md, "hrnet_w18")
    assert "| 0.60 | MISS |" in edge_line and "| 193.00 | 350.00 |" in edge_line
    assert "edge bench exited 2" in md
    assert _table_line(md, "simplejpeg").startswith("| simplejpeg | 1/1 | 1280x720 | 2.30 |")
    assert "| simplejpeg | 1/2 | 640x360 | 1.20 | 1.44 | 1.70 | yes | **edge uses this** |" in md


def test_distill_cost_from_bench_steps_json(tmp_path):
    section = distill_cost_section(bench_steps_json(tmp_path / "steps.json", cache_s=2.53))
    assert section["cache_vs_student_only"] == pytest.approx(2.53 / 2.3)
    assert section["modes"]["cwd-online"]["ratio_vs_student_only"] == pytest.approx(9.2 / 2.3)
    assert section["context"]["batch_size"] == 8
    md = render_report({"distill": {**_envelope(), **section}}, {})
    assert "Cached teacher / student-only: **1.10x**, goal <= 1.2x: **PASS**" in md
    assert _table_line(md, "student + CWD, teacher run online").endswith("| 4.000 |")

    # a list of timings with millisecond keys is read too
    (tmp_path / "ms.json").write_text(json.dumps({"timings": [{"mode": "student-only", "step_median_ms": 2000},
                                                              {"mode": "cwd-cache", "step_median_ms": 3000}]}))
    assert distill_cost_section(tmp_path / "ms.json")["cache_vs_student_only"] == pytest.approx(1.5)
    (tmp_path / "bad.json").write_text(json.dumps({"cwd-cache": {"step_median_s": 1.0}}))
    with pytest.raises(DataError, match="student-only"):
        distill_cost_section(tmp_path / "bad.json")
    with pytest.raises(DataError, match="distill bench-steps"):
        distill_cost_section(tmp_path / "missing.json")


def test_accuracy_from_compare_yaml(tmp_path):
    folder = write_compare_yaml(tmp_path / "compare")
    section = accuracy_section(folder, tmp_path / "masks.png")
    assert [s["name"] for s in section["eval_sets"]] == ["crack500", "crackforest"]
    assert section["summary"]["crack500"]["clean"]["iou"]["kd"]["values"] == [0.6, 0.62, 0.58]
    assert section["teacher_metrics"]["crackforest"]["dim"]["iou"] == pytest.approx(0.34)
    assert "summary_int8" not in section and section["cut_by_max_minutes"] == []
    assert section["figure"]["path"] is None and "crack500" in section["figure"]["reason"]
    assert "not found" in section["figure"]["reason"]
    assert not (tmp_path / "masks.png").exists()
    md = render_report({"accuracy": {**_envelope(), **section}}, {})
    for name, split, n in (("crack500", "test", 20), ("crackforest", "all", 10)):
        for case in ("clean", "dim", "blurry"):
            assert f"Evaluation set `{name}` ({folder / ('no-such-dataset' if n == 20 else 'cfd')}, split `{split}`, " \
                   f"{n} images), noise `{case}`:" in md
    # the clean table of the first set, row by row (fixture numbers in tests/compare_fixture.py)
    clean = md.split("split `test`, 20 images), noise `clean`:")[1].split("split `test`, 20 images), noise `dim`")[0]
    assert "| model | runtime | IoU | F1 | ODS F | mIoU |" in clean
    assert "| teacher cracksam-vit_h-adapter | torch f32 | 0.6400 | 0.7400 | 0.7600 | 0.8000 |" in clean
    assert ("| hrnet_w18 distilled, 3 seeds | OpenVINO, FP16 IR | 0.6000 ± 0.0200 | 0.7000 ± 0.0200 | 0.7200 ± 0.0200 "
            "| 0.8000 ± 0.0000 |") in clean
    assert ("| hrnet_w18 alone, 3 seeds | OpenVINO, FP16 IR | 0.5500 ± 0.0100 | 0.6500 ± 0.0100 | 0.6700 ± 0.0100 "
            "| 0.8000 ± 0.0000 |") in clean
    assert ("| **distilled - alone** (paired) | OpenVINO, FP16 IR | +0.0500 ± 0.0100 | +0.0500 ± 0.0100 "
            "| +0.0500 ± 0.0100 | +0.0000 ± 0.0000 |") in clean
    assert ("| teacher - alone (the teacher's margin) | OpenVINO, FP16 IR | +0.0900 ± 0.0100 | +0.0900 ± 0.0100 "
            "| +0.0900 ± 0.0100 | +0.0000 ± 0.0000 |") in clean
    assert "IoU distilled - alone per seed (0, 1, 2): +0.0500, +0.0600, +0.0400" in clean
    assert "INT8 IR" not in md and "WARNING" not in md
    # seeds, soft loss, budget
    assert "**3 seeds** (0, 1, 2)" in md and "soft loss KL x1, T 3 against the teacher cracksam-vit_h-adapter" in md
    assert ("Budget: **200 steps x batch 8** for every run (AdamW lr 0.001, 20 warm-up steps); labeled fraction 0.5; "
            "unlabeled images: frames/; unlabeled share of a distilled batch 0.5; data seed 0 (4 augmentation views "
            "per image); safety net --max-minutes 30 per run.") in md
    assert "distilled 25.0 min, alone 20.0 min" in md
    assert "Teacher validation IoU recorded in its logit cache: mean 0.6512." in md
    assert "| seed1/alone | 200 / 200 x 8 | 20.0 | 0.5400 | 150 |" in md
    assert "student + CWD" not in md and "_mask figure not drawn: evaluation set crack500" in md
    with pytest.raises(DataError, match="distill compare"):
        accuracy_section(tmp_path / "empty")


def test_accuracy_cut_budget_int8_rows_and_one_seed(tmp_path):
    section = accuracy_section(write_compare_yaml(tmp_path / "cut", cut=True, int8=True, noise=("clean",)))
    md = render_report({"accuracy": {**_envelope(), **section}}, {"accuracy": "bench/accuracy.png"})
    head = md.split("## 4. Accuracy under a fixed CPU budget")[1].lstrip("\n")
    assert head.startswith("**WARNING: the --max-minutes safety net cut seed0/kd at step 120 of 200. These runs are "
                           "shorter than asked: the comparison is not on equal budgets")
    assert "| seed0/kd | 120 / 200 x 8 **cut by --max-minutes** | 25.0 | 0.5800 | 150 |" in md
    assert ("| hrnet_w18 distilled, INT8, 3 seeds | OpenVINO, INT8 IR | 0.5900 ± 0.0200 | 0.6900 ± 0.0200 "
            "| 0.7100 ± 0.0200 | 0.8000 ± 0.0000 |") in md
    assert "| **distilled - alone**, INT8 (paired) | OpenVINO, INT8 IR | +0.0500 ± 0.0100 |" in md
    assert "![crack IoU per noise case, mean ± sd over the seeds](bench/accuracy.png)" in md

    one = accuracy_section(write_compare_yaml(tmp_path / "one", seeds=(2,), noise=("clean",), teacher=False))
    md = render_report({"accuracy": {**_envelope(), **one}}, {})
    assert "**1 seed** (2)" in md and "_One seed: no spread is given" in md
    assert "| hrnet_w18 distilled, 1 seed | OpenVINO, FP16 IR | 0.5800 | 0.6800 | 0.7000 | 0.8000 |" in md
    assert "| **distilled - alone** (paired) | OpenVINO, FP16 IR | +0.0400 | +0.0400 | +0.0400 | +0.0000 |" in md
    assert "| teacher" not in md and "teacher - alone" not in md and "| seed2/kd |" in md


def test_accuracy_plot_and_old_compare_format(tmp_path):
    from workflows.bench.plots import plot_accuracy

    section = accuracy_section(write_compare_yaml(tmp_path / "c"))
    assert plot_accuracy(section, tmp_path / "acc.png").stat().st_size > 5000
    # a compare.yaml of the single-seed compare is refused with what to run; a cached old section says so
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "compare.yaml").write_text(yaml.safe_dump({"data": "d", "rows": {"kd": {}}}))
    with pytest.raises(DataError, match="old single-seed .*--seeds"):
        accuracy_section(tmp_path / "old")
    old = {**_envelope(), "source": "x/compare.yaml", "rows": [{"key": "kd", "metrics": {}}]}
    assert plot_accuracy(old, tmp_path / "old.png") is None
    md = render_report({"accuracy": old}, {})
    assert "_not measured: the cached result is in the old single-seed `distill compare` format: run `distill compare" \
        in md


def test_result_store_round_trip(tmp_path):
    save_section(tmp_path, "edge", {"quick": True, "value": float("nan"), "path": tmp_path, "pair": (1, 2)})
    data = load_section(tmp_path, "edge")
    assert data == {"section": "edge", "quick": True, "value": None, "path": str(tmp_path), "pair": [1, 2]}
    assert load_all(tmp_path)["inference"] is None
    (tmp_path / "teachers.json").write_text("{not json")
    with pytest.raises(DataError, match="teachers.json"):
        load_section(tmp_path, "teachers")
    with pytest.raises(ValueError, match="unknown benchmark section"):
        save_section(tmp_path, "speed", {})


def test_cli_render_only_writes_markdown_and_plots(tmp_path):
    from workflows.cli import main

    out = tmp_path / "bench"
    save_section(out / "results", "inference", inference_fixture())
    save_section(out / "results", "edge", edge_fixture())
    md_path = tmp_path / "BENCH.md"
    assert main(["bench-report", "--render-only", "--out", str(out), "--markdown", str(md_path)]) == 0
    md = md_path.read_text()
    assert "(bench/inference.png)" in md and (out / "inference.png").stat().st_size > 1000
    assert (out / "decode.png").is_file() and (out / "scale.png").is_file()
    assert "| pipeline FPS / raw async inference FPS >= 0.95 | hrnet_w18 (f32) | 0.95 | PASS |" in md
    assert "_not measured: run `crackedge bench-report --only teachers`_" in md


def test_cli_only_distill_needs_its_input(tmp_path, capsys):
    from workflows.cli import main

    assert main(["bench-report", "--only", "distill", "--out", str(tmp_path)]) == 2
    assert "--bench-steps FILE" in capsys.readouterr().err
    assert main(["bench-report", "--only", "speed", "--out", str(tmp_path)]) == 2
    with pytest.raises(ConfigError, match="multiple of 32"):
        from workflows.bench.report import ReportOptions

        ReportOptions(size=100).resolved()


def test_edge_section_renders_the_step_breakdown_before_and_after_and_the_memory_runs():
    from edge.breakdown import StepCosts
    from workflows.bench.render import goal_rows
    from workflows.bench.render_edge import breakdown_lines, edge_lines, memory_lines

    def costs(decode_ms: float, measure_ms: float) -> dict:
        c = StepCosts()
        for _ in range(10):
            c.add("decode", decode_ms / 1000, decode_ms / 1000)
            c.frame_done()
        c.add("measure", measure_ms / 1000, measure_ms / 1000)
        return c.snapshot(budget_ms=100.0)

    section = edge_fixture(0.97, 290.0)
    section["bundles"][0].update(breakdown=costs(2.0, 5.0), saving="default config policy",
                                 saved_throughput_runs=[{"frames": 1}, {"frames": 1}], frames=10)
    section["memory"] = [{"student": "hrnet_w18", "model": "ir_fp16", "settings": "LATENCY, 2 requests", "rss_peak_mb": 280.0,
                          "infer_fps": 7.0},
                         {"student": "hrnet_w18", "model": "ir_int8", "settings": "LATENCY, 2 requests", "rss_peak_mb": 320.0,
                          "infer_fps": 9.0}]
    before = {"label": "main", "breakdown": costs(4.0, 50.0), "pipeline_vs_raw": 0.5}
    table_md = "\n".join(breakdown_lines(section["bundles"][0], before))
    assert "| JPEG decode (capture) | 4.00 | 10/10 | 4.0 % | 2.00 | 10/10 | 2.0 % |" in table_md
    assert "| measure (calib) | 5.00 | 1/10 | 5.0 % | 0.50 | 1/10 | 0.5 % |" in table_md
    assert "| pipeline / raw async FPS | 0.50 | – | – | 0.97 | – | – |" in table_md
    assert "Before: main." in table_md and "After:" not in table_md  # no machine record: nothing claimed
    section.update(started="2026-12-03T23:44", machine={"cpu": "Xeon", "cpu_id": "GenuineIntel family 6 model 167"})
    md = "\n".join(edge_lines(section, {}))
    assert "After: this run (2026-12-03T23:44), Xeon, GenuineIntel family 6 model 167; compare" in md
    table_md = "\n".join(breakdown_lines(section["bundles"][0], before, "this run (D), CPU X"))
    assert "Before: main. After: this run (D), CPU X;" in table_md
    mem_md = "\n".join(memory_lines(section["memory"], 300.0, before={("label", ""): "old", ("ir_fp16", "x"): 1.0},
                                     after_label="this run (D), CPU X"))
    assert "Before: old. After: this run (D), CPU X." in mem_md
    md = "\n".join(edge_lines(section, {}))
    assert "Per-step host cost, hrnet_w18" in md and "Daemon memory, hrnet_w18" in md
    mem_md = "\n".join(memory_lines(section["memory"], 300.0, before={}))
    assert "| ir_int8 | LATENCY, 2 requests | 320.00 | 9.00 | MISS |  |" in mem_md
    mem_md = "\n".join(memory_lines(section["memory"], 300.0, before={("ir_int8", "LATENCY, 2 requests"): 450.0}))
    assert "| ir_int8 | LATENCY, 2 requests | 450.00 | 320.00 | 9.00 | MISS |  |" in mem_md
    section["memory"][1]["rss_peak_warm_mb"] = 305.0  # a start from the compiled-model cache: its own column
    mem_md = "\n".join(memory_lines(section["memory"], 300.0, before={}))
    assert "later starts, from the model cache (MB)" in mem_md and "judged on" in mem_md
    assert "| ir_int8 | LATENCY, 2 requests | 320.00 | 305.00 | 9.00 | MISS |  |" in mem_md  # the goal: first start
    rows = goal_rows({"edge": section})
    goal = "daemon resident memory <= 300 MB"
    assert [goal, "hrnet_w18 ir_int8, LATENCY, 2 requests, first start", 320.0, "MISS"] in rows
    assert [goal, "hrnet_w18 ir_int8, LATENCY, 2 requests, start from the model cache", 305.0, "MISS"] in rows
    assert [goal, "hrnet_w18 ir_fp16, LATENCY, 2 requests, first start", 280.0, "PASS"] in rows
    assert not any("ir_fp16" in r[1] and "model cache" in r[1] for r in rows)  # not measured: no row
    section["memory"][1]["compile_child_peak_mb"] = 250.0  # the child that compiled into the cache: its own column
    mem_md = "\n".join(memory_lines(section["memory"], 300.0, before={}))
    assert "compiling child process, first start (MB)" in mem_md and "never hold memory at the same time" in mem_md
    assert "| ir_int8 | LATENCY, 2 requests | 320.00 | 305.00 | 250.00 | 9.00 | MISS |  |" in mem_md


def test_old_single_seed_accuracy_result_is_rendered_not_dropped(tmp_path):
    from workflows.bench.plots import plot_accuracy

    # the cached result of the single-seed `distill compare` of 2026-11-23, as benchmarks/results held it
    section = json.loads((Path(__file__).resolve().parent / "helpers" / "accuracy_single_seed.json").read_text())
    md = render_report({"accuracy": section}, {"accuracy": "benchmarks/accuracy.png"})
    acc = md.split("## 4. Accuracy under a fixed CPU budget")[1].split("## 5.")[0]
    assert acc.lstrip().startswith("_One seed, from the old single-seed `distill compare` (cached 2026-11-23)")
    assert "| hrnet_w18 + CWD | bundle IR FP16 at bf16 | 0.4080 | 0.5471 | 0.6619 | 0.6597 | 0.7226 |" in acc
    assert "| CWD - alone |  | -0.0834 | -0.0812 | -0.0469 | -0.0221 | -0.0308 |" in acc
    assert "![crack IoU per noise case](benchmarks/accuracy.png)" in acc
    assert plot_accuracy(section, tmp_path / "accuracy.png").stat().st_size > 5000


def test_further_comparisons_render_as_subsections(tmp_path):
    from workflows.cli import main

    first = write_compare_yaml(tmp_path / "all_labels")
    second = write_compare_yaml(tmp_path / "part_labels", seeds=(0, 1), noise=("clean",))
    md_path = tmp_path / "BENCH.md"
    assert main(["bench-report", "--only", "accuracy", "--compare", str(first), str(second),
                 "--out", str(tmp_path / "bench"), "--markdown", str(md_path)]) == 0
    md = md_path.read_text()
    # the heading names what was distilled from, so that two subsections with the same loss differ by it
    heading = (f"### 4.1 hrnet_w18 at 448x448, 50% of the labels, the rest unlabeled, 2 seeds, teacher cracksam-vit_h-adapter (logit cache "
               f"{second / 'teacher_cache'}), soft loss KL x1, T 3")
    head, sub = md.split(heading)
    assert str(first / "compare.yaml") in head and str(second / "compare.yaml") not in head
    assert f"From `distill compare` ({second / 'compare.yaml'})" in sub and "**2 seeds** (0, 1)" in sub
    assert "IoU distilled - alone per seed (0, 1): +0.0500, +0.0600" in sub
    assert sub.count("| model | runtime | IoU | F1 | ODS F | mIoU |") == 2  # clean on both sets
    saved = json.loads((tmp_path / "bench" / "results" / "accuracy.json").read_text())
    assert [m["source"] for m in saved["more"]] == [str(second / "compare.yaml")]


def test_subsection_names_the_student_input_noise_and_crop(tmp_path):
    """Two comparisons that differ only in --photometric / --crop must not render under the same heading."""
    import yaml

    from workflows.bench.render_accuracy import more_lines

    folder = write_compare_yaml(tmp_path / "cmp", noise=("clean",))
    report = yaml.safe_load((folder / "compare.yaml").read_text())
    plain = "\n".join(more_lines(accuracy_section(folder), 6))
    report["budget"].update(photometric=0.5, crop=256)
    (folder / "compare.yaml").write_text(yaml.safe_dump(report))
    noised = "\n".join(more_lines(accuracy_section(folder), 6))
    assert "training inputs noised" not in plain and "px crops" not in plain
    seeds = len(report["budget"]["seeds"])
    assert plain.splitlines()[0].startswith(f"### 4.6 hrnet_w18 at 448x448, 50% of the labels, the rest unlabeled, {seeds} seeds, teacher ")
    heading = noised.splitlines()[0]
    assert heading.startswith("### 4.6 hrnet_w18 at 448x448, 50% of the labels") and heading.endswith(
        ", 50% of the training inputs noised in colour and sharpness, random 256 px crops")
    assert "**50% of the training inputs noised in colour and sharpness** (`--photometric`; masks and teacher " \
           "logits those of the clean view); random 256 px crops (`--crop`)" in noised
    assert "val-basis" not in plain


def test_subsection_names_the_validation_basis_and_renders_its_note(tmp_path):
    """A comparison whose best.pt was picked at each image's own size says so in its heading; a hand-written note
    (machine, commit, reused runs) is printed under the heading, and none is invented without one."""
    import yaml

    from workflows.bench.render_accuracy import more_lines

    folder = write_compare_yaml(tmp_path / "cmp", noise=("clean",))
    report = yaml.safe_load((folder / "compare.yaml").read_text())
    report["budget"]["val_basis"] = "image"
    (folder / "compare.yaml").write_text(yaml.safe_dump(report))
    section = accuracy_section(folder)
    section["note"] = "Measured on machine X; alone runs reused from runs/other."
    lines = more_lines(section, 13)
    assert lines[0].endswith(", best.pt by validation at each image's own size (`--val-basis image`)")
    assert lines[2] == "Measured on machine X; alone runs reused from runs/other."
    assert "as the test scores it (`--val-basis image`)" in "\n".join(lines)
    del section["note"]
    assert not more_lines(section, 13)[2].startswith("Measured")


def test_a_note_file_in_the_compare_folder_is_read_and_a_cached_note_survives_measuring_again(tmp_path):
    """NOTE.md beside compare.yaml becomes the section's note; a section measured again without one keeps the note
    the cached result held for the same compare.yaml, and a note never moves to another comparison."""
    from workflows.bench.accuracy import keep_notes

    first = write_compare_yaml(tmp_path / "a", noise=("clean",))
    other = write_compare_yaml(tmp_path / "b", noise=("clean",))
    (first / "NOTE.md").write_text("Measured on machine X, commit abc.\n")
    cached = accuracy_section(other)
    cached["more"] = [accuracy_section(first)]
    assert cached["more"][0]["note"] == "Measured on machine X, commit abc."
    assert "note" not in cached
    (first / "NOTE.md").unlink()
    cached["note"] = "Written by hand into accuracy.json."
    fresh = [accuracy_section(first), accuracy_section(other), accuracy_section(write_compare_yaml(tmp_path / "c", noise=("clean",)))]
    assert all("note" not in f for f in fresh)
    keep_notes(fresh, cached)
    assert [f.get("note") for f in fresh] == ["Measured on machine X, commit abc.", "Written by hand into accuracy.json.", None]
