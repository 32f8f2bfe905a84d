"""BENCHMARKS.md sections 6 (edge soak) and 7 (serving under Triton), rendered from the JSON their own
commands write (`edge soak --json`, `python -m workflows.serve.bench`): fixtures shaped like
benchmarks/results/edge_soak.json and serve.json, the result store's handling of those files,
`crackedge bench-report --only soak|serve` and `--render-only` on the real results."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from crackedge.errors import DataError
from workflows.bench.render import render_report
from workflows.bench.render_serve import serve_lines
from workflows.bench.render_soak import soak_lines
from workflows.bench.results import load_all, load_section, save_section

REPO = Path(__file__).resolve().parents[1]


def soak_fixture(exits: int = 0) -> dict:
    """An `edge soak --json` report (edge/soak.py Soak.report), with different figures from the real one."""
    unexpected = [{"status": 1, "after_s": 300.0}] * exits
    return {
        "setup": {"started": "2026-12-05T09:30", "bundle": "runs/soak/bundle", "frame_size": [640, 480], "fps": 5.0,
                  "seed": 3, "bad_part_share": 0.095, "min_crack_ratio": 0.002, "cpu_count": 4,
                  "loadavg": {"start": [0.52, 0.4, 0.3], "end": [1.26, 1.1, 0.9]}},
        "duration_s": 3600.0, "watchdog_sec": 30.0, "daemon_starts": 1 + exits, "unexpected_exits": unexpected,
        "final_exit_status": 0,
        "false_alarms": {"hung_log_lines": 0, "keepalive_gaps_over_watchdog_sec": 0, "max_keepalive_gap_s": 15.2,
                         "keepalives": 240},
        "frames": {"received": 9000, "saved": 2000, "below_threshold": 6500,
                   "dropped": {"corrupt_or_unusable_parts": 400, "queue_full_keep_freshest": 2, "disk_floor": 98,
                               "write_errors": 0}},
        "source": {"reconnects": 120, "stalls": 40, "frame_timeouts": 21, "outage_s_total": 61.5},
        "disk": {"fills": 2, "saving_paused": 2, "saving_resumed": 1, "old_runs_deleted": 3},
        "chaos_sent": {"corrupt": 90, "disconnect": 80, "frame": 9100, "garbage": 40, "large": 9, "oversize": 20,
                       "png": 50, "stall": 25, "trickle": 18},
        "events": [[72.0, "inject:stall"], [432.0, "flood 10 s"], [720.1, "outage 12 s"], [2088.3, "disk 20 s"],
                   [2700.0, "disk 30 s"], [3000.0, "flood 10 s"]],
        "rss_mb": {"warmup_s": 120.0, "start": 200.0, "end": 214.0, "max": 215.5, "growth_pct": 7.0},
        "files": {"runs": 1, "sidecars": 2000, "images": 2000, "undecodable": 0, "orphans": 1, "temp_files": 0},
        "goal": {"no_exits": exits == 0, "no_false_alarms": True, "every_saved_frame_whole": False,
                 "rss_growth_under_5_pct": False},
        "passed": False,
    }


def _served(rows: list[tuple]) -> list[dict]:
    return [{"clients": c, "requests": n, "seconds": 20.5, "throughput_fps": fps, "p50_ms": p50, "p90_ms": p90,
             "errors": 0, "dynamic_batching": db} for db, c, fps, p50, p90, n in rows]


def _ba(fps: float) -> dict:
    return {"hint": "throughput", "precision": "f32", "throughput_fps": fps, "median_ms": 700.0, "requests": 2,
            "command": "-m model.xml -d CPU -hint throughput -t 10 -infer_precision f32"}


def serve_fixture() -> dict:
    """A serve.json ({"runs": [...], "wire": ..., "notes": ...}) as workflows/serve/bench.py writes it."""
    student = {"bundle": "student_448", "model": "hrnet_w18", "kind": "student", "input": "448x448", "precision": "f32",
               "payload_bytes_mean": 40960,
               "served": _served([(True, 1, 2.0, 500.0, 550.5, 40), (True, 16, 3.2, 5000.0, 5200.0, 64),
                                  (False, 1, 1.9, 520.0, 560.0, 38), (False, 16, 2.2, 7000.1, 7300.0, 44)]),
               "benchmark_app_before": _ba(3.0), "benchmark_app_after": _ba(2.0)}
    teacher = {**copy.deepcopy(student), "bundle": "teacher_448", "model": "cracksam-vit_b-adapter", "kind": "teacher",
               "precision": "bf16", "benchmark_app_before": _ba(4.0), "benchmark_app_after": _ba(4.0)}
    machine = {"cpu_count": 8, "loadavg": [1.5, 1.25, 1.0], "python": "3.11.7",
               "versions": {"nvidia-pytriton": "0.5.7", "tritonclient": "2.73.0", "openvino": "2026.4.1", "numpy": "2.4.6"},
               "triton": "/venv/pytriton/tritonserver"}

    def wire_row(name, kb, enc, dec, miou, gt, up):
        return {"wire": name, "kb_per_frame": kb, "encode_ms": enc, "server_decode_ms": dec, "mask_iou_vs_float32": miou,
                "crack_iou_vs_gt": gt, "uplink_ms": dict(zip(("2", "10", "50"), up))}

    wire = {"bundle": "trained_224", "model": "hrnet_w18", "input": "224x224", "frames": "8 images of data/test",
            "rows": [wire_row("float32 tensor", 600.0, 0.02, 0.02, 1.0, 0.6, (2457.6, 491.5, 98.3)),
                     wire_row("uint8 tensor", 150.0, 0.5, 0.2, 1.0, 0.6, (614.4, 122.9, 24.6)),
                     wire_row("PNG", 100.0, 8.0, 1.5, 1.0, 0.6, (409.6, 81.9, 16.4)),
                     wire_row("JPEG q95", 40.0, 0.9, 0.7, 0.98, 0.601, (163.8, 32.8, 6.6)),
                     wire_row("JPEG q90", 30.0, 1.2, 0.6, 0.95, 0.595, (122.9, 24.6, 4.9)),
                     wire_row("JPEG q75", 20.0, 1.0, 0.6, 0.93, 0.59, (81.9, 16.4, 3.3))]}
    return {"runs": [{"machine": machine, "started": "2026-12-06T10:00", "seconds": 10.0, "jpeg_quality": 90,
                      "bundles": [student, teacher]},
                     {"machine": {**machine, "loadavg": [2.0, 2.5, 3.0]}, "bundles": [copy.deepcopy(student)]}],
            "wire": wire, "notes": {"setup": ["Bundles: note one.", "Machine: note two."], "goal": "Goal note.",
                                    "wire": "Wire note.", "choice": "Choice note."}}


def _line(md: str, start: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(start))


def test_soak_section_renders_the_report():
    md = "\n".join(soak_lines(soak_fixture()))
    assert md.startswith("## 6. Edge soak: 60 minutes against a hostile camera and a filling disk\n")
    intro = _line(md, "Measured ")
    assert intro.startswith("Measured 2026-12-05 with `edge soak BUNDLE --out DIR --duration 3600 --seed 3 --fps 5 "
                            "--json benchmarks/results/edge_soak.json` (load average 0.5 at the start, 1.3 at the end, "
                            "4 cores) (not produced by `crackedge bench-report`")
    assert "ran the bundle `runs/soak/bundle` on 640x480 JPEG frames at 5 FPS" in intro
    assert "WatchdogSec 30 s" in intro and "9.5 % of the parts were bad at random" in intro
    assert intro.endswith("plus one camera outage (12 s), two disk fills below the floor (20-30 s each; three old runs "
                          "to rotate) and two bursts of 60 half-open preview connections.")
    assert "| goal over 60 minutes | measured | result |" in md
    assert "| unexpected exits = 0 | 0 (one daemon start; exit status 0 on SIGTERM at the end) | PASS |" in md
    assert ('| false watchdog alarms = 0 | 0 "hung" lines; 0 keep-alive gaps >= 30 s (max 15.2 s over 240 keep-alives) '
            '| PASS |') in md
    assert ("| every saved frame a decodable image with its sidecar | 2000 sidecars, 2000 images, 0 undecodable, "
            "1 orphans, 0 temp files | MISS |") in md
    assert ("| RSS growth < 5 % | 200 MB after 120 s warm-up, 214 MB at the end: +7 % (max 215.5 MB) | MISS |") in md
    for row in ("| received (good frames from the source) | 9000 |", "| saved (crack ratio >= 0.002) | 2000 |",
                "| not saved: below the crack threshold | 6500 |", "| dropped: corrupt or unusable parts | 400 |",
                "| dropped: capture queue full (keep freshest) | 2 |", "| dropped: disk floor (saving paused) | 98 |",
                "| dropped: write errors | 0 |"):
        assert row in md
    assert ("Source: 120 reconnects, 40 stalls, 21 per-frame deadline cut-offs (trickles and 12 MB parts), 61.5 s of "
            "outage in all. Disk: saving paused 2 times and resumed once (one line each), 3 old runs rotated away") in md

    crashed = "\n".join(soak_lines(soak_fixture(exits=2)))
    assert ("| unexpected exits = 0 | 2 (3 daemon starts: status 1 after 300 s, status 1 after 300 s; exit status 0 "
            "on SIGTERM at the end) | MISS |") in crashed


def test_soak_report_without_setup_still_renders():
    report = soak_fixture()
    del report["setup"]
    md = "\n".join(soak_lines(report))
    assert "Measured with `edge soak BUNDLE --out DIR --duration 3600 --json" in md
    assert "ran a bundle on JPEG frames from" in md and "parts were bad at random" in md
    assert "| saved | 2000 |" in md


def test_serve_section_renders_runs_goal_and_wire_formats():
    md = "\n".join(serve_lines(serve_fixture()))
    assert md.startswith("## 7. Serving: bundles under Triton, 1-16 simulated vehicles, beside benchmark_app\n")
    method = _line(md, "`python -m workflows.serve.bench")
    assert method.startswith("`python -m workflows.serve.bench BUNDLE... --seconds 10` (docs/serve.md)")
    assert "Triton (nvidia-pytriton 0.5.7), one model instance, OpenVINO 2026.4.1" in method
    assert "the same 8 cores" in method and "as the JPEG (q90) of the 448x448 network input" in method
    # hand-written notes where they belong
    assert md.index("Bundles: note one.") < md.index("Machine: note two.") < md.index("Run 1 ")
    assert "Run 1 (load average when it ended, 1 / 5 / 15 min: 1.50 / 1.25 / 1.00):" in md
    assert "Run 2 (load average when it ended, 1 / 5 / 15 min: 2.00 / 2.50 / 3.00):" in md
    assert ("**student hrnet_w18** (input 448x448, f32, JPEG payload 40 KB): benchmark_app -hint throughput "
            "3.00 / 2.00 FPS (before / after the served runs)") in md
    # ratio = served / mean(benchmark_app before, after): 3.2 / 2.5, 2.2 / 2.5; the teacher's 3.2 / 4.0
    assert "| on | 16 | 3.20 | 1.28 | 5000.0 | 5200.0 | 64 |" in md
    assert "| off | 16 | 2.20 | 0.88 | 7000.1 | 7300.0 | 44 |" in md
    assert "| off | 1 | 1.90 | 0.76 | 520.0 | 560.0 | 38 |" in md
    teacher = md.split("**teacher cracksam-vit_b-adapter**")[1].split("Run 2")[0]
    assert "| on | 16 | 3.20 | 0.80 | 5000.0 | 5200.0 | 64 |" in teacher and "| off | 16 | 2.20 | 0.55 |" in teacher
    goal = _line(md, "**Goal at 16 clients")
    assert goal == ("**Goal at 16 clients, served throughput >= 0.8 x benchmark_app's**: run 1 meets it in 3 of 4 cases "
                    "and misses it for the teacher without dynamic batching (0.55); run 2 meets it in every case "
                    "(0.88-1.28).")
    assert "| run 1 | teacher cracksam-vit_b-adapter | on | 0.80 | PASS |" in md
    assert "| run 1 | teacher cracksam-vit_b-adapter | off | 0.55 | MISS |" in md
    assert "| run 2 | student hrnet_w18 | off | 0.88 | PASS |" in md
    assert md.index("| run 2 | student hrnet_w18 | off") < md.index("Goal note.") < md.index("Wire note.") \
        < md.index("Wire formats (`--wire-bundle`), on `trained_224` (hrnet_w18, input 224x224), 8 images of data/test")
    assert "| payload | KB/frame | client encode ms | server decode ms | mask IoU vs float32 | crack IoU vs ground truth " \
           "| at 2 / 10 / 50 Mbit/s uplink, ms |" in md
    assert "| float32 tensor | 600.0 | 0.02 | 0.02 | 1.0 | 0.6 | 2457.6 / 491.5 / 98.3 |" in md
    assert "| JPEG q90 | 30.0 | 1.2 | 0.6 | 0.95 | 0.595 | 122.9 / 24.6 / 4.9 |" in md
    choice = _line(md, "**Choice:")
    assert choice == ("**Choice: JPEG q90 of the network-size image** (`remote.wire: jpeg`, the default): 30 KB per "
                      "224x224 frame (about 5x less than the uint8 tensor, 20x less than float32; ~40 KB at 448 in the "
                      "served runs), 1.2 ms to encode here, and the crack IoU against ground truth moves by 0.005 "
                      "(0.595 vs 0.6; q95: +0.0010; q75: -0.0100). The masks agree with the float path at IoU 0.95. "
                      "At 2 Mbit/s uplink float32 needs 2.5 s per frame and uint8 0.61 s; JPEG q90 needs 0.12 s.")
    assert md.rstrip().endswith("Choice note.")


def test_serve_single_run_layout_and_missing_parts():
    doc = serve_fixture()
    run = doc["runs"][0]
    old = {"machine": run["machine"], "bundles": run["bundles"], "wire": None}  # the layout before "runs"
    md = "\n".join(serve_lines(old))
    assert "Run 1" not in md and "| on | 16 | 3.20 | 1.28 | 5000.0 | 5200.0 | 64 |" in md
    assert "`python -m workflows.serve.bench BUNDLE... --seconds 10`" in md  # from benchmark_app's -t 10
    assert "as the JPEG of the 448x448 network input" in md  # the layout did not record the JPEG quality
    assert "| student hrnet_w18 | on | 1.28 | PASS |" in md
    assert "_wire formats not measured: run `python -m workflows.serve.bench --wire-bundle TRAINED_BUNDLE" in md
    only_wire = "\n".join(serve_lines({"runs": [], "wire": doc["wire"]}))
    assert "_served runs not measured: run `python -m workflows.serve.bench BUNDLE... --seconds 20`_" in only_wire
    assert "| JPEG q75 | 20.0 |" in only_wire and "~40 KB" not in only_wire


def test_store_keeps_soak_and_serve_as_their_commands_wrote_them(tmp_path):
    save_section(tmp_path, "soak", soak_fixture())
    saved = json.loads((tmp_path / "edge_soak.json").read_text())
    assert "section" not in saved and saved["frames"]["saved"] == 2000
    assert load_section(tmp_path, "soak") == saved
    (tmp_path / "serve.json").write_text(json.dumps(serve_fixture()))
    results = load_all(tmp_path)
    assert results["serve"]["runs"][0]["seconds"] == 10.0 and results["inference"] is None
    (tmp_path / "serve.json").write_text(json.dumps({"section": "serve", "machine": {}}))
    with pytest.raises(DataError, match=r"not a `python -m workflows.serve.bench` report \(no runs/bundles\)"):
        load_section(tmp_path, "serve")
    (tmp_path / "edge_soak.json").write_text("{broken")
    with pytest.raises(DataError, match="edge_soak.json: unreadable soak result .*edge soak --json"):
        load_section(tmp_path, "soak")


def test_cli_only_soak_and_serve_read_the_files_their_commands_write(tmp_path, capsys):
    from workflows.cli import main

    out = tmp_path / "bench"
    md_path = tmp_path / "BENCH.md"
    # nothing to read: the command that writes the file, not a measurement
    assert main(["bench-report", "--only", "soak", "--out", str(out), "--markdown", str(md_path)]) == 2
    err = capsys.readouterr().err
    assert "bench-report does not measure this section (it runs for 30 minutes)" in err
    assert "`edge soak BUNDLE --out DIR --duration 1800 --json benchmarks/results/edge_soak.json`" in err
    assert "--soak-json FILE" in err and not md_path.exists()
    # --soak-json copies a report into the results; the section renders from it
    report = tmp_path / "soak.json"
    report.write_text(json.dumps(soak_fixture()))
    assert main(["bench-report", "--only", "soak", "--soak-json", str(report), "--out", str(out),
                 "--markdown", str(md_path)]) == 0
    assert json.loads((out / "results" / "edge_soak.json").read_text()) == soak_fixture()
    md = md_path.read_text()
    assert "## 6. Edge soak: 60 minutes" in md and "| dropped: disk floor (saving paused) | 98 |" in md
    assert "_not measured: run `python -m workflows.serve.bench" in md
    # a serve.json already in the results: --only serve renders it, measuring nothing
    (out / "results" / "serve.json").write_text(json.dumps(serve_fixture()))
    assert main(["bench-report", "--only", "serve", "--out", str(out), "--markdown", str(md_path)]) == 0
    md = md_path.read_text()
    assert "| run 1 | teacher cracksam-vit_b-adapter | off | 0.55 | MISS |" in md and "## 6. Edge soak" in md
    assert not (out / "results" / "inference.json").exists()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"runs": []}))
    assert main(["bench-report", "--only", "soak", "--soak-json", str(bad), "--out", str(out)]) == 2
    assert "not a `edge soak --json` report (no frames and goal)" in capsys.readouterr().err


def test_render_only_keeps_sections_6_and_7_of_the_real_results(tmp_path):
    """--render-only on a copy of benchmarks/results/ (plots go to the copy): the hand-measured sections stay."""
    from workflows.cli import main

    out = tmp_path / "bench"
    shutil.copytree(REPO / "benchmarks" / "results", out / "results")
    md_path = tmp_path / "BENCHMARKS.md"
    assert main(["bench-report", "--render-only", "--out", str(out), "--markdown", str(md_path)]) == 0
    md = md_path.read_text()
    soak = md.split("## 6. Edge soak: 30 minutes against a hostile camera and a filling disk")[1].split("## 7.")[0]
    assert "| every saved frame a decodable image with its sidecar | 1546 sidecars, 1546 images, 0 undecodable, " \
           "0 orphans, 0 temp files | PASS |" in soak
    assert "| RSS growth < 5 % | 199.3 MB after 120 s warm-up, 202.9 MB at the end: +1.8 % (max 203.4 MB) | PASS |" in soak
    serve = md.split("## 7. Serving: bundles under Triton, 1-16 simulated vehicles, beside benchmark_app")[1]
    assert "| off | 16 | 3.27 | 1.18 | 4861.9 | 4951.6 | 81 |" in serve
    assert "| run 1 | teacher cracksam-vit_b-adapter | on | 0.78 | MISS |" in serve
    assert "| JPEG q90 | 27.3 | 0.9 | 0.65 | 0.9664 | 0.6029 | 112.0 / 22.4 / 4.5 |" in serve
    assert md.index("## 5. What these CPU numbers") < md.index("## 6. Edge soak") < md.index("## 7. Serving")
    assert "_not measured" not in md  # every section has its results



def test_serve_benchmark_reads_both_layouts_of_its_results_file(tmp_path, capsys):
    from workflows.serve import bench

    doc = serve_fixture()
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"machine": doc["runs"][0]["machine"], "bundles": doc["runs"][0]["bundles"],
                               "wire": doc["wire"]}))
    loaded = bench.load_results(old)
    assert [len(r["bundles"]) for r in loaded["runs"]] == [2] and loaded["wire"] == doc["wire"]
    assert bench.load_results(tmp_path / "none.json") == {"runs": [], "wire": None}
    # nothing to measure: the file is rewritten in the runs layout, its notes kept, section 7 printed
    assert bench.main(["--json", str(old)]) == 0
    assert json.loads(old.read_text())["runs"][0]["bundles"][0]["model"] == "hrnet_w18"
    assert "| on | 16 | 3.20 | 1.28 | 5000.0 | 5200.0 | 64 |" in capsys.readouterr().out
    new = tmp_path / "new.json"
    new.write_text(json.dumps(doc))
    assert bench.main(["--out", str(new)]) == 0  # the old name of --json
    assert json.loads(new.read_text())["notes"] == doc["notes"]
