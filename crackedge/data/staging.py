"""Build an output folder under a hidden name beside it, then rename it into place.

A `prepare` that fails or is interrupted leaves no output folder: everything is written into
`.OUT.partial-PID-TOKEN` next to OUT and renamed to OUT only once complete (one `rename`, atomic on
one file system). A staging folder left behind by a killed run (its process is gone) is removed by
the next run that writes to the same OUT.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path

from crackedge.errors import DataError

log = logging.getLogger(__name__)


def check_destination(dest: Path) -> None:
    """DataError unless `dest` is absent or an empty folder."""
    if dest.is_dir():
        entries = sorted(p.name for p in dest.iterdir())
        if entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise DataError(
                f"output folder {dest} already holds a dataset or other files ({shown}); "
                "choose a new folder or delete this one"
            )
    elif dest.exists():
        raise DataError(f"output path {dest} is a file, not a folder; choose a folder path")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_staging(dest: Path) -> list[Path]:
    """Remove staging folders of `dest` whose process has ended (or is this one); return them."""
    removed = []
    if not dest.parent.is_dir():
        return removed
    for p in sorted(dest.parent.glob(f".{dest.name}.partial-*")):
        pid_text = p.name[len(f".{dest.name}.partial-"):].split("-")[0]
        pid = int(pid_text) if pid_text.isdigit() else -1
        if pid == os.getpid() or pid < 0 or not _pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)
            log.info("removed %s left by an interrupted run", p)
            removed.append(p)
    return removed


class StagedFolder:
    """A hidden folder beside `dest` to build in; `commit()` renames it to `dest`, `abort()` removes it.

    Use as a context manager: leaving the block with an exception aborts.
    """

    def __init__(self, dest: str | Path) -> None:
        self.dest = Path(dest)
        check_destination(self.dest)
        self.removed_stale = remove_stale_staging(self.dest)
        self.path = self.dest.parent / f".{self.dest.name}.partial-{os.getpid()}-{secrets.token_hex(3)}"
        self.path.mkdir(parents=True)
        self.committed = False

    def commit(self) -> Path:
        """Rename the staging folder to `dest` (which must still be absent or empty); return `dest`."""
        check_destination(self.dest)
        if self.dest.is_dir():
            self.dest.rmdir()  # empty: rename() cannot replace a folder on every platform
        os.rename(self.path, self.dest)
        self.committed = True
        return self.dest

    def abort(self) -> None:
        """Remove the staging folder and everything in it (nothing is left at `dest`)."""
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> "StagedFolder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
