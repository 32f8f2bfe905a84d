"""Field failures 6 and 7 and smaller ones: check-config compiles the model like `edge run`; kill -9
leaves nothing half-written after the next start; PNG parts are named as such; the GPS thread
survives anything and keeps its heartbeat and a bounded buffer."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.cli import main
from edge.recovery import incomplete_frames, recover_run
from tests.conftest import REPO_ROOT
from tests.edge_bundle_fixture import build_test_bundle, encode_jpeg, synthetic_frame


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_test_bundle(tmp_path_factory.mktemp("bundle") / "b")


def _images(folder: Path, n: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"f{i:02d}.jpg").write_bytes(encode_jpeg(synthetic_frame(160, 120, seed=i, crack=True, thickness=6)))
    return folder


def _config(tmp_path: Path, bundle: Path, images: Path, out: Path, **extra) -> Path:
    cfg = {"source": {"kind": "images", "path": str(images)}, "model": {"bundle": str(bundle)},
           "save": {"out_dir": str(out), "every_nth": 1}, "disk": {"min_free_mb": 1}, "preview": {"enabled": False}}
    cfg.update(extra)
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# ---- 6: check-config compiles the model -----------------------------------------------------------


def test_check_config_rejects_a_truncated_model_whose_hashes_match(tmp_path, capsys) -> None:
    from crackedge.runtime.metadata import hash_files, load_metadata, write_metadata

    b = build_test_bundle(tmp_path / "bundle")
    weights = b / "model.bin"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    meta = load_metadata(b)
    meta.files = hash_files(b, list(meta.files))  # someone "fixed" the hashes by hand
    write_metadata(b, meta)
    path = _config(tmp_path, b, _images(tmp_path / "frames"), tmp_path / "out")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "model.xml" in err and "Traceback" not in err
    assert main(["run", "--config", str(path)]) == 2  # the same verdict as the daemon
    run_err = capsys.readouterr().err
    assert run_err.splitlines()[-1].split(":")[0] == err.splitlines()[-1].split(":")[0]
    assert main(["check-config", "--no-device", str(path)]) == 0  # without the device: hashes only


def test_check_config_fills_the_compiled_model_cache_the_daemon_then_imports(tmp_path, bundle, capsys) -> None:
    from crackedge.runtime.bundle import load_bundle

    cache = tmp_path / "ov-cache"
    path = _config(tmp_path, bundle, _images(tmp_path / "frames"), tmp_path / "out",
                   model={"bundle": str(bundle), "cache_dir": str(cache)})
    assert main(["check-config", str(path)]) == 0
    folder = cache / load_bundle(bundle).model_fingerprint("ir_fp16")
    blobs = sorted(folder.glob("*.blob"))
    assert len(blobs) == 1
    stamp = blobs[0].stat().st_mtime_ns
    assert main(["run", "--config", str(path)]) == 0
    assert sorted(folder.glob("*.blob")) == blobs and blobs[0].stat().st_mtime_ns == stamp  # imported, not compiled again


def test_check_config_reports_what_it_compiled(tmp_path, bundle, capsys) -> None:
    path = _config(tmp_path, bundle, _images(tmp_path / "frames"), tmp_path / "out",
                   preview={"enabled": True, "host": "0.0.0.0", "port": 0})
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "compiled model.xml on CPU (precision f32" in out
    assert "WARNING: the preview listens on 0.0.0.0 without a token" in out


# ---- 7: kill -9 leaves nothing half-written ---------------------------------------------------------

SAVER_LOOP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from edge.diskguard import DiskGuard, make_run_dir
    from edge.frames import Capture, Frame, Result
    from edge.metrics import Counters
    from edge.postprocess import encode_jpeg
    from edge.saver import FrameSaver

    out = Path(sys.argv[1])
    run = make_run_dir(out)
    rng = np.random.default_rng(int(sys.argv[2]))
    img = rng.integers(0, 255, (180, 240, 3), dtype=np.uint8)  # noise: large JPEGs, long writes
    jpeg = encode_jpeg(img, 95)
    saver = FrameSaver(run, DiskGuard(out, run, min_free_mb=1), Counters(), {}, save_raw=True, fsync=False)
    print("saving", flush=True)
    seq = 0
    while True:
        cap = Capture(image=img, t_wall=time.time(), t_mono=time.monotonic(), full_size=(240, 180), jpeg=jpeg)
        saver.save(Result(Frame(seq, "t", cap), np.zeros((180, 240), np.uint8), 0.0, 0, {}, jpeg, ["every_nth"]))
        seq += 1
    """
)


def _kill9_saver(out: Path, seed: int) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-c", SAVER_LOOP, str(out), str(seed)], env=env, cwd=str(REPO_ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"saving", proc.stderr.read()
        time.sleep(random.Random(seed).uniform(0.4, 1.2))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    time.sleep(1.1)  # the next run folder gets another name (second resolution)


def _assert_whole(run: Path) -> int:
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")], run
    whole, stray = incomplete_frames(run)
    assert stray == [], (run, stray)
    for sidecar in run.glob("[0-9]*.json"):
        doc = json.loads(sidecar.read_text())
        for name in filter(None, (doc["image"], doc["raw_image"])):
            data = (run / name).read_bytes()
            assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None, name
    return whole


def test_kill_9_debris_is_cleaned_at_the_next_start(tmp_path, bundle, caplog) -> None:
    out = tmp_path / "out"
    for seed in range(3):
        _kill9_saver(out, seed)
    killed = sorted((out / "runs").iterdir())
    assert len(killed) == 3
    debris = sum(1 for r in killed for p in r.iterdir() if p.name.endswith(".tmp")) + \
        sum(len(incomplete_frames(r)[1]) for r in killed)
    path = _config(tmp_path, bundle, _images(tmp_path / "frames", 2), out)
    with caplog.at_level(logging.INFO):
        assert main(["run", "--config", str(path)]) == 0
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 4
    for run in killed:
        rec = json.loads((run / "recovery.json").read_text())
        assert rec["frames_whole"] == _assert_whole(run) > 0
        assert all(n.endswith(".tmp") for n in rec["temp_files_removed"])
        if rec["orphans_moved"]:
            assert sorted(rec["orphans_moved"]) == sorted(p.name for p in (run / "incomplete").iterdir())
    moved = sum(len(json.loads((r / "recovery.json").read_text())["temp_files_removed"]) +
                len(json.loads((r / "recovery.json").read_text())["orphans_moved"]) for r in killed)
    assert moved == debris
    assert caplog.text.count("did not end cleanly") == 3
    _assert_whole(runs[-1])
    assert not (runs[-1] / "recovery.json").exists()  # the new run ended cleanly
    # a second start finds nothing to do
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(["run", "--config", str(path)]) == 0
    assert "did not end cleanly" not in caplog.text


def test_recover_run_deletes_temp_files_and_moves_orphans(tmp_path: Path) -> None:
    run = tmp_path / "2026-01-01T00-00-00"
    run.mkdir()
    jpg = encode_jpeg(synthetic_frame(32, 24))
    (run / ".00000001.jpg.ab12cd.tmp").write_bytes(jpg[:100])
    (run / "00000002.jpg").write_bytes(jpg)  # renamed, sidecar never written
    (run / "00000002_raw.jpg").write_bytes(jpg)
    (run / "00000003.jpg").write_bytes(jpg)  # whole
    (run / "00000003.json").write_text(json.dumps({"image": "00000003.jpg", "raw_image": None}))
    (run / "00000004.json").write_text(json.dumps({"image": "00000004.jpg", "raw_image": None}))  # image gone
    (run / "run.json").write_text("{}")
    rec = recover_run(run)
    assert rec.temp_files_removed == [".00000001.jpg.ab12cd.tmp"]
    assert sorted(rec.orphans_moved) == ["00000002.jpg", "00000002_raw.jpg", "00000004.json"]
    assert rec.frames_whole == 1 and rec.errors == []
    assert sorted(p.name for p in run.iterdir()) == ["00000003.jpg", "00000003.json", "incomplete", "run.json"]


def test_a_run_whose_drain_was_aborted_is_scanned_despite_its_summary(tmp_path: Path) -> None:
    from edge.recovery import needs_scan, recover_runs

    runs = tmp_path / "runs"
    jpg = encode_jpeg(synthetic_frame(32, 24))
    for name, exit_info in (("2026-01-01T00-00-00", {"drained": True}), ("2026-01-01T01-00-00", {"drained": False})):
        run = runs / name
        run.mkdir(parents=True)
        (run / "00000007.jpg").write_bytes(jpg)  # a save cut short after the summary was written
        (run / ".00000008.jpg.ab12cd.tmp").write_bytes(jpg[:50])
        (run / "summary.json").write_text(json.dumps({"exit": {**exit_info, "hung": False, "reason": None}}))
    clean, aborted = sorted(runs.iterdir())
    assert not needs_scan(clean) and needs_scan(aborted)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text("{trunc")
    assert needs_scan(tmp_path / "broken")
    recovered = recover_runs(tmp_path)
    assert [Path(r.run).name for r in recovered] == [aborted.name]
    assert sorted(p.name for p in aborted.iterdir()) == ["incomplete", "recovery.json", "summary.json"]
    assert (clean / "00000007.jpg").exists() and not needs_scan(aborted)


def test_a_failed_commit_leaves_no_file_of_the_frame(tmp_path: Path, monkeypatch) -> None:
    import edge.saver as saver_mod
    from edge.diskguard import DiskGuard, make_run_dir
    from edge.metrics import Counters

    run = make_run_dir(tmp_path)
    saver = saver_mod.FrameSaver(run, DiskGuard(tmp_path, run, 1), Counters(write_errors=0), {}, fsync=True)
    real = saver_mod.os.replace

    def replace(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(saver_mod.os, "replace", replace)
    with pytest.raises(OSError):
        saver.commit([("00000001.jpg", b"img"), ("00000001_raw.jpg", b"raw"), ("00000001.json", b"{}")])
    assert list(run.iterdir()) == []


# ---- 8: a PNG part is named as such ------------------------------------------------------------------


def test_png_part_is_reported_as_png_not_as_a_broken_jpeg() -> None:
    from edge.chaos import png_bytes
    from edge.sources.base import CorruptFrame
    from edge.sources.jpegframes import JpegFrameMaker

    maker = JpegFrameMaker((96, 96))
    with pytest.raises(CorruptFrame, match=r"a PNG image, not a JPEG"):
        maker.make(png_bytes())
    with pytest.raises(CorruptFrame, match=r"not a JPEG: starts with 3c 68 74 6d"):
        maker.make(b"<html>oops</html>")
    assert maker.make(encode_jpeg(synthetic_frame(64, 48))).full_size == (64, 48)


# ---- GPS: never a silent death, a heartbeat, a bounded buffer --------------------------------------------


def test_gps_thread_survives_unexpected_errors_and_keeps_its_heartbeat(caplog) -> None:
    from edge.gps import GpsReader
    from edge.watchdog import Heartbeat

    class Buggy(GpsReader):
        kind = "buggy"
        calls = 0

        def _session(self) -> None:
            Buggy.calls += 1
            raise KeyError("driver bug")

    stop = threading.Event()
    g = Buggy(stop, backoff_max_s=0.2)
    g.heartbeat = Heartbeat("gps")
    with caplog.at_level(logging.WARNING):
        g.start()
        time.sleep(1.5)
        assert g.is_alive() and Buggy.calls >= 3
        assert time.monotonic() - g.heartbeat.last_beat < 1.1
        stop.set()
        g.join(3)
    assert not g.is_alive() and g.heartbeat.finished and g.snapshot()["errors"] == Buggy.calls
    assert caplog.text.count("reader failed unexpectedly") == 1 and "KeyError" in caplog.text


def test_gpsd_without_newlines_cannot_grow_the_buffer() -> None:
    from edge.gps import MAX_LINE_BYTES, GpsdGps

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(1024)
            blob = b"x" * 65536
            end = time.monotonic() + 3
            while not stop.is_set() and time.monotonic() < end:
                try:
                    conn.sendall(blob)
                except OSError:
                    return
            conn.sendall(b'\n{"class":"TPV","mode":3,"lat":52.0,"lon":4.0}\n')
            stop.wait(3)

    threading.Thread(target=serve, daemon=True).start()
    g = GpsdGps("127.0.0.1", srv.getsockname()[1], stop, max_age_s=10)
    g.start()
    try:
        deadline = time.monotonic() + 8
        while g.latest() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert g.overruns >= 2, g.snapshot()
        assert g.latest()["lat"] == 52.0  # it recovered and read the next line
        assert MAX_LINE_BYTES <= 65536
    finally:
        stop.set()
        g.join(3)
        srv.close()
