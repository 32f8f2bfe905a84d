"""End to end: `python -m edge run` on a scripted MJPEG stream, then SIGTERM.

The stream carries crack frames and blank frames, a truncated JPEG, a part without Content-Length
and a mid-stream disconnect. The daemon must save the crack frames (raw bytes identical to what
was served) and no blank frame, count the corrupt part, reconnect, and exit 0 on SIGTERM leaving
only complete files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.jpeg import looks_complete
from tests.conftest import REPO_ROOT
from tests.edge_bundle_fixture import build_test_bundle, encode_jpeg, synthetic_frame
from tests.edge_stream_fixture import ScriptedMjpegServer


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_test_bundle(tmp_path_factory.mktemp("bundle") / "b")


def _wait_for(cond, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon exited early ({proc.returncode}) while waiting for {what}:\n{log.read_text() if log else ''}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{log.read_text() if log else ''}")


def _start_daemon(cfg_path: Path, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(cfg_path)],
        cwd=str(cfg_path.parent), env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"),
    )


def test_daemon_saves_crack_frames_from_mjpeg_stream_and_stops_cleanly(bundle: Path, tmp_path: Path) -> None:
    crack = [encode_jpeg(synthetic_frame(320, 240, seed=s, crack=True)) for s in range(10)]
    blank = [encode_jpeg(synthetic_frame(320, 240, seed=100 + s, crack=False)) for s in range(10)]
    truncated = crack[0][: len(crack[0]) // 2]
    script: list[tuple[str, bytes]] = []
    for i in range(10):
        script.append(("jpeg_nolen" if i == 3 else "jpeg", crack[i]))
        script.append(("jpeg", blank[i]))
        if i == 2:
            script.append(("raw", truncated))
        if i == 5:
            script.append(("disconnect", b""))
    out = tmp_path / "out"
    with ScriptedMjpegServer(script, fps=8.0, tail=blank[0]) as server:
        cfg = {
            "source": {"kind": "http_mjpeg", "url": server.url, "read_timeout_s": 3.0, "reconnect_initial_s": 0.2,
                       "reconnect_max_s": 1.0, "stall_timeout_s": 3.0},
            "model": {"bundle": str(bundle), "device": "CPU"},
            "save": {"out_dir": str(out), "save_raw": True, "min_crack_ratio": 0.002},
            "disk": {"min_free_mb": 1},
            "preview": {"port": 0},
            "pipeline": {"drain_timeout_s": 5.0},
        }
        cfg_path = tmp_path / "edge.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg))
        log_path = tmp_path / "daemon.log"
        proc = _start_daemon(cfg_path, log_path)
        try:
            _wait_for(server.script_done.is_set, 25.0, "the stream script to be consumed", proc, log_path)
            runs = out / "runs"
            _wait_for(lambda: runs.is_dir() and any(runs.iterdir()), 5.0, "a run folder", proc, log_path)
            run_dir = next(runs.iterdir())
            # the tail frames are blank: once a few more have passed, every crack frame is through
            time.sleep(1.0)
            t_term = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=15)
            stop_s = time.monotonic() - t_term
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log = log_path.read_text()
    assert rc == 0, log
    assert stop_s < 10.0, f"SIGTERM to exit took {stop_s:.1f} s"
    assert server.connections >= 2, "the daemon did not reconnect after the disconnect"

    # nothing half-written
    assert not list(out.rglob("*.tmp")), "temporary files left behind"
    sidecars = sorted(run_dir.glob("0*.json"))
    images = sorted(p for p in run_dir.glob("0*.jpg") if not p.name.endswith("_raw.jpg"))
    assert len(sidecars) == len(images)
    for jpg in run_dir.glob("*.jpg"):
        data = jpg.read_bytes()
        assert looks_complete(data), jpg
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None, jpg

    # the right frames: every saved raw frame is byte-identical to a served crack frame
    crack_set, blank_set = set(crack), set(blank)
    saved_raw = []
    for sc in sidecars:
        doc = json.loads(sc.read_text())
        assert (run_dir / doc["image"]).is_file() and (run_dir / doc["raw_image"]).is_file()
        assert doc["reasons"] == ["crack"] and doc["crack_ratio"] >= 0.002
        assert doc["source"].startswith("http_mjpeg:127.0.0.1")
        assert doc["model"]["sha256"] and doc["model"]["file"] == "model.xml"
        raw = (run_dir / doc["raw_image"]).read_bytes()
        assert raw not in blank_set, f"{sc.name}: a blank frame was saved"
        assert raw in crack_set, f"{sc.name}: saved raw frame is not one of the served crack frames"
        saved_raw.append(raw)
    assert len(set(saved_raw)) >= 5, f"only {len(set(saved_raw))} of 10 crack frames saved\n{log}"

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["source"]["corrupt"] >= 1
    assert summary["source"]["reconnects"] >= 1
    assert summary["exit"]["drained"] is True
    assert summary["saved"]["frames"] == len(sidecars)
    assert "reconnected" in log and "corrupt frame" in log
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["model"]["sha256"] == summary["inference"]["model_sha256"]
