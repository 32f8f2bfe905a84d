"""Issue 15, item 2: a source that cannot exist on this machine is a configuration error at start.

`edge run` exits 2 with the fix before READY=1 (no endless "retrying in 30 s" while the watchdog flips
between hung and recovered), and `edge check-config` says the same. A stream URL that does not answer
is not an error: that camera may come back, and the capture stage reconnects with backoff.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from tests.conftest import REPO_ROOT
from tests.edge_bundle_fixture import build_test_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_test_bundle(tmp_path_factory.mktemp("bundle") / "b")


def _config(tmp_path: Path, bundle: Path, source: dict) -> Path:
    cfg = {"source": source, "model": {"bundle": str(bundle)}, "save": {"out_dir": str(tmp_path / "out")},
           "disk": {"min_free_mb": 1}, "preview": {"enabled": False}}
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _edge(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """`edge ARGS` in a fresh interpreter (as systemd starts it), picamera2 made unimportable; a daemon
    still running after `timeout` s (retrying a source that cannot exist) fails the test."""
    code = f"import sys\nsys.modules['picamera2'] = None\nfrom edge.cli import main\nsys.exit(main({args!r}))\n"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=str(REPO_ROOT))
    except subprocess.TimeoutExpired:
        pytest.fail(f"`edge {' '.join(args)}` still running after {timeout} s: it retries a source that cannot exist")


def test_picamera2_missing_fails_check_config_and_run_with_the_install_command(tmp_path, bundle) -> None:
    """Before: check-config said OK and `edge run` retried forever ("needs picamera2 ... retrying in 30.0 s")."""
    cfg = _config(tmp_path, bundle, {"kind": "picamera2"})
    check = _edge(["check-config", str(cfg)])
    assert check.returncode == 2, check.stdout + check.stderr
    assert "source.kind picamera2, but picamera2 cannot be imported" in check.stderr
    assert "sudo apt install -y python3-picamera2" in check.stderr and "--system-site-packages" in check.stderr
    run = _edge(["run", "--config", str(cfg)])
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == check.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()  # refused before the run folder was made


def test_picamera2_broken_by_a_numpy_2_in_the_venv_is_named(tmp_path, bundle, monkeypatch, capsys) -> None:
    fake = tmp_path / "site" / "picamera2"
    fake.mkdir(parents=True)
    # what importing apt's picamera2 stack (built against numpy 1.24) does under numpy 2
    (fake / "__init__.py").write_text("raise ImportError('numpy.core.multiarray failed to import')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    cfg = _config(tmp_path, bundle, {"kind": "picamera2"})
    assert main(["check-config", "--no-device", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "numpy.core.multiarray failed to import" in err and "constraints/pi-camera.txt" in err
    assert "system numpy 1.x" in err


@pytest.mark.parametrize("device,node", [("/dev/video9", "/dev/video9"), (7, "/dev/video7"), ("5", "/dev/video5")])
def test_v4l2_device_that_is_not_there_is_a_config_error(tmp_path, bundle, capsys, device, node) -> None:
    if os.path.exists(node):
        pytest.skip(f"{node} exists on this machine")
    cfg = _config(tmp_path, bundle, {"kind": "v4l2", "device": device})
    assert main(["check-config", "--no-device", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"source.device: {node} does not exist on this machine" in err and "v4l2-ctl --list-devices" in err
    run = _edge(["run", "--config", str(cfg)])
    assert run.returncode == 2 and f"{node} does not exist" in run.stderr


def test_v4l2_device_present_passes_the_check(tmp_path) -> None:
    from edge.sources.v4l2 import check_v4l2_device

    node = tmp_path / "video0"
    node.write_bytes(b"")
    assert check_v4l2_device(str(node)) == f"{node} present"


@pytest.mark.parametrize("kind,name", [("video", "missing.mp4"), ("images", "missing_folder")])
def test_missing_files_fail_run_as_well_as_check_config(tmp_path, bundle, capsys, kind, name) -> None:
    cfg = _config(tmp_path, bundle, {"kind": kind, "path": str(tmp_path / name)})
    assert main(["check-config", "--no-device", str(cfg)]) == 2
    assert "does not exist" in capsys.readouterr().err
    run = _edge(["run", "--config", str(cfg)])
    assert run.returncode == 2 and "does not exist" in run.stderr


def test_unreachable_stream_is_not_a_config_error(tmp_path, bundle) -> None:
    """A stream camera that is down at start may come back: check-config passes, the daemon starts,
    reconnects with backoff, and stops cleanly on SIGTERM."""
    url = "http://127.0.0.1:9/?action=stream"  # discard port: nothing listens
    cfg = _config(tmp_path, bundle, {"kind": "http_mjpeg", "url": url, "reconnect_initial_s": 0.2,
                                     "reconnect_max_s": 0.5})
    check = _edge(["check-config", str(cfg)])
    assert check.returncode == 0, check.stderr
    assert "not contacted" in check.stdout
    code = textwrap.dedent(f"""
        import sys
        from edge.cli import main
        sys.exit(main(["run", "--config", {str(cfg)!r}]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(REPO_ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    try:
        lines, deadline, ready = [], time.monotonic() + 90, False
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            ready = ready or "ready (pid" in line
            if ready and "retrying in" in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(lines) + rest
    assert proc.returncode == 0, log
    assert "ready (pid" in log and "retrying in" in log
