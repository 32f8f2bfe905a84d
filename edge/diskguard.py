"""Keep a floor of free space on the output disk: rotate (delete the oldest runs) or stop saving.

The daemon never fills the disk: before saving, `DiskGuard.may_save()` checks free space (cached for
`check_interval_s`). Below the floor, policy `rotate` deletes whole run folders, oldest first (never
the current run, and only folders named like runs), until the floor is met; policy `stop`, or
rotation with nothing left to delete, pauses saving until space comes back. Every transition is
logged and shown in the metrics (disk.saving_paused, disk.runs_deleted, disk.free_mb).
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

from edge.metrics import Counters

log = logging.getLogger(__name__)

RUN_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(-\d+)?$")
MB = 1024 * 1024


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
    ) -> None:
        self.out_dir = Path(out_dir)
        self.runs_dir = self.out_dir / "runs"
        self.current_run = Path(current_run)
        self.floor_mb = float(min_free_mb)
        self.policy = policy
        self.check_interval_s = check_interval_s
        self.counters = counters or Counters()
        self.counters.set(floor_mb=self.floor_mb, policy=policy, saving_paused=False, runs_deleted=0)
        self._usage = usage
        self.paused = False
        self._last_check = -1e9
        self._last_ok = True

    def free_mb(self) -> float:
        free = self._usage(str(self.out_dir)).free  # type: ignore[attr-defined]
        mb = free / MB
        self.counters.set(free_mb=round(mb, 1))
        return mb

    def may_save(self) -> bool:
        """True when saving is allowed now (checks at most every check_interval_s)."""
        now = time.monotonic()
        if now - self._last_check >= self.check_interval_s:
            self._last_check = now
            self._last_ok = self._check()
        return self._last_ok

    def disk_full(self) -> None:
        """A write failed with ENOSPC/EDQUOT: re-check now (rotate or pause)."""
        self._last_check = time.monotonic()
        self._last_ok = self._check(force_pause_reason="a write failed: no space left on device")

    def _old_runs(self) -> list[Path]:
        if not self.runs_dir.is_dir():
            return []
        cur = self.current_run.resolve()
        return sorted(
            p for p in self.runs_dir.iterdir() if p.is_dir() and RUN_NAME.match(p.name) and p.resolve() != cur
        )

    def _check(self, force_pause_reason: Optional[str] = None) -> bool:
        free = self.free_mb()
        if free >= self.floor_mb and force_pause_reason is None:
            if self.paused:
                log.warning("free space %.0f MB is above the %.0f MB floor again: saving resumed", free, self.floor_mb)
                self.paused = False
                self.counters.set(saving_paused=False)
            return True
        if self.policy == "rotate":
            for run in self._old_runs():
                log.warning(
                    "free space %.0f MB below the %.0f MB floor on %s: deleting the oldest run %s",
                    free, self.floor_mb, self.out_dir, run.name,
                )
                shutil.rmtree(run, ignore_errors=True)
                self.counters.add("runs_deleted")
                free = self.free_mb()
                if free >= self.floor_mb:
                    if self.paused:
                        log.warning("saving resumed after rotation (%.0f MB free)", free)
                    self.paused = False
                    self.counters.set(saving_paused=False)
                    return True
        if not self.paused:
            why = force_pause_reason or f"free space {free:.0f} MB is below the {self.floor_mb:.0f} MB floor on {self.out_dir}"
            action = "nothing left to rotate" if self.policy == "rotate" else "policy stop"
            log.error("%s (%s): saving stopped until space is freed; inference and preview continue", why, action)
            self.paused = True
            self.counters.set(saving_paused=True)
        return False
