"""Issue 15, items 1 and 5: the Pi install commands of docs/pi-install.md, resolved by the real pip.

Offline: a local index of stand-in wheels that carry the published names, versions and numpy
requirements (opencv-python-headless 5 requires numpy >= 2, 4.11 does not; openvino, simplejpeg ...),
and a "system" numpy 1.24.2 that the venv sees after its own site-packages, as a venv made with
--system-site-packages sees apt's numpy. The docs' pip commands run as written against it (only the
paths and the index are swapped). The camera install must leave the system numpy in charge; the old
two-step install (`pip install "numpy<2"`, then the package) must reproduce the breakage, proving
the stand-ins model it. `make pi-check` runs the same commands on an emulated arm64 Debian 12.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tools.pi_check import doc_blocks

# name, version, Requires-Dist (as published on PyPI, numpy requirements for CPython 3.11 on aarch64)
INDEX = [
    ("numpy", "1.26.4", []),
    ("numpy", "2.4.6", []),
    ("opencv-python-headless", "4.11.0.86", ["numpy>=1.23.5"]),
    ("opencv-python-headless", "5.0.0.93", ["numpy>=2"]),
    ("openvino", "2026.4.1", ["numpy<2.6.0,>=1.16.6", "openvino-telemetry>=2023.2.1"]),
    ("openvino-telemetry", "2025.2.0", []),
    ("simplejpeg", "1.9.0", ["numpy>=1.19.3"]),
    ("prometheus-client", "0.26.0", []),
    ("pydantic", "2.14.3", ["annotated-types>=0.6.0", "pydantic-core==2.50.4", "typing-extensions>=4.14.1",
                            "typing-inspection>=0.4.2"]),
    ("pydantic-core", "2.50.4", ["typing-extensions>=4.14.1"]),
    ("annotated-types", "0.8.0", []),
    ("typing-extensions", "4.16.0", []),
    ("typing-inspection", "0.4.5", ["typing-extensions>=4.12.0"]),
    ("pyyaml", "6.0.3", []),
    ("tqdm", "4.70.1", []),
]
SYSTEM_NUMPY = "1.24.2"  # Debian 12 / Raspberry Pi OS Bookworm python3-numpy


def _wheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    dist = re.sub(r"[-.]+", "_", name)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{dist}_standin/__init__.py", f"__version__ = {version!r}\n")
        z.writestr(f"{info}/METADATA", meta)
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: crackedge-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("index")
    for name, version, requires in INDEX:
        _wheel(folder, name, version, requires)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir",
                    str(folder), str(REPO_ROOT)], check=True, capture_output=True)
    return folder


def _system_site(tmp: Path) -> Path:
    """apt's numpy 1.24.2 as a venv with --system-site-packages sees it: after the venv's own packages."""
    site = tmp / "system-site"
    info = site / f"numpy-{SYSTEM_NUMPY}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: numpy\nVersion: {SYSTEM_NUMPY}\n")
    (info / "RECORD").write_text("")
    (info / "INSTALLER").write_text("debian\n")
    return site


def _venv(tmp: Path, system_site: Path | None) -> Path:
    root = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(root)  # ensurepip: offline, the interpreter's bundled pip
    site = next(root.glob("lib/python3*/site-packages"))
    if system_site is not None:
        (site / "zz_system_site.pth").write_text(f"{system_site}\n")
    return root


def _pip_commands(scenario: str) -> list[str]:
    cmds = []
    for block in doc_blocks(scenario):
        for line in block.splitlines():
            if "/opt/crackedge/venv/bin/pip install" in line:
                cmds.append(line.split("#")[0].strip())
    return cmds


def _run_pip(cmd: str, venv_root: Path, index: Path) -> None:
    """One docs command as written, with the venv, the files and the index swapped for the test's."""
    argv = shlex.split(cmd)
    assert argv[:2] == ["sudo", "/opt/crackedge/venv/bin/pip"], cmd
    wheel = next(index.glob("crackedge-*.whl")).name
    args = [a.replace("/opt/crackedge/" + wheel, str(index / wheel))
             .replace("/opt/crackedge/", str(REPO_ROOT / "constraints") + "/") for a in argv[2:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(index),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run([str(venv_root / "bin" / "python"), "-m", "pip", *args, "-q"], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, f"{cmd}\n{done.stdout}{done.stderr}"


def _installed(venv_root: Path) -> dict[str, str]:
    """name -> version of what pip put into the venv itself (not the system site)."""
    site = next(venv_root.glob("lib/python3*/site-packages"))
    out = {}
    for info in site.glob("*.dist-info"):
        if info.name.startswith(("pip-", "setuptools-")):
            continue
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        out[name.lower().replace("_", "-")] = version
    return out


def test_docs_mark_the_commands_pi_check_runs() -> None:
    for scenario, constraints, extra in (("cpu", "pi-cpu.txt", "[edge]"), ("camera", "pi-camera.txt", "[edge,pi]")):
        cmds = _pip_commands(scenario)
        assert len(cmds) == 1 and f"-c /opt/crackedge/{constraints}" in cmds[0] and extra in cmds[0], cmds


def test_camera_install_as_documented_keeps_the_system_numpy(index, tmp_path) -> None:
    """Item 1: the camera venv (system numpy 1.24 visible) must not get a numpy of its own."""
    root = _venv(tmp_path, _system_site(tmp_path))
    for cmd in _pip_commands("camera"):
        _run_pip(cmd, root, index)
    got = _installed(root)
    assert "numpy" not in got, f"the venv shadows the system numpy {SYSTEM_NUMPY} with numpy {got.get('numpy')}"
    assert got["opencv-python-headless"] == "4.11.0.86" and got["openvino"] == "2026.4.1" and "crackedge" in got


def test_camera_extra_alone_cannot_pull_numpy_2(index, tmp_path) -> None:
    """Even without the constraints file, `[edge,pi]` resolves to the system numpy and OpenCV 4.11."""
    root = _venv(tmp_path, _system_site(tmp_path))
    wheel = next(index.glob("crackedge-*.whl"))
    _run_pip(f'sudo /opt/crackedge/venv/bin/pip install "{wheel}[edge,pi]"', root, index)
    got = _installed(root)
    assert "numpy" not in got and got["opencv-python-headless"].startswith("4.")


def test_the_old_two_step_install_did_break_numpy(index, tmp_path) -> None:
    """The docs before issue 15: `pip install "numpy<2"` (a no-op), then the package: opencv 5 pulls numpy 2."""
    root = _venv(tmp_path, _system_site(tmp_path))
    wheel = next(index.glob("crackedge-*.whl"))
    _run_pip('sudo /opt/crackedge/venv/bin/pip install "numpy<2"', root, index)
    _run_pip(f'sudo /opt/crackedge/venv/bin/pip install "{wheel}[edge]"', root, index)
    got = _installed(root)
    assert got.get("numpy", "").startswith("2.") and got["opencv-python-headless"].startswith("5.")


def test_cpu_install_as_documented(index, tmp_path) -> None:
    root = _venv(tmp_path, None)
    for cmd in _pip_commands("cpu"):
        _run_pip(cmd, root, index)
    got = _installed(root)
    assert got["numpy"] == "2.4.6" and got["opencv-python-headless"] == "5.0.0.93" and got["openvino"] == "2026.4.1"
    assert not any(name in got for name in ("torch", "torchvision", "timm", "onnx"))


def test_pinned_sets_pin_everything_the_pi_installs() -> None:
    """Every package the docs' commands install is pinned (==) in each set, except the capped numpy of the
    camera set; the NCS2 set keeps numpy below 1.25 and refuses OpenVINO 2023+."""
    names = {n for n, _, _ in INDEX}
    for name in ("pi-cpu.txt", "pi-camera.txt", "ncs2.txt"):
        pins = {}
        for line in (REPO_ROOT / "constraints" / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                pkg = re.split(r"[<>=!]", line, maxsplit=1)[0].strip().lower()
                pins[pkg] = line
        wanted = names - ({"openvino-telemetry"} if name == "ncs2.txt" else set())
        assert wanted <= set(pins), f"{name} does not pin {sorted(wanted - set(pins))}"
        if name == "pi-camera.txt":
            assert pins["numpy"] == "numpy<2" and pins["opencv-python-headless"] == "opencv-python-headless==4.11.0.86"
        if name == "ncs2.txt":
            assert pins["openvino"] == "openvino>=2022.3,<2022.4" and pins["numpy"] == "numpy==1.24.4"


def test_no_doc_installs_crackedge_from_an_index() -> None:
    """Item 5: crackedge is not on PyPI; the docs say how to build the wheel and bring it to the Pi."""
    pattern = re.compile(r"pip install[^\n`|]*?[\"' ]crackedge(\[[^\]]*\])?[\"' ]?(\s|$|`)")
    for doc in (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "pi-install.md", REPO_ROOT / "docs" / "edge.md"):
        bad = [m.group(0) for m in pattern.finditer(doc.read_text())]
        assert not bad, f"{doc.name} installs crackedge by name from an index: {bad}"
    text = (REPO_ROOT / "docs" / "pi-install.md").read_text()
    assert "make pi-wheel" in text and "pip wheel --no-deps" in text and "scp dist/crackedge-" in text


def test_ov2022_target_says_why_it_skips_without_python310(monkeypatch, tmp_path, capsys) -> None:
    """Item 4 elsewhere: on a machine without Python 3.10 the 2022.3 target skips and says why."""
    from tools import ov2022_env

    monkeypatch.setenv("CRACKEDGE_PY310", str(tmp_path / "none"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setattr(ov2022_env, "VENV", tmp_path / "venv")
    assert ov2022_env.find_python310() is None
    assert ov2022_env.main([]) == 0  # `make test-ov2022` goes on to the tests, which skip with the reason
    assert "skipped: no Python 3.10 on this machine" in capsys.readouterr().err


def test_ov2022_venv_gets_crackedges_requirements_and_the_ncs2_extra(tmp_path) -> None:
    """The 2022.3 venv installs what `crackedge[ncs2]` pulls in (the tests run this checkout from
    PYTHONPATH), read from pyproject.toml, so a new dependency reaches it without an edit here."""
    from tools import ov2022_env

    req = ov2022_env.requirements()
    assert "openvino>=2022.3,<2022.4" in req and "numpy<1.25" in req
    assert any(r.startswith("pydantic") for r in req) and any(r.startswith("pyyaml") for r in req)
    toml = tmp_path / "pyproject.toml"
    toml.write_text('[project]\ndependencies = ["a>=1"]\n[project.optional-dependencies]\nncs2 = ["b<2"]\n')
    assert ov2022_env.requirements(toml) == ["a>=1", "b<2"]
