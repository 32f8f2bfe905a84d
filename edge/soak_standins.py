"""The soak's stand-ins for what surrounds the daemon in the field: systemd's notify socket and a disk that fills."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path


class NotifyListener:
    """Collects sd_notify datagrams (monotonic receive time, text) on `path`: a socket file, or an abstract
    address written "@name" as NOTIFY_SOCKET writes it."""

    def __init__(self, path: Path | str, poll_s: float = 0.2) -> None:
        self.path = path
        self.address = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address[1:] if self.address.startswith("@") else self.address)
        self.sock.settimeout(poll_s)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._loop, name="soak-notify", daemon=True)
        self._th.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, OSError):
                continue
            self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def pings(self) -> list[float]:
        return [t for t, m in list(self.messages) if m == "WATCHDOG=1"]

    def texts(self) -> list[str]:
        return [m for _, m in list(self.messages)]

    def close(self) -> None:
        self._stop.set()
        self._th.join(2)
        self.sock.close()
        if not self.address.startswith("@"):
            try:
                Path(self.address).unlink()
            except OSError:
                pass


class Ballast:
    """A file whose allocated size moves free space on the output disk below / above the floor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fills = 0

    def fill(self, to_free_mb: float) -> None:
        """Allocate enough that the disk has about `to_free_mb` MB free."""
        st = os.statvfs(self.path.parent)
        free_mb = st.f_bavail * st.f_frsize / 2**20
        current = self.path.stat().st_size / 2**20 if self.path.exists() else 0.0
        size_mb = max(0.0, free_mb + current - to_free_mb)
        fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.ftruncate(fd, 0)
            if size_mb > 0:
                os.posix_fallocate(fd, 0, int(size_mb * 2**20))
        finally:
            os.close(fd)
        self.fills += 1

    def free(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
