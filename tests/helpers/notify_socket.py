"""A systemd stand-in for sd_notify tests: the soak's notify listener, polling every 50 ms."""

from __future__ import annotations

from edge.soak_standins import NotifyListener


class NotifySocket(NotifyListener):
    """A bound AF_UNIX datagram socket collecting what the daemon sends (`messages`, `texts()`)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, poll_s=0.05)
