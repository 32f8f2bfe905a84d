"""The 2-minute soak: the daemon against a hostile camera, a disk that fills and frees and preview
floods, with the systemd watchdog emulated (edge.soak). The 30-minute figure is in BENCHMARKS.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from tests.edge_bundle_fixture import build_test_bundle


@pytest.mark.slow
def test_two_minute_soak_has_no_exits_no_false_alarms_and_only_whole_frames(tmp_path: Path, capsys) -> None:
    bundle = build_test_bundle(tmp_path / "bundle")
    report_path = tmp_path / "soak.json"
    code = main(["soak", str(bundle), "--out", str(tmp_path / "soak"), "--duration", "120", "--json", str(report_path)])
    out = capsys.readouterr().out
    r = json.loads(report_path.read_text())
    assert r["unexpected_exits"] == [] and r["final_exit_status"] == 0, out
    assert r["false_alarms"]["hung_log_lines"] == 0 and r["false_alarms"]["keepalive_gaps_over_watchdog_sec"] == 0, out
    assert r["false_alarms"]["keepalives"] >= 6  # WatchdogSec 30: one every 15 s
    f = r["frames"]
    assert f["received"] >= 100 and f["saved"] >= 15, out
    assert f["saved"] + f["below_threshold"] + f["dropped"]["disk_floor"] + f["dropped"]["write_errors"] \
        + f["dropped"]["queue_full_keep_freshest"] <= f["received"]
    assert f["dropped"]["corrupt_or_unusable_parts"] >= 4 and f["dropped"]["disk_floor"] >= 1, out
    assert f["dropped"]["write_errors"] == 0
    assert r["source"]["frame_timeouts"] >= 2 and r["source"]["reconnects"] >= 3, out  # trickle, 12 MB part
    assert r["source"]["outage_s_total"] >= 30  # the camera was down for 30 s (a 16 s backoff wait in it)
    assert r["disk"]["saving_paused"] == r["disk"]["saving_resumed"] == 1 and r["disk"]["old_runs_deleted"] == 3
    for ev in ("trickle", "large", "oversize", "png", "corrupt", "garbage", "disconnect", "stall"):
        assert r["chaos_sent"].get(ev, 0) >= 1, ev
    files = r["files"]
    assert files["sidecars"] == f["saved"] and files["images"] == f["saved"]
    assert files["undecodable"] == files["orphans"] == files["temp_files"] == 0
    assert r["rss_mb"]["growth_pct"] is not None and r["rss_mb"]["growth_pct"] < 5.0, out
    assert r["passed"] and code == 0
    assert "PASS" in out and "unexpected exits   0" in out
