"""The Triton Inference Server inside the `nvidia-pytriton` wheel, started for crackedge's repository.

The wheel (Linux x86_64, glibc >= 2.35) ships `tritonserver` (Triton 2.51 in pytriton 0.7.0), its
shared libraries (nvidia_pytriton.libs) and the Python backend with one stub per Python minor
version. We run that binary directly on a repository we write (repository.py), not through
PyTriton's Python API: PyTriton's proxy converts tensors through the stub's numpy C API, which is
wrong under numpy 2 (the stub was built against numpy 1.x); our model does its I/O through DLPack.

The libpython trap: the stub embeds Python by linking `libpython3.X.so.1.0` from the library path.
With a venv made from the system Python that is the right library; with any other build of the same
minor version (pyenv, a source build) the system's libpython is loaded under that build's standard
library and the model fails with `'_thread.RLock' object has no attribute '_recursion_count'`.
`server_env()` therefore puts the running interpreter's own LIBDIR (sysconfig) first on
LD_LIBRARY_PATH of the server, and its `bin` folder first on PATH (the stub finds the environment,
and so numpy, openvino and crackedge, through the `python3` it sees there).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from crackedge.errors import CrackedgeError, MissingDependencyError

log = logging.getLogger(__name__)

MIN_GLIBC = (2, 35)


class ServeError(CrackedgeError):
    """The server cannot start or does not become ready; the message says why and what to do."""


@dataclass(frozen=True)
class TritonInstall:
    """Where the wheel's pieces are."""

    root: Path  # .../site-packages/pytriton/tritonserver
    libs: Path  # .../site-packages/nvidia_pytriton.libs

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    @property
    def python_backend(self) -> Path:
        return self.root / "backends" / "python"

    def stub(self, version: str) -> Path:
        return self.root / "python_backend_stubs" / version / "triton_python_backend_stub"


def _glibc() -> Optional[tuple[int, ...]]:
    name, version = platform.libc_ver()
    if name != "glibc" or not version:
        return None
    try:
        return tuple(int(v) for v in version.split(".")[:2])
    except ValueError:
        return None


def find_triton() -> TritonInstall:
    """The wheel's install, or MissingDependencyError with the install command."""
    import importlib.util

    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "Triton is not installed: `pip install 'crackedge[serve]'` (the nvidia-pytriton wheel ships tritonserver; "
            "Linux x86_64 with glibc >= 2.35)")
    pkg = Path(list(spec.submodule_search_locations)[0])
    return TritonInstall(pkg / "tritonserver", pkg.parent / "nvidia_pytriton.libs")


def python_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def libpython_dir() -> Optional[Path]:
    """The running interpreter's LIBDIR when it holds its shared libpython (None for a static build)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    if not libdir:
        return None
    shared = f"libpython{python_version()}.so.1.0"
    return Path(libdir) if (Path(libdir) / shared).exists() else None


def triton_unsupported() -> Optional[str]:
    """Why the wheel's Triton cannot run on this machine, or None when it can."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return f"the nvidia-pytriton wheel runs on Linux x86_64 only (this is {sys.platform} {platform.machine()})"
    glibc = _glibc()
    if glibc is None or glibc < MIN_GLIBC:
        return f"the nvidia-pytriton wheel needs glibc >= {MIN_GLIBC[0]}.{MIN_GLIBC[1]} (found {glibc or 'none'})"
    try:
        install = find_triton()
    except MissingDependencyError as err:
        return str(err)
    if not install.binary.exists():
        return f"{install.binary} is missing (a broken nvidia-pytriton install?)"
    if not install.stub(python_version()).exists():
        return f"the nvidia-pytriton wheel has no Python backend stub for Python {python_version()}"
    if libpython_dir() is None:
        return ("this Python has no shared libpython (built without --enable-shared); Triton's Python backend "
                "embeds it: use a Python built with --enable-shared (the system Python, pyenv with "
                "PYTHON_CONFIGURE_OPTS=--enable-shared)")
    return None


def prepare_backends(install: TritonInstall, work: Path) -> Path:
    """A backend folder with the Python backend and the stub for this interpreter (as PyTriton does it)."""
    target = Path(work) / "backends" / "python"
    target.mkdir(parents=True, exist_ok=True)
    for src in install.python_backend.iterdir():
        if src.is_file():
            shutil.copy2(src, target / src.name)
    shutil.copy2(install.stub(python_version()), target / "triton_python_backend_stub")
    return target.parent


def server_env(install: TritonInstall, base: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The server's environment: this interpreter's LIBDIR first on LD_LIBRARY_PATH (the libpython trap),
    the wheel's libraries after it, this environment's bin folder first on PATH."""
    env = dict(os.environ if base is None else base)
    lib = libpython_dir()
    parts = [str(lib)] if lib else []
    parts += [str(install.libs)] + [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(dict.fromkeys(parts))
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir] + [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bindir])
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    exit_timeout_s: int = 5
    log_verbose: int = 0
    extra_args: list[str] = field(default_factory=list)


class TritonServer:
    """One tritonserver process on `repository`; `start()` returns when every model is ready."""

    def __init__(self, repository: Path, work: Path, opts: ServerOptions = ServerOptions(),
                 log_file: Optional[Path] = None, env: Optional[dict[str, str]] = None) -> None:
        """env: the server's environment (default server_env(): the libpython fix applied)."""
        reason = triton_unsupported()
        if reason:
            raise ServeError(f"cannot run Triton here: {reason}")
        self.install = find_triton()
        self.repository, self.work, self.opts = Path(repository), Path(work), opts
        self.log_file = Path(log_file) if log_file else self.work / "tritonserver.log"
        self.proc: Optional[subprocess.Popen] = None
        self.env = env
        self.shm_prefix = ""

    @property
    def http_url(self) -> str:
        return f"http://{self.opts.host}:{self.opts.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.opts.host}:{self.opts.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.opts.host}:{self.opts.metrics_port}/metrics"

    def command(self, backends: Path) -> list[str]:
        o = self.opts
        # every start gets its own /dev/shm regions (a second server here, or a restart after a crash)
        self.shm_prefix = prefix = f"crackedge{os.getpid()}p{o.http_port}t{time.monotonic_ns() % 10**9}_"
        return [
            str(self.install.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            f"--http-address={o.host}", f"--http-port={o.http_port}",
            f"--grpc-address={o.host}", f"--grpc-port={o.grpc_port}",
            f"--metrics-address={o.host}", f"--metrics-port={o.metrics_port}",
            "--allow-gpu-metrics=false",
            f"--backend-config=python,shm-region-prefix-name={prefix}",
            f"--exit-timeout-secs={o.exit_timeout_s}",
            f"--log-verbose={o.log_verbose}",
            *o.extra_args,
        ]

    def start(self, timeout_s: float = 120.0) -> "TritonServer":
        self.work.mkdir(parents=True, exist_ok=True)
        backends = prepare_backends(self.install, self.work)
        cmd = self.command(backends)
        log.info("starting Triton: %s", " ".join(cmd))
        self._log = open(self.log_file, "ab")
        env = self.env if self.env is not None else server_env(self.install)
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        log.info("Triton ready: HTTP %s, gRPC %s, metrics %s (log %s)", self.http_url, self.grpc_url,
                 self.metrics_url, self.log_file)
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/v2/health/ready", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServeError(f"tritonserver exited with status {self.proc.returncode} before it was ready; "
                                 f"the end of its log ({self.log_file}):\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.25)
        raise ServeError(f"Triton was not ready after {timeout_s:.0f} s; the end of its log ({self.log_file}):\n"
                         f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        keep = [ln for ln in text if ln.strip() and not ln.startswith(("+", "|"))]
        return "\n".join(keep[-lines:])

    def stop(self, timeout_s: float = 15.0) -> Optional[int]:
        """SIGTERM (in-flight requests finish within exit_timeout_s), then SIGKILL; the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the server's own process group: its stubs too
                proc.wait(5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
        self._remove_shm()
        return proc.returncode

    def _remove_shm(self) -> None:
        """Shared-memory regions a killed server's Python backend left in /dev/shm."""
        if self.shm_prefix:
            for leftover in Path("/dev/shm").glob(self.shm_prefix + "*"):
                try:
                    leftover.unlink()
                except OSError:
                    pass

    def kill(self) -> None:
        """SIGKILL the server and its stubs at once (a crash, for tests)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._remove_shm()

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
