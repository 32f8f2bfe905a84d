"""Keep a floor of free space on the output disk: rotate (delete the oldest runs) or stop saving.

The daemon never fills the disk. Saving is paused when free space falls below `min_free_mb` (or a
write fails with ENOSPC) and resumes only when it is back above `min_free_mb + resume_margin_mb`
(hysteresis: a disk hovering at the floor does not flap between "paused" and "resumed"). Each
state change is logged once; the metrics show disk.saving_paused, free_mb, floor_mb, resume_mb.

The save thread only asks `may_save()`: a cached flag plus a statvfs every `check_interval_s`, never
a deletion. Rotation (policy `rotate`) runs in `maintain()`, called by the maintenance thread
(edge.maintenance): whole run folders, oldest first, file by file with a heartbeat between files,
until free space reaches the resume level. It never deletes the current run, never follows a
symbolic link, and a folder it cannot delete is reported once (disk.rotate_failures) and not
tried again, never counted as deleted. Policy `stop`, or nothing left to rotate, keeps saving
paused until space comes back.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from edge.metrics import Counters

log = logging.getLogger(__name__)

RUN_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(-\d+)?$")
MB = 1024 * 1024
DEFAULT_RESUME_MARGIN_MB = 50.0


def make_run_dir(out_dir: Path, now: Optional[_dt.datetime] = None) -> Path:
    """Create OUT/runs/<local start time>/ (e.g. runs/2026-11-23T10-00-00, a -N suffix if taken)."""
    now = now or _dt.datetime.now()
    runs = Path(out_dir) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    base = now.strftime("%Y-%m-%dT%H-%M-%S")
    for i in range(1000):
        path = runs / (base if i == 0 else f"{base}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder under {runs}")


def delete_tree(path: Path, beat: Callable[[], None] = lambda: None, stop: Optional[threading.Event] = None) -> list[str]:
    """Delete a folder file by file (never following links), calling `beat()` after each entry.

    Returns the errors (empty when the folder is gone). Stops early when `stop` is set.
    """
    errors: list[str] = []
    for root, dirs, files in os.walk(path, topdown=False, onerror=lambda e: errors.append(f"{e.filename}: {e.strerror}")):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            p = os.path.join(root, name)
            try:
                os.unlink(p)
            except OSError as err:
                errors.append(f"{p}: {err.strerror}")
            beat()
            if stop is not None and stop.is_set():
                return errors + ["stopped"]
        for name in dirs:
            p = os.path.join(root, name)
            if os.path.islink(p):
                continue
            try:
                os.rmdir(p)
            except OSError as err:
                errors.append(f"{p}: {err.strerror}")
    try:
        os.rmdir(path)
    except OSError as err:
        errors.append(f"{path}: {err.strerror}")
    return errors


class DiskGuard:
    def __init__(
        self,
        out_dir: Path,
        current_run: Path,
        min_free_mb: float,
        policy: str = "rotate",
        check_interval_s: float = 5.0,
        counters: Optional[Counters] = None,
        usage: Callable[[str], object] = shutil.disk_usage,
        resume_margin_mb: float = DEFAULT_RESUME_MARGIN_MB,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.runs_dir = self.out_dir / "runs"
        self.current_run = Path(current_run)
        self.floor_mb = float(min_free_mb)
        self.resume_mb = self.floor_mb + float(resume_margin_mb)
        self.policy = policy
        self.check_interval_s = check_interval_s
        self.counters = counters or Counters()
        self.counters.set(floor_mb=self.floor_mb, resume_mb=self.resume_mb, policy=policy, saving_paused=False,
                          runs_deleted=0, rotate_failures=0)
        self._usage = usage
        self._lock = threading.Lock()
        self.paused = False
        self._resume_at = self.resume_mb  # raised after an ENOSPC seen above the floor
        self._last_check = -1e9
        self._skipped: set[str] = set()  # runs that cannot be (or must not be) deleted
        self.wake = threading.Event()  # set when the maintenance thread should act now
        self._exhausted_logged = False

    def free_mb(self) -> float:
        free = self._usage(str(self.out_dir)).free  # type: ignore[attr-defined]
        mb = free / MB
        self.counters.set(free_mb=round(mb, 1))
        return mb

    # ---- the save thread ----------------------------------------------------------------------
    def may_save(self) -> bool:
        """True when saving is allowed now (measures free space at most every check_interval_s)."""
        now = time.monotonic()
        if now - self._last_check >= self.check_interval_s:
            self.check()
        return not self.paused

    def disk_full(self) -> None:
        """A write failed with ENOSPC/EDQUOT: pause now; the maintenance thread rotates."""
        with self._lock:
            free = self.free_mb()
            self._last_check = time.monotonic()
            if not self.paused:
                self._resume_at = max(self.resume_mb, free + (self.resume_mb - self.floor_mb))
                self._pause(f"a write failed: no space left on device ({free:.0f} MB free)")
        self.wake.set()

    # ---- state ----------------------------------------------------------------------------------
    def check(self) -> float:
        """Measure free space and update the paused state (no deletion). Returns free MB."""
        with self._lock:
            self._last_check = time.monotonic()
            free = self.free_mb()
            if not self.paused and free < self.floor_mb:
                self._resume_at = self.resume_mb
                self._pause(f"free space {free:.0f} MB is below the {self.floor_mb:.0f} MB floor on {self.out_dir}")
            elif self.paused and free >= self._resume_at:
                self.paused = False
                self.counters.set(saving_paused=False)
                log.warning("free space %.0f MB is back above %.0f MB (floor %.0f MB + margin): saving resumed",
                            free, self._resume_at, self.floor_mb)
        return free

    def _pause(self, why: str) -> None:
        self.paused = True
        self.counters.set(saving_paused=True)
        action = "rotating old runs" if self.policy == "rotate" else "policy stop"
        log.error("%s (%s): saving stopped until %.0f MB are free; inference and preview continue",
                  why, action, self._resume_at)
        self.wake.set()  # the maintenance thread rotates now, not at its next interval

    # ---- the maintenance thread -----------------------------------------------------------------
    def _old_runs(self) -> list[Path]:
        if not self.runs_dir.is_dir():
            return []
        cur = self.current_run.resolve()
        runs = []
        for p in sorted(self.runs_dir.iterdir()):
            if not RUN_NAME.match(p.name) or p.name in self._skipped:
                continue
            if p.is_symlink():
                self._skip(p, "it is a symbolic link (rotation never follows links); remove the link by hand")
                continue
            if p.is_dir() and p.resolve() != cur:
                runs.append(p)
        return runs

    def _skip(self, run: Path, why: str) -> None:
        self._skipped.add(run.name)
        self.counters.add("rotate_failures")
        log.error("disk rotation: cannot delete %s: %s; it is skipped from now on", run, why)

    def maintain(self, beat: Callable[[], None] = lambda: None, stop: Optional[threading.Event] = None) -> None:
        """Measure; with policy rotate delete the oldest runs until free space reaches the resume level."""
        self.wake.clear()
        free = self.check()
        if self.policy != "rotate" or (free >= self.floor_mb and not self.paused):
            return
        target = max(self._resume_at, self.resume_mb)
        for run in self._old_runs():
            if free >= target or (stop is not None and stop.is_set()):
                break
            log.warning("free space %.0f MB below %.0f MB on %s: deleting the oldest run %s", free, target, self.out_dir, run.name)
            errors = delete_tree(run, beat, stop)
            if run.exists() or os.path.lexists(run):
                if errors and errors[-1] == "stopped":
                    return
                self._skip(run, "; ".join(errors[:3]) or "still present after deletion")
            else:
                self.counters.add("runs_deleted")
            beat()
            free = self.free_mb()
        free = self.check()
        if self.paused and free < target and not self._old_runs():
            if not self._exhausted_logged:
                self._exhausted_logged = True
                log.error("disk rotation: nothing left to delete on %s (%.0f MB free): saving stays paused until "
                          "%.0f MB are free", self.out_dir, free, target)
        else:
            self._exhausted_logged = False
