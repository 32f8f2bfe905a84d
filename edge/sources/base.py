"""The small interface every frame source implements.

A source is opened, read one frame at a time, and closed (always, also after errors). The capture
stage around it (`edge.capture`) numbers the frames, counts corrupt ones, notices stalls and reopens
a failed source with exponential backoff. Sources themselves never sleep for long and never retry:
they report what happened through these exceptions.
"""

from __future__ import annotations

import abc
from typing import Optional

from edge.frames import Capture


class SourceError(Exception):
    """The source failed (disconnect, device gone, timeout): close it and reopen after a backoff."""


class SourceStalled(SourceError):
    """The source delivered nothing within its timeout."""


class FrameTimeout(SourceStalled):
    """Bytes kept arriving but no complete frame did within the per-frame deadline (a trickling
    server, or one huge part): the connection is useless, close it and reopen."""


class SourceEnded(Exception):
    """A finite source (file, folder) has no more frames."""


class CorruptFrame(Exception):
    """One frame was unusable (corrupt or truncated JPEG); count it and read the next."""


class Source(abc.ABC):
    """A camera, stream or file that yields `Capture`s."""

    #: short name used in logs, metrics and sidecars
    kind: str = "source"

    def __init__(self, model_wh: tuple[int, int]) -> None:
        self.model_wh = model_wh

    @abc.abstractmethod
    def open(self) -> None:
        """Acquire the device/connection. Raises SourceError when it cannot."""

    @abc.abstractmethod
    def read(self) -> Capture:
        """Return the next frame. Raises CorruptFrame, SourceError/SourceStalled or SourceEnded."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release everything; safe to call twice and after a failed open."""

    def describe(self) -> str:
        return self.kind

    def __enter__(self) -> "Source":
        self.open()
        return self

    def __exit__(self, *exc: object) -> Optional[bool]:
        self.close()
        return None
