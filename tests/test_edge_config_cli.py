"""`edge check-config` / `edge run` refusing bad input with messages that name the problem, and the
documented behaviour at the disk floor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from edge.config import load_edge_config
from tests.edge_bundle_fixture import build_test_bundle, encode_jpeg, synthetic_frame

EXAMPLES = Path(__file__).resolve().parents[1] / "edge" / "examples"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_test_bundle(tmp_path_factory.mktemp("bundle") / "b")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(6):
        (d / f"f{i:02d}.jpg").write_bytes(encode_jpeg(synthetic_frame(160, 120, seed=i, crack=i % 2 == 0, thickness=6)))
    return d


def _config(tmp_path: Path, bundle: Path, images: Path, source: dict | None = None, **overrides) -> Path:
    cfg = {
        "source": source or {"kind": "images", "path": str(images)},
        "model": {"bundle": str(bundle)},
        "save": {"out_dir": str(tmp_path / "out")},
        "preview": {"enabled": False},
    }
    for section, values in overrides.items():
        cfg.setdefault(section, {}).update(values)
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_check_config_accepts_a_good_config(tmp_path, bundle, images, capsys) -> None:
    assert main(["check-config", str(_config(tmp_path, bundle, images))]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "hashes OK" in out and "devices CPU" in out and "drop nothing" in out


def test_unknown_key_is_named(tmp_path, bundle, images, capsys) -> None:
    path = _config(tmp_path, bundle, images, save={"out_dirr": "x"})
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "save.out_dirr: unknown key" in err and str(path) in err


def test_unknown_key_in_a_source_kind_is_named(tmp_path, bundle, images, capsys) -> None:
    path = _config(tmp_path, bundle, images, source={"kind": "http_mjpeg", "url": "http://cam:8080/?action=stream", "fps": 5})
    assert main(["run", "--config", str(path)]) == 2
    assert "source.http_mjpeg.fps: unknown key" in capsys.readouterr().err


@pytest.mark.parametrize(
    "section,values,expected",
    [
        ("save", {"min_crack_ratio": 2}, ["save.min_crack_ratio", "less than or equal to 1", "(got 2)"]),
        ("measure", {"max_crack_fraction": 0}, ["measure.max_crack_fraction", "greater than 0", "(got 0)"]),
        ("model", {"device": "NPU"}, ["model.device", "'NPU'"]),
        ("preview", {"port": "eighty"}, ["preview.port", "'eighty'"]),
        ("source", {"kind": "webcam", "path": "x"}, ["source", "'webcam'"]),
        ("source", {"kind": "http_mjpeg", "url": "rtsp://cam/stream"}, ["source.http_mjpeg", "rtsp://cam/stream"]),
    ],
)
def test_bad_values_are_named_with_the_value(tmp_path, bundle, images, capsys, section, values, expected) -> None:
    if section == "source":
        path = _config(tmp_path, bundle, images, source=values)
    else:
        path = _config(tmp_path, bundle, images, **{section: values})
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, err


def test_missing_bundle_file_and_hash_mismatch_refuse_to_start(tmp_path, bundle, images, capsys) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "model.bin").unlink()
    assert main(["run", "--config", str(_config(tmp_path, broken, images))]) == 2
    err = capsys.readouterr().err
    assert "model.bin is missing" in err and "copy the whole bundle folder again" in err
    (broken / "model.bin").write_bytes((bundle / "model.bin").read_bytes()[:-4] + b"\0\0\0\0")
    assert main(["run", "--config", str(_config(tmp_path, broken, images))]) == 2
    err = capsys.readouterr().err
    assert "model.bin does not match the SHA-256" in err
    assert not (tmp_path / "out").exists(), "nothing may start before the bundle is verified"


def test_missing_device_names_found_devices_and_the_fix(tmp_path, bundle, images, capsys) -> None:
    path = _config(tmp_path, bundle, images, model={"device": "MYRIAD"})
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "inference device 'MYRIAD' not found" in err and "sees: CPU" in err
    assert "OpenVINO 2022.3 built with the MYRIAD plugin" in err and "99-ncs2.rules" in err
    assert main(["check-config", str(path)]) == 2
    assert main(["check-config", "--no-device", str(path)]) == 0


def test_run_on_a_folder_saves_crack_frames_and_exits_when_it_ends(tmp_path, bundle, images) -> None:
    path = _config(tmp_path, bundle, images, save={"every_nth": 0})
    assert main(["run", "--config", str(path)]) == 0
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    assert sorted(p.name for p in run_dir.glob("0*.json")) == ["00000000.json", "00000002.json", "00000004.json"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["source"]["state"] == "ended" and summary["drops"] == 0 and summary["saved"]["skipped_threshold"] == 3


def test_disk_floor_stops_saving_and_says_so(tmp_path, bundle, images, caplog) -> None:
    path = _config(tmp_path, bundle, images, disk={"min_free_mb": 1e12, "policy": "stop"})
    with caplog.at_level("WARNING"):
        assert main(["run", "--config", str(path)]) == 0
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    assert not list(run_dir.glob("0*")), "no frame may be saved below the disk floor"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["disk"]["saving_paused"] is True and summary["disk"]["floor_mb"] == 1e12
    assert summary["saved"]["frames"] == 0 and summary["saved"]["skipped_disk"] == 3
    assert "below the 1000000000000 MB floor" in caplog.text and "saving stopped" in caplog.text


def test_example_configs_are_valid() -> None:
    examples = sorted(EXAMPLES.glob("*.yaml"))
    assert examples, "edge/examples/*.yaml missing"
    for ex in examples:
        cfg = load_edge_config(ex)
        assert cfg.save.out_dir.is_absolute()


def test_busy_preview_port_is_a_clear_error_and_leaves_no_run_folder(tmp_path, bundle, images, capsys) -> None:
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        path = _config(tmp_path, bundle, images, preview={"enabled": True, "port": busy.getsockname()[1]})
        assert main(["run", "--config", str(path)]) == 2
    finally:
        busy.close()
    err = capsys.readouterr().err
    assert "preview: cannot listen on 127.0.0.1:" in err and "preview.port" in err
    assert not (tmp_path / "out" / "runs").exists() or not any((tmp_path / "out" / "runs").iterdir())


def test_run_with_an_nmea_gps_puts_the_position_in_sidecars(tmp_path, bundle, images) -> None:
    nmea = tmp_path / "gps.nmea"
    nmea.write_text("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\n")
    path = _config(tmp_path, bundle, images, source=None, gps={"kind": "nmea", "path": str(nmea)})
    cfg = yaml.safe_load(path.read_text())
    cfg["source"]["rate_fps"] = 10
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", "--config", str(path)]) == 0
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    docs = [json.loads(p.read_text()) for p in sorted(run_dir.glob("0*.json"))]
    assert docs and docs[-1]["position"]["lat"] == pytest.approx(48.1173) and docs[-1]["position"]["source"] == "nmea"
    assert json.loads((run_dir / "summary.json").read_text())["gps"]["sentences"] == 1


def test_run_with_a_calibration_measures_cracks_in_mm(tmp_path, bundle, images) -> None:
    """The real calib package with a ground mapping of 2 mm per pixel: sidecars carry mm values."""
    pytest.importorskip("calib.measure")
    from calib.calibration import Calibration
    from calib.schema import Ground

    cal = tmp_path / "cam.yaml"
    Calibration.create((160, 120), ground=Ground(homography=[[2, 0, 0], [0, 2, 0], [0, 0, 1]], method="points")).save(cal)
    path = _config(tmp_path, bundle, images, measure={"calib": str(cal)})
    assert main(["run", "--config", str(path)]) == 0
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    docs = [json.loads(p.read_text()) for p in sorted(run_dir.glob("0*.json"))]
    assert docs
    for d in docs:
        m = d["measurements"]
        assert m["method"] == "calib" and m["mask_size"] == [160, 120]
        assert m["length_px"] > 50 and m["length_mm"] == pytest.approx(2.0 * m["length_px"], rel=0.02)
        assert m["area_mm2"] == pytest.approx(4.0 * m["area_px"], rel=0.02)
    assert json.loads((run_dir / "run.json").read_text())["measurement"] == "calib"
