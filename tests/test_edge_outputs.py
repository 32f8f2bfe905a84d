"""Saving (atomic files, sidecars, ENOSPC), the disk floor, measurements, GPS, queues."""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from edge.diskguard import DiskGuard, make_run_dir
from edge.frames import Capture, Frame, Result
from edge.gps import GpsdGps, NmeaGps, nmea_checksum_ok, parse_nmea
from edge.measure import Measurer, caption_lines, pixel_measurement
from edge.metrics import Counters
from edge.postprocess import encode_jpeg, save_reasons
from edge.queues import END, QueueEmpty, StageQueue
from edge.saver import FrameSaver
from tests.edge_bundle_fixture import encode_jpeg as encode_test_jpeg
from tests.edge_bundle_fixture import synthetic_frame


def _result(seq: int = 7, jpeg: bytes | None = None) -> Result:
    img = synthetic_frame(64, 48, seed=seq)
    cap = Capture(image=img, t_wall=time.time(), t_mono=time.monotonic(), full_size=(64, 48), jpeg=jpeg)
    mask = np.zeros((48, 64), np.uint8)
    mask[20:24, 5:60] = 1
    return Result(Frame(seq, "test:cam", cap), mask, float(mask.mean()), int(mask.sum()), pixel_measurement(mask),
                  encode_jpeg(img, 85), ["crack"])


class FakeUsage:
    def __init__(self, free_mb: float) -> None:
        self.free_mb = free_mb

    def __call__(self, path: str):
        return types.SimpleNamespace(free=int(self.free_mb * 1024 * 1024))


# ---- queues --------------------------------------------------------------------------------------


def test_latest_queue_keeps_freshest_and_counts_drops_block_queue_waits() -> None:
    q = StageQueue("cap", 2, "latest")
    for i in range(5):
        q.put(i)
    q.put_end()
    assert q.drops == 3 and [q.get(0.1) for _ in range(3)] == [3, 4, END]
    b = StageQueue("file", 1, "block")
    b.put("a")
    abort = threading.Event()
    threading.Timer(0.1, abort.set).start()
    assert b.put("b", abort) is False and b.drops == 0
    with pytest.raises(QueueEmpty):
        StageQueue("x", 1, "block").get(0.01)


# ---- saver ---------------------------------------------------------------------------------------


def test_saver_writes_image_raw_and_sidecar_atomically(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path)
    counters = Counters(frames=0, raw=0, bytes=0, skipped_disk=0, write_errors=0)
    guard = DiskGuard(tmp_path, run, min_free_mb=10, usage=FakeUsage(1000))
    pos = {"lat": 52.1, "lon": 4.3, "age_s": 0.2}
    raw = encode_test_jpeg(synthetic_frame(128, 96, seed=7))
    saver = FrameSaver(run, guard, counters, {"sha256": "ab" * 32}, save_raw=True, threshold=0.4, position=lambda: pos)
    assert saver.save(_result(7, jpeg=raw))
    assert saver.save(_result(8, jpeg=None))  # no JPEG from the source: the raw frame is encoded
    doc = json.loads((run / "00000007.json").read_text())
    assert doc["sequence"] == 7 and doc["image"] == "00000007.jpg" and doc["raw_image"] == "00000007_raw.jpg"
    assert doc["position"] == pos and doc["threshold"] == 0.4 and doc["model"]["sha256"] == "ab" * 32
    assert doc["measurements"]["area_px"] == 220 and doc["crack_pixels"] == 220
    assert (run / "00000007_raw.jpg").read_bytes() == raw
    assert (run / "00000008_raw.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert counters.get("frames") == 2 and counters.get("raw") == 2
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*"))


def test_saver_survives_enospc_and_leaves_no_partial_frame(tmp_path: Path, monkeypatch) -> None:
    import edge.saver as saver_mod

    run = make_run_dir(tmp_path)
    counters = Counters(frames=0, write_errors=0, skipped_disk=0, bytes=0)
    guard_counters = Counters()
    guard = DiskGuard(tmp_path, run, min_free_mb=10, policy="stop", usage=FakeUsage(1000), counters=guard_counters)
    real = saver_mod.write_temp

    def failing(folder, name, data, fsync=True):
        if name.endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(folder, name, data, fsync=fsync)

    monkeypatch.setattr(saver_mod, "write_temp", failing)
    saver = FrameSaver(run, guard, counters, {}, save_raw=True)
    assert saver.save(_result(3, jpeg=encode_test_jpeg(synthetic_frame(64, 48)))) is False
    assert counters.get("write_errors") == 1
    assert list(run.iterdir()) == []  # the image written before the failure was removed
    assert guard.paused and guard_counters.get("saving_paused") is True
    assert saver.save(_result(4)) is False and counters.get("skipped_disk") == 1


def test_a_disk_that_cannot_be_measured_counts_as_a_write_error_not_a_lost_frame(tmp_path: Path, caplog) -> None:
    run = make_run_dir(tmp_path)
    counters = Counters(frames=0, write_errors=0, skipped_disk=0, bytes=0)

    def pulled(_path):
        raise OSError(errno.EIO, "Input/output error")

    guard = DiskGuard(tmp_path, run, min_free_mb=10, policy="stop", usage=pulled, counters=Counters())
    saver = FrameSaver(run, guard, counters, {})
    with caplog.at_level(logging.ERROR):
        assert saver.save(_result(5)) is False
    assert counters.get("write_errors") == 1 and counters.get("frames") == 0
    assert "saving a frame to" in caplog.text and "Input/output error" in caplog.text


# ---- disk guard ----------------------------------------------------------------------------------


def test_disk_guard_rotates_oldest_runs_then_stops(tmp_path: Path, caplog) -> None:
    runs = tmp_path / "runs"
    for name in ("2026-01-01T00-00-00", "2026-01-02T00-00-00", "2026-01-03T00-00-00", "keep-me"):
        (runs / name).mkdir(parents=True)
        (runs / name / "x.jpg").write_bytes(b"x")
    current = make_run_dir(tmp_path)
    usage = FakeUsage(100)

    def usage_fn(path):
        deleted = sum(not (runs / n).exists() for n in ("2026-01-01T00-00-00", "2026-01-02T00-00-00", "2026-01-03T00-00-00"))
        return FakeUsage(100 + 50 * deleted)(path)

    counters = Counters()
    guard = DiskGuard(tmp_path, current, min_free_mb=180, policy="rotate", counters=counters, usage=usage_fn,
                      resume_margin_mb=20)
    with caplog.at_level("WARNING"):
        assert guard.may_save() is False  # the save thread only measures and pauses: it never deletes
        assert (runs / "2026-01-01T00-00-00").exists() and guard.wake.is_set()
        guard.maintain()  # the maintenance thread rotates up to the resume level (200 MB)
        assert guard.may_save()
    assert not (runs / "2026-01-01T00-00-00").exists() and not (runs / "2026-01-02T00-00-00").exists()
    assert (runs / "2026-01-03T00-00-00").exists() and (runs / "keep-me").exists() and current.exists()
    assert counters.get("runs_deleted") == 2 and counters.get("free_mb") == 200.0
    assert "deleting the oldest run 2026-01-01T00-00-00" in caplog.text
    # floor above what rotation can free: saving stops, the current run survives, and it is said
    guard2 = DiskGuard(tmp_path, current, min_free_mb=10_000, policy="rotate", counters=counters, usage=usage_fn)
    with caplog.at_level("ERROR"):
        guard2.maintain()
        assert guard2.may_save() is False
    assert counters.get("saving_paused") is True and current.exists() and (runs / "keep-me").exists()
    assert "saving stopped" in caplog.text and "nothing left to delete" in caplog.text


def test_disk_guard_stop_policy_resumes_when_space_returns(tmp_path: Path) -> None:
    usage = FakeUsage(50)
    guard = DiskGuard(tmp_path, make_run_dir(tmp_path), min_free_mb=100, policy="stop", check_interval_s=0.0, usage=usage)
    assert guard.may_save() is False and guard.paused
    usage.free_mb = 120  # above the floor but inside the 50 MB hysteresis: still paused
    assert guard.may_save() is False and guard.paused
    usage.free_mb = 500
    assert guard.may_save() is True and not guard.paused


def test_run_dirs_are_unique_and_named_by_start_time(tmp_path: Path) -> None:
    import datetime as dt

    t = dt.datetime(2026, 11, 23, 10, 0, 0)
    a, b = make_run_dir(tmp_path, t), make_run_dir(tmp_path, t)
    assert a.name == "2026-11-23T10-00-00" and b.name == "2026-11-23T10-00-00-1"


# ---- measurement ---------------------------------------------------------------------------------


def test_pixel_measurement_ignores_small_components() -> None:
    mask = np.zeros((50, 50), np.uint8)
    mask[10:12, 5:45] = 1  # 80 px
    mask[40, 40] = 1  # speck
    m = pixel_measurement(mask, min_component_px=20)
    assert m["area_px"] == 80 and m["bbox_xywh"] == [5, 10, 40, 2] and m["components"] == 1
    assert m["length_mm"] is None


def test_measurer_falls_back_to_pixels_for_a_frame_calib_fails_on(monkeypatch, caplog) -> None:
    import edge.measure

    def broken(*a, **k):
        raise RuntimeError("skeleton exploded")

    monkeypatch.setattr(edge.measure, "measure_crack", broken)
    m = Measurer(None)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 9:11] = 1
    with caplog.at_level("WARNING"):
        out = m.measure(mask)
    assert out["area_px"] == 20 and out["method"] == "pixels" and out["mask_size"] == [20, 20]
    assert m.failures == 1 and "skeleton exploded" in caplog.text


def test_measurer_reports_a_mask_too_large_to_measure(tmp_path: Path) -> None:
    mask = np.zeros((90, 160), np.uint8)
    mask[10:80, 10:150] = 1  # 68 % of the frame: a failing model, not a crack
    out = Measurer(None).measure(mask)
    assert out["method"] == "calib" and out["too_large"] is True and out["area_px"] == 70 * 140
    assert out["length_px"] is None and out["branches"] is None and out["parts"] == []
    json.dumps(out)
    assert any("9800 px" in ln for ln in caption_lines(time.time(), 0.68, out))
    everything = Measurer(None, max_crack_fraction=1.0).measure(mask)
    assert everything["too_large"] is False and everything["length_px"] > 100


def test_measurer_uses_the_calib_api(monkeypatch, tmp_path: Path) -> None:
    seen = {}

    class CrackMeasurement:
        def __init__(self, mask):
            self.mask = mask

        def to_dict(self):
            return {"area_px": int(self.mask.sum()), "length_px": 10.0, "mean_width_px": 2.0, "max_width_px": 3.0,
                    "branches": 0, "bbox_xywh": (0, 0, 1, 1), "components": 1, "length_mm": np.float64(123.4),
                    "mean_width_mm": 1.5, "max_width_mm": 2.5, "area_mm2": 99.0}

    def measure_crack(mask, calibration, min_component_px=20, max_area_fraction=0.25):
        seen.update(shape=mask.shape, calibration=calibration, min_component_px=min_component_px,
                    max_area_fraction=max_area_fraction)
        return CrackMeasurement(mask)

    class Calibration:
        @classmethod
        def load(cls, path):
            seen["loaded"] = Path(path)
            return "CAL"

    import edge.measure

    monkeypatch.setattr(edge.measure, "measure_crack", measure_crack)
    monkeypatch.setattr(edge.measure, "Calibration", Calibration)
    calib_file = tmp_path / "cam.yaml"
    calib_file.write_text("x: 1\n")
    m = Measurer(calib_file, min_component_px=5, max_crack_fraction=0.4)
    mask = np.zeros((24, 32), np.uint8)
    mask[10:12, :] = 1
    out = m.measure(mask)
    assert seen == {"loaded": calib_file, "shape": (24, 32), "calibration": "CAL", "min_component_px": 5,
                    "max_area_fraction": 0.4}
    assert out["method"] == "calib" and out["length_mm"] == 123.4 and isinstance(out["length_mm"], float)
    assert out["bbox_xywh"] == [0, 0, 1, 1] and out["area_px"] == 64 and out["mask_size"] == [32, 24]
    json.dumps(out)
    lines = caption_lines(time.time(), 0.01, out)
    assert any("length 123 mm" in ln and "width 1.5 mm" in ln for ln in lines)
    with pytest.raises(Exception, match="calibration file not found"):
        Measurer(tmp_path / "absent.yaml")


def test_save_reasons() -> None:
    assert save_reasons(3, 0.01, 0.002, 0) == ["crack"]
    assert save_reasons(10, 0.0, 0.002, 5) == ["every_nth"]
    assert save_reasons(11, 0.001, 0.002, 5) == []


# ---- GPS -----------------------------------------------------------------------------------------

GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"


def test_nmea_checksum_and_parsing() -> None:
    assert nmea_checksum_ok(GGA) and nmea_checksum_ok(RMC)
    assert not nmea_checksum_ok(GGA.replace("545.4", "545.5"))
    gga = parse_nmea(GGA)
    assert gga["fix"] and gga["satellites"] == 8 and gga["alt_m"] == 545.4
    assert gga["lat"] == pytest.approx(48 + 7.038 / 60) and gga["lon"] == pytest.approx(11 + 31 / 60)
    rmc = parse_nmea(RMC)
    assert rmc["speed_mps"] == pytest.approx(22.4 * 0.514444, abs=1e-3) and rmc["course_deg"] == 84.4
    south = "$GNGGA,000000,3351.000,S,15112.000,W,1,05,1.0,10.0,M,,M,,*"
    body = south[1:-1]
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    g = parse_nmea(f"{south}{cs:02X}")
    assert g["lat"] == pytest.approx(-(33 + 51 / 60)) and g["lon"] == pytest.approx(-(151 + 12 / 60))
    assert parse_nmea("$GPGSV,1,1,00*79") is None and parse_nmea("garbage") is None


def _wait(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_nmea_reader_on_a_pty_in_raw_mode() -> None:
    master, slave = os.openpty()
    stop = threading.Event()
    gps = NmeaGps(os.ttyname(slave), 9600, stop, max_age_s=5)
    gps.start()
    try:
        assert _wait(lambda: gps.state == "reading")
        os.write(master, (GGA.replace("545.4", "545.5") + "\r\n").encode())  # bad checksum: ignored
        os.write(master, (GGA + "\r\n" + RMC + "\r\n").encode())
        assert _wait(lambda: gps.latest() is not None and "speed_mps" in gps.latest())
        fix = gps.latest()
        assert fix["lat"] == pytest.approx(48.1173) and fix["source"] == "nmea" and fix["age_s"] < 5
        assert gps.bad_checksums == 1 and gps.sentences == 2
    finally:
        stop.set()
        gps.join(3)
        os.close(master)
        os.close(slave)
    assert not gps.is_alive()


def test_nmea_reader_follows_a_file_and_fix_expires(tmp_path: Path) -> None:
    path = tmp_path / "nmea.log"
    path.write_text(GGA + "\n")
    stop = threading.Event()
    gps = NmeaGps(str(path), 9600, stop, max_age_s=0.3)
    gps.start()
    try:
        assert _wait(lambda: gps.latest() is not None)
        assert _wait(lambda: gps.latest() is None, 3.0)  # stale fixes are not attached
    finally:
        stop.set()
        gps.join(3)


def test_gpsd_client_reads_tpv(tmp_path: Path) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got_watch = []

    def serve():
        conn, _ = srv.accept()
        with conn:
            got_watch.append(conn.recv(1024))
            conn.sendall(b'{"class":"VERSION","release":"3.25"}\n')
            conn.sendall(b'{"class":"TPV","mode":3,"lat":52.5,"lon":13.4,"altMSL":34.0,"speed":8.3,"track":90.0,"time":"2026-11-23T10:00:00.000Z"}\n')
            time.sleep(1.0)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    stop = threading.Event()
    gps = GpsdGps("127.0.0.1", port, stop)
    gps.start()
    try:
        assert _wait(lambda: gps.latest() is not None)
        fix = gps.latest()
        assert fix["lat"] == 52.5 and fix["alt_m"] == 34.0 and fix["speed_mps"] == 8.3 and fix["source"] == "gpsd"
        assert got_watch and b'?WATCH={"enable":true,"json":true}' in got_watch[0]
    finally:
        stop.set()
        gps.join(3)
        srv.close()
