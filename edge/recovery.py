"""Startup scan of earlier runs that did not end cleanly (kill -9, power cut, crash).

A run that ended cleanly has summary.json; one already scanned has recovery.json. Every other run
folder (not the current one) is scanned once before READY=1, and so is a run whose summary.json says
its drain was aborted (`exit.drained: false`: the save stage may still have been inside a commit when
the process exited):

- hidden temp files `.NAME.XXXX.tmp` (a write cut short) are deleted;
- a frame is whole when its sidecar `NNNNNNNN.json` parses and names images that exist. Images
  without a sidecar (a commit cut short between the renames, see edge.saver) and sidecars whose
  images are missing are moved to `incomplete/` in that run, never silently dropped;
- what was done is written to that run's `recovery.json` and logged in one line per run.
After the scan every frame in the run folders is either whole (image + sidecar) or absent.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger(__name__)

FRAME_FILE = re.compile(r"^(\d{8})(_raw)?\.(jpg|json)$")
TEMP_FILE = re.compile(r"^\..+\.tmp$")
INCOMPLETE = "incomplete"


@dataclass
class RunRecovery:
    run: str
    temp_files_removed: list[str] = field(default_factory=list)
    orphans_moved: list[str] = field(default_factory=list)
    frames_whole: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.temp_files_removed or self.orphans_moved or self.errors)


def frame_groups(run_dir: Path) -> dict[str, set[str]]:
    """stem -> names of the frame files present (NNNNNNNN.jpg, NNNNNNNN_raw.jpg, NNNNNNNN.json)."""
    groups: dict[str, set[str]] = {}
    for entry in os.scandir(run_dir):
        m = FRAME_FILE.match(entry.name)
        if m and entry.is_file(follow_symlinks=False):
            groups.setdefault(m.group(1), set()).add(entry.name)
    return groups


def _sidecar_images(path: Path) -> Optional[list[str]]:
    """The image names a sidecar lists, or None when it does not parse."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("image"), str):
        return None
    return [n for n in (doc.get("image"), doc.get("raw_image")) if isinstance(n, str)]


def incomplete_frames(run_dir: Path) -> tuple[int, list[str]]:
    """(whole frames, names of the files that belong to no whole frame) in one run folder."""
    whole = 0
    stray: list[str] = []
    for stem, names in sorted(frame_groups(run_dir).items()):
        sidecar = f"{stem}.json"
        listed = _sidecar_images(run_dir / sidecar) if sidecar in names else None
        if listed is not None and listed and all(n in names for n in listed):
            whole += 1
            stray.extend(sorted(n for n in names if n != sidecar and n not in listed))
        else:
            stray.extend(sorted(names))
    return whole, stray


def recover_run(run_dir: Path) -> RunRecovery:
    """Clean one run folder (temp files deleted, orphans moved to incomplete/) and report."""
    run_dir = Path(run_dir)
    rec = RunRecovery(run=run_dir.name)
    for entry in list(os.scandir(run_dir)):
        if TEMP_FILE.match(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                rec.temp_files_removed.append(entry.name)
            except OSError as err:
                rec.errors.append(f"{entry.name}: {err.strerror}")
    rec.frames_whole, stray = incomplete_frames(run_dir)
    if stray:
        dest = run_dir / INCOMPLETE
        dest.mkdir(exist_ok=True)
        for name in stray:
            try:
                os.replace(run_dir / name, dest / name)
                rec.orphans_moved.append(name)
            except OSError as err:
                rec.errors.append(f"{name}: {err.strerror}")
    return rec


def needs_scan(run_dir: Path) -> bool:
    """True for a run not scanned yet that did not end cleanly: no summary.json, or one that says the
    drain was aborted (or that cannot be read)."""
    if (run_dir / "recovery.json").exists():
        return False
    summary = run_dir / "summary.json"
    if not summary.exists():
        return True
    try:
        exit_info = json.loads(summary.read_text(encoding="utf-8")).get("exit") or {}
    except (OSError, ValueError, AttributeError):
        return True
    return exit_info.get("drained") is False


def recover_runs(out_dir: Path, current_run: Optional[Path] = None) -> list[RunRecovery]:
    """Scan every run under OUT/runs that did not end cleanly and has not been scanned yet."""
    from edge.diskguard import RUN_NAME
    from edge.saver import write_json

    runs_dir = Path(out_dir) / "runs"
    if not runs_dir.is_dir():
        return []
    cur = Path(current_run).resolve() if current_run is not None else None
    done: list[RunRecovery] = []
    for run in sorted(runs_dir.iterdir()):
        if not RUN_NAME.match(run.name) or run.is_symlink() or not run.is_dir() or run.resolve() == cur:
            continue
        if not needs_scan(run):
            continue
        t0 = time.monotonic()
        rec = recover_run(run)
        doc: dict[str, Any] = {"scanned": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "reason": "no summary.json: the run did not end cleanly",
                               **asdict(rec)}
        try:
            write_json(run / "recovery.json", doc)
        except OSError as err:
            rec.errors.append(f"recovery.json: {err}")
        (log.warning if rec.changed else log.info)(
            "run %s did not end cleanly: %d whole frame(s), %d temp file(s) deleted, %d incomplete file(s) moved to %s/%s "
            "(%.1f s)%s", run.name, rec.frames_whole, len(rec.temp_files_removed), len(rec.orphans_moved), run.name,
            INCOMPLETE, time.monotonic() - t0, f"; errors: {'; '.join(rec.errors[:3])}" if rec.errors else "",
        )
        done.append(rec)
    return done
