"""sd_notify without libraries: one AF_UNIX datagram per message to $NOTIFY_SOCKET.

systemd (Type=notify) waits for READY=1, shows STATUS=... in `systemctl status`, and with
WatchdogSec= restarts the service when WATCHDOG=1 stops arriving. An address starting with '@' is
an abstract socket (the '@' becomes a NUL byte). Without $NOTIFY_SOCKET every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Mapping, Optional

log = logging.getLogger(__name__)


def _address(raw: str) -> str | bytes:
    if raw.startswith("@"):
        return "\0" + raw[1:]
    return raw


class SdNotifier:
    def __init__(self, env: Optional[Mapping[str, str]] = None) -> None:
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET") or None
        self._sock: Optional[socket.socket] = None
        self._warned = False
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        self.watchdog_usec: Optional[int] = None
        if usec and usec.isdigit() and (not pid or pid == str(os.getpid())):
            self.watchdog_usec = int(usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_interval_s(self) -> Optional[float]:
        """Half of WatchdogSec (the interval systemd recommends), or None without a watchdog."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def notify(self, message: str) -> bool:
        """Send `message` (lines KEY=VALUE); False when disabled or the send failed (logged once)."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode("utf-8"), _address(self.address))
            return True
        except OSError as err:
            if not self._warned:
                log.warning("sd_notify to %s failed: %s", self.address, err)
                self._warned = True
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1" + (f"\nSTATUS={status}" if status else ""))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
