"""pi-check's emulated Raspberry Pi: an arm64 Debian root built with debootstrap, copied per scenario, mounted,
and shell scripts run in it with a clean environment on an emulated CPU (tools/pi_check.py drives it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator, Optional

REPO = Path(__file__).resolve().parents[1]
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = "python3,python3-venv,ca-certificates,sudo"
CPUS = {"pi4": "cortex-a72", "pi5": "cortex-a76"}
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
             "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "TERM": "dumb"}


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def run(cmd: list[str], log_file: Optional[Path] = None, check: bool = True, env: Optional[dict] = None,
        timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if log_file is not None:
        with open(log_file, "a") as f:
            f.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}\n[rc {done.returncode}]\n")
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)[:300]} failed (rc {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def mounts_under(path: Path) -> list[str]:
    p = str(path.resolve())
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1] == p or line.split()[1].startswith(p + "/")]


def remove_root(path: Path) -> None:
    """rm -rf a root, refusing while anything is mounted inside it."""
    if not path.exists():
        return
    left = mounts_under(path)
    if left:
        raise RuntimeError(f"refusing to delete {path}: still mounted: {left}")
    shutil.rmtree(path)


def ensure_base(base: Path, logs: Path) -> None:
    marker = base / ".pi-check-base"
    want = f"{SUITE} arm64 minbase {BASE_PACKAGES}"
    if marker.is_file() and marker.read_text().strip() == want:
        return
    partial = base.with_name(base.name + ".partial")
    remove_root(partial)
    log(f"debootstrap {SUITE} arm64 into {partial} (qemu-user-static; ~15 min)")
    run(["debootstrap", "--arch=arm64", "--variant=minbase", f"--include={BASE_PACKAGES}", SUITE, str(partial), MIRROR],
        logs / "debootstrap.log")
    (partial / ".pi-check-base").write_text(want + "\n")
    remove_root(base)
    partial.rename(base)


def preflight() -> None:
    if os.geteuid() != 0:
        raise SystemExit("pi-check needs root (debootstrap, chroot, mount)")
    for tool in ("debootstrap", "chroot", "mount"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            raise SystemExit(f"{tool} not found: apt-get install debootstrap qemu-user-static")
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "status").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)], check=False)
    if not (binfmt / "qemu-aarch64").exists():
        raise SystemExit("no binfmt_misc entry qemu-aarch64: apt-get install qemu-user-static binfmt-support "
                         "(and `update-binfmts --enable qemu-aarch64`)")


@contextlib.contextmanager
def mounted(root: Path) -> Iterator[None]:
    done: list[Path] = []
    try:
        for args, target in ((["-t", "proc", "proc"], root / "proc"), (["-t", "sysfs", "sysfs"], root / "sys"),
                             (["--bind", "/dev/pts"], root / "dev" / "pts")):  # ptys (the NMEA GPS test)
            subprocess.run(["mount", *args, str(target)], check=True)
            done.append(target)
        yield
    finally:
        for target in reversed(done):
            if subprocess.run(["umount", str(target)]).returncode != 0:
                subprocess.run(["umount", "-l", str(target)])


def chroot_sh(root: Path, script: str, log_file: Path, cpu: str = CPUS["pi4"], check: bool = True,
              timeout: float = 3 * 3600, user: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run `script` with /bin/sh -e inside the root, clean environment, emulated CPU `cpu`."""
    env = dict(CLEAN_ENV, QEMU_CPU=cpu)
    cmd = ["env", "-i", *[f"{k}={v}" for k, v in env.items()], "/usr/sbin/chroot"]
    if user:  # the service user: its home is /var/lib/crackedge (docs section 1)
        cmd = ["env", "-i", *[f"{k}={v}" for k, v in dict(env, HOME="/var/lib/crackedge").items()],
               "/usr/sbin/chroot", f"--userspec={user}:{user}"]
    cmd += [str(root), "/bin/sh", "-e", "-x", "-c", script]
    return run(cmd, log_file, check=check, timeout=timeout)


def prepare_root(base: Path, root: Path, wheel: Path) -> None:
    remove_root(root)
    log(f"copying {base} -> {root}")
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
    certs = Path("/etc/ssl/certs/ca-certificates.crt")
    if certs.is_file():
        shutil.copy2(certs, root / "etc/ssl/certs/ca-certificates.crt")
    shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")
    hosts = root / "etc/hosts"  # chroot keeps the host's hostname; sudo wants to resolve it
    hosts.write_text((hosts.read_text() if hosts.exists() else "127.0.0.1 localhost\n") + f"127.0.1.1 {os.uname().nodename}\n")
    # what `scp dist/crackedge-*.whl constraints/*.txt pi@vehicle:/tmp/` leaves on the Pi
    shutil.copy2(wheel, root / "tmp" / wheel.name)
    for name in ("pi-cpu.txt", "pi-camera.txt", "ncs2.txt"):
        shutil.copy2(REPO / "constraints" / name, root / "tmp" / name)
