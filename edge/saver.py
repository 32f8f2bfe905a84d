"""Writes saved frames into the run folder: annotated JPEG, optional raw frame, JSON sidecar.

    OUT/runs/2026-11-23T10-00-00/
      run.json                  config, model, start time (written at start)
      00000042.jpg              annotated frame (mask, contours, caption)
      00000042_raw.jpg          optional: the original full-resolution JPEG bytes when available
      00000042.json             sidecar, written LAST, so every sidecar's images exist
      summary.json              final metrics (written at a clean exit)

Every file is written atomically (temp file + fsync + rename): after a power cut a file is either
complete or absent. A write that fails with ENOSPC/EDQUOT is counted, partial outputs of that frame
are removed, and the disk guard rotates or pauses saving; the daemon keeps running.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import logging
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from crackedge.fileio import atomic_write_bytes, encode_image

from edge.diskguard import DiskGuard
from edge.frames import Result
from edge.metrics import Counters

log = logging.getLogger(__name__)

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def iso_time(t_wall: float) -> str:
    return _dt.datetime.fromtimestamp(t_wall).astimezone().isoformat(timespec="milliseconds")


class FrameSaver:
    def __init__(
        self,
        run_dir: Path,
        guard: DiskGuard,
        counters: Counters,
        model_info: dict[str, Any],
        save_raw: bool = False,
        fsync: bool = True,
        threshold: float = 0.5,
        position: Optional[Callable[[], Optional[dict]]] = None,
    ) -> None:
        """position: GPS fix provider, used only for frames that carry no fix from capture time."""
        self.run_dir = Path(run_dir)
        self.guard = guard
        self.counters = counters
        self.model_info = model_info
        self.save_raw = save_raw
        self.fsync = fsync
        self.threshold = threshold
        self.position = position
        self._errors_logged = 0

    def sidecar(self, result: Result, image_name: str, raw_name: Optional[str]) -> dict[str, Any]:
        f = result.frame
        return {
            "timestamp": iso_time(f.capture.t_wall),
            "t_capture": round(f.capture.t_wall, 3),
            "sequence": f.seq,
            "source": f.source,
            "image": image_name,
            "raw_image": raw_name,
            "frame_size": [int(f.image.shape[1]), int(f.image.shape[0])],
            "full_size": [int(v) for v in f.capture.full_size],
            "crack_ratio": round(result.crack_ratio, 6),
            "crack_pixels": result.crack_pixels,
            "threshold": self.threshold,
            "reasons": list(result.save_reasons),
            "measurements": result.measurement,
            "model": self.model_info,
            "position": f.position if f.position is not None else (self.position() if self.position is not None else None),
        }

    def save(self, result: Result) -> bool:
        """Write one frame's files; False when skipped (disk floor) or failed (counted, logged)."""
        if not self.guard.may_save():
            self.counters.add("skipped_disk")
            return False
        if result.annotated_jpeg is None:
            raise ValueError("a frame to save needs its annotated JPEG")
        stem = f"{result.frame.seq:08d}"
        image_name = f"{stem}.jpg"
        raw_name = f"{stem}_raw.jpg" if self.save_raw else None
        written: list[Path] = []
        try:
            self._write(image_name, result.annotated_jpeg, written)
            if raw_name is not None:
                cap = result.frame.capture
                raw = cap.jpeg if cap.jpeg is not None else encode_image(cap.image, ".jpg", jpeg_quality=95)
                self._write(raw_name, raw, written)
            doc = self.sidecar(result, image_name, raw_name)
            self._write(f"{stem}.json", json.dumps(doc, indent=1, default=_json_default).encode("utf-8"), written)
        except OSError as err:
            self._failed(err, written)
            return False
        self.counters.add("frames")
        if raw_name is not None:
            self.counters.add("raw")
        return True

    def _write(self, name: str, data: bytes, written: list[Path]) -> None:
        path = self.run_dir / name
        atomic_write_bytes(path, data, fsync=self.fsync)
        written.append(path)
        self.counters.add("bytes", len(data))

    def _failed(self, err: OSError, written: list[Path]) -> None:
        self.counters.add("write_errors")
        for path in written:  # keep the run consistent: no images without their sidecar
            try:
                path.unlink()
            except OSError:
                pass
        if err.errno in _DISK_FULL:
            log.error("disk full while saving (%s): %s", err.strerror, self.run_dir)
            self.guard.disk_full()
        elif self._errors_logged < 20:
            self._errors_logged += 1
            log.error("saving a frame to %s failed: %s", self.run_dir, err)


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomically write a JSON document (run.json, summary.json)."""
    atomic_write_bytes(Path(path), json.dumps(doc, indent=1, default=_json_default).encode("utf-8"))
