"""Field failures 4 and 5 and the maintenance thread: the disk floor does not flap, an undeletable run
is reported once and never counted as deleted, rotation never runs on the save thread, and save
errors past the first 20 are logged as a rate-limited count."""

from __future__ import annotations

import errno
import logging
import threading
import time
import types
from pathlib import Path

import numpy as np

from edge.diskguard import DiskGuard, make_run_dir
from edge.frames import Capture, Frame, Result
from edge.maintenance import Maintenance
from edge.metrics import Counters, Metrics
from edge.postprocess import encode_jpeg
from edge.saver import FrameSaver
from edge.watchdog import Heartbeat

MB = 1024 * 1024


class Usage:
    def __init__(self, free_mb: float) -> None:
        self.free_mb = free_mb

    def __call__(self, path: str):
        return types.SimpleNamespace(free=int(self.free_mb * MB))


def _records(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and r.name == "edge.diskguard"]


def test_disk_floor_at_the_free_space_does_not_flap(tmp_path: Path, caplog) -> None:
    # free space hovering around the 100 MB floor (what saving near the floor looks like): on main
    # every check flipped between "saving stopped" and "saving resumed"
    usage = Usage(100.0)
    counters = Counters()
    guard = DiskGuard(tmp_path, make_run_dir(tmp_path), min_free_mb=100, policy="stop", check_interval_s=0.0,
                      counters=counters, usage=usage, resume_margin_mb=20)
    states = []
    with caplog.at_level(logging.INFO):
        for i in range(60):
            usage.free_mb = 99.0 if i % 2 else 101.0
            states.append(guard.may_save())
        assert _records(caplog, logging.ERROR) == [
            "free space 99 MB is below the 100 MB floor on %s (policy stop): saving stopped until 120 MB are free; "
            "inference and preview continue" % tmp_path
        ]
        assert _records(caplog, logging.WARNING) == []
        assert states[:2] == [True, False] and not any(states[1:])
        usage.free_mb = 125.0
        assert guard.may_save() is True
        usage.free_mb = 119.0  # back under the resume level but above the floor: keeps saving
        assert guard.may_save() is True
    assert len(_records(caplog, logging.WARNING)) == 1 and "saving resumed" in _records(caplog, logging.WARNING)[0]
    assert counters.get("resume_mb") == 120.0


def test_enospc_above_the_floor_pauses_once_and_resumes_only_after_real_space(tmp_path: Path, caplog) -> None:
    usage = Usage(300.0)
    guard = DiskGuard(tmp_path, make_run_dir(tmp_path), min_free_mb=100, policy="stop", check_interval_s=0.0,
                      usage=usage, resume_margin_mb=20)
    with caplog.at_level(logging.INFO):
        assert guard.may_save()
        guard.disk_full()  # e.g. reserved blocks or a quota: ENOSPC with 300 MB "free"
        guard.disk_full()
        assert [guard.may_save() for _ in range(10)] == [False] * 10
        usage.free_mb = 330.0
        assert guard.may_save() is True
    assert len(_records(caplog, logging.ERROR)) == 1 and len(_records(caplog, logging.WARNING)) == 1


def test_undeletable_run_is_reported_once_and_never_counted_as_deleted(tmp_path: Path, caplog) -> None:
    runs = tmp_path / "runs"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.jpg").write_bytes(b"x")
    runs.mkdir()
    (runs / "2026-01-01T00-00-00").symlink_to(outside, target_is_directory=True)
    current = make_run_dir(tmp_path)
    counters = Counters()
    guard = DiskGuard(tmp_path, current, min_free_mb=100, policy="rotate", check_interval_s=0.0, counters=counters,
                      usage=Usage(50.0))
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            guard.maintain()
    assert counters.get("runs_deleted") == 0
    assert counters.get("rotate_failures") == 1
    assert (outside / "precious.jpg").read_bytes() == b"x"  # rotation never follows a link out of runs/
    errors = _records(caplog, logging.ERROR)
    assert sum("2026-01-01T00-00-00" in e and "symbolic link" in e for e in errors) == 1, errors
    assert sum("nothing left to delete" in e for e in errors) == 1
    assert guard.paused and current.exists()


def test_a_run_that_fails_to_delete_is_skipped_from_then_on(tmp_path: Path, caplog, monkeypatch) -> None:
    import edge.diskguard as dg

    runs = tmp_path / "runs"
    for name in ("2026-01-01T00-00-00", "2026-01-02T00-00-00"):
        (runs / name).mkdir(parents=True)
        (runs / name / "a.jpg").write_bytes(b"x" * 10)
    current = make_run_dir(tmp_path)
    stuck = str(runs / "2026-01-01T00-00-00" / "a.jpg")
    real_unlink = dg.os.unlink

    def unlink(path, *a, **k):
        if str(path) == stuck:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(dg.os, "unlink", unlink)

    def usage(path):
        return Usage(50.0 + 100.0 * (not (runs / "2026-01-02T00-00-00").exists()))(path)

    counters = Counters()
    guard = DiskGuard(tmp_path, current, min_free_mb=100, policy="rotate", counters=counters, usage=usage, resume_margin_mb=10)
    with caplog.at_level(logging.INFO):
        for _ in range(4):
            guard.maintain()
    assert counters.get("runs_deleted") == 1 and counters.get("rotate_failures") == 1
    assert (runs / "2026-01-01T00-00-00").exists() and not (runs / "2026-01-02T00-00-00").exists()
    assert sum("Permission denied" in e for e in _records(caplog, logging.ERROR)) == 1
    assert guard.may_save() is True  # the second-oldest run freed enough


def test_rotation_runs_on_the_maintenance_thread_with_heartbeats_not_on_save(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    old = runs / "2026-01-01T00-00-00"
    for i in range(300):
        (old / f"sub{i % 3}").mkdir(parents=True, exist_ok=True)
        (old / f"sub{i % 3}" / f"{i:05d}.jpg").write_bytes(b"x")
    current = make_run_dir(tmp_path)

    def usage(path):
        return Usage(50.0 if old.exists() else 500.0)(path)

    metrics = Metrics()
    guard = DiskGuard(tmp_path, current, min_free_mb=100, policy="rotate", check_interval_s=0.0,
                      counters=metrics.disk, usage=usage)
    assert guard.may_save() is False and old.exists()  # the save thread measured and paused, deleted nothing
    beats = []
    hb = Heartbeat("maintenance")
    real_beat = hb.beat
    hb.beat = lambda: (beats.append(threading.current_thread().name), real_beat())  # type: ignore[method-assign]
    stop = threading.Event()
    m = Maintenance(stop, hb, metrics, guard, None, interval_s=60.0)
    m.start()
    try:
        deadline = time.monotonic() + 10
        while old.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not old.exists()
        deadline = time.monotonic() + 5  # the folder is gone before the deletion is counted: wait for both
        while not (guard.may_save() and metrics.disk.get("runs_deleted") == 1) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert guard.may_save() and metrics.disk.get("runs_deleted") == 1
    finally:
        stop.set()
        m.join(5)
    assert not m.is_alive() and hb.finished
    assert len(beats) >= 300 and set(beats) == {"maintenance"}  # a heartbeat per deleted file


def _result(seq: int) -> Result:
    img = np.full((24, 32, 3), 100, np.uint8)
    cap = Capture(image=img, t_wall=time.time(), t_mono=time.monotonic(), full_size=(32, 24))
    return Result(Frame(seq, "t", cap), np.zeros((24, 32), np.uint8), 0.0, 0, {}, encode_jpeg(img, 80), ["every_nth"])


def test_save_errors_past_twenty_are_logged_as_a_rate_limited_count(tmp_path: Path, caplog, monkeypatch) -> None:
    import edge.saver as saver_mod

    run = make_run_dir(tmp_path)
    counters = Counters(frames=0, write_errors=0, skipped_disk=0, bytes=0)
    saver = FrameSaver(run, DiskGuard(tmp_path, run, 1, usage=Usage(1e6)), counters, {}, fsync=False)

    def emfile(*a, **k):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(saver_mod, "write_temp", emfile)
    clock = [1000.0]
    monkeypatch.setattr(saver_mod.time, "monotonic", lambda: clock[0])
    with caplog.at_level(logging.ERROR):
        for i in range(231):
            assert saver.save(_result(i)) is False
            clock[0] += 0.1  # 23 s of failures
        lines = [r.getMessage() for r in caplog.records if r.name == "edge.saver"]
        assert len(lines) == 20 and "logged as a count once a minute" in lines[-1]
        clock[0] += 60.0
        saver.flush_error_log()
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.saver"]
    assert len(lines) == 21
    assert lines[-1].startswith("211 more frame(s) could not be saved") and "231 write errors in all" in lines[-1]
    assert "Too many open files" in lines[-1]
    assert counters.get("write_errors") == 231 and not list(run.iterdir())


def test_status_line_shows_write_errors() -> None:
    from edge.daemon import status_line

    m = Metrics()
    m.saved.set(frames=5, write_errors=231)
    m.disk.set(free_mb=10.0)
    assert "saved 5, write errors 231," in status_line(m.snapshot())
