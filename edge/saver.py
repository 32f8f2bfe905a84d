"""Writes saved frames into the run folder: annotated JPEG, optional raw frame, JSON sidecar.

    OUT/runs/2026-11-23T10-00-00/
      run.json                  config, model, start time (written at start)
      00000042.jpg              annotated frame (mask, contours, caption)
      00000042_raw.jpg          optional: the original full-resolution JPEG bytes when available
      00000042.json             sidecar: the frame's commit record
      summary.json              final metrics (written at a clean exit)
      recovery.json             only after a crash: what the startup scan cleaned (edge.recovery)

A frame is committed in this order, so that it is either whole or absent:
  1. every file (image, raw, sidecar) is written to a hidden temp file `.NAME.XXXX.tmp` and fsynced;
  2. the images are renamed into place, then the sidecar LAST: a frame exists iff its sidecar does;
  3. the folder is fsynced (with save.fsync), making the renames durable.
A kill or power cut in step 1 leaves temp files only; in step 2, images without a sidecar. The
startup scan (edge.recovery) deletes the temp files and moves such orphans to `incomplete/`.
A write that fails with ENOSPC/EDQUOT is counted, the frame's files are removed, and the disk guard
pauses saving (the maintenance thread rotates); the daemon keeps running. Other write errors are
logged individually up to ERRORS_LOGGED_EACH, then as one count per ERROR_LOG_INTERVAL_S.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from crackedge.fileio import atomic_write_bytes, encode_image

from edge.diskguard import DiskGuard
from edge.frames import Result
from edge.metrics import Counters

log = logging.getLogger(__name__)

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
ERRORS_LOGGED_EACH = 20
ERROR_LOG_INTERVAL_S = 60.0
TEMP_SUFFIX = ".tmp"


def write_temp(folder: Path, name: str, data: bytes, fsync: bool = True) -> Path:
    """Write `data` to a hidden temp file `.NAME.XXXX.tmp` in `folder` (fsynced); returns its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:  # owns fd from here: closed whatever fails below
            os.fchmod(fh.fileno(), 0o644)
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        _unlink(Path(tmp))
        raise
    return Path(tmp)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as err:
        log.warning("could not remove %s: %s", path, err)


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
        self._errors_unlogged = 0
        self._errors_log_at = 0.0
        self._last_error = ""
        self._error_lock = threading.Lock()

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
            "produced_by": f.produced_by or {"source": "local", "model": self.model_info.get("name")},
            "position": f.position if f.position is not None else (self.position() if self.position is not None else None),
        }

    def save(self, result: Result) -> bool:
        """Write one frame's files; False when skipped (disk floor) or failed (counted, logged)."""
        try:
            allowed = self.guard.may_save()
        except OSError as err:  # the disk cannot even be measured (a USB disk pulled, an I/O error)
            self._failed(err)
            return False
        if not allowed:
            self.counters.add("skipped_disk")
            return False
        if result.annotated_jpeg is None:
            raise ValueError("a frame to save needs its annotated JPEG")
        stem = f"{result.frame.seq:08d}"
        image_name = f"{stem}.jpg"
        raw_name = f"{stem}_raw.jpg" if self.save_raw else None
        files: list[tuple[str, bytes]] = [(image_name, result.annotated_jpeg)]
        if raw_name is not None:
            cap = result.frame.capture
            files.append((raw_name, cap.jpeg if cap.jpeg is not None else encode_image(cap.image, ".jpg", jpeg_quality=95)))
        doc = self.sidecar(result, image_name, raw_name)
        files.append((f"{stem}.json", json.dumps(doc, indent=1, default=_json_default).encode("utf-8")))
        try:
            self.commit(files)
        except OSError as err:
            self._failed(err)
            return False
        self.counters.add("frames")
        self.counters.add("bytes", sum(len(data) for _, data in files))
        if raw_name is not None:
            self.counters.add("raw")
        return True

    def commit(self, files: list[tuple[str, bytes]]) -> None:
        """Write (name, bytes) pairs as one frame: all to temp files, then renamed in order, the
        last one (the sidecar) last. On any error nothing of the frame is left behind."""
        temps: list[tuple[Path, Path]] = []
        placed: list[Path] = []
        try:
            for name, data in files:
                temps.append((write_temp(self.run_dir, name, data, self.fsync), self.run_dir / name))
            for tmp, final in temps:
                os.replace(tmp, final)
                placed.append(final)
            if self.fsync:
                fsync_dir(self.run_dir)
        except BaseException:
            for tmp, _ in temps:
                _unlink(tmp)
            for final in reversed(placed):  # sidecar first: the frame stops existing at once
                _unlink(final)
            raise

    def _failed(self, err: OSError) -> None:
        self.counters.add("write_errors")
        if err.errno in _DISK_FULL:
            log.error("disk full while saving (%s): %s", err.strerror, self.run_dir)
            self.guard.disk_full()
            return
        if self._errors_logged < ERRORS_LOGGED_EACH:
            self._errors_logged += 1
            self._errors_log_at = time.monotonic()
            more = "; further errors are logged as a count once a minute" if self._errors_logged == ERRORS_LOGGED_EACH else ""
            log.error("saving a frame to %s failed: %s%s", self.run_dir, err, more)
            return
        with self._error_lock:
            self._errors_unlogged += 1
            self._last_error = str(err)
        self.flush_error_log()

    def flush_error_log(self, force: bool = False) -> None:
        """Log the count of save errors not logged one by one (at most once per ERROR_LOG_INTERVAL_S)."""
        with self._error_lock:
            if not self._errors_unlogged or not (force or time.monotonic() - self._errors_log_at >= ERROR_LOG_INTERVAL_S):
                return
            log.error("%d more frame(s) could not be saved to %s since the last report (%d write errors in all); last: %s",
                      self._errors_unlogged, self.run_dir, self.counters.get("write_errors"), self._last_error)
            self._errors_unlogged = 0
            self._errors_log_at = time.monotonic()


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
