"""The compiled-model cache folder of one bundle model (OpenVINO's CACHE_DIR), keyed by the model's content.

A model compiled from its file path is looked up in OpenVINO's cache by the file's path, size and
modification time, not by its content: a bundle replaced in place by one whose files have the same
sizes and times (two exports of one architecture, copied with `tar`, `rsync -a` or `cp -p`, or a
package build that fixes every mtime) runs the *old* network from the cache (measured with OpenVINO
2026.4: the same model.xml, another model.bin of the same size, `touch -d` to the old time). Each
model therefore gets its own folder, named by the SHA-256 of its files that the bundle's metadata
records and `load_bundle` has checked, and only the `KEEP` most recently used folders are kept, so
a vehicle that receives a new bundle every week does not fill its card with old blobs.

    model_cache_folder(Path("/var/lib/crackedge/ov-cache"), "3f2a9c0d41b7e655")
        -> /var/lib/crackedge/ov-cache/3f2a9c0d41b7e655   (created, marked as used now)
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from crackedge.errors import ConfigError

log = logging.getLogger(__name__)

#: model folders kept in a cache root (the current one included)
KEEP = 3
#: a folder this module made (only such folders are ever removed)
MARKER = ".crackedge-model-cache"


def model_cache_folder(root: Path, fingerprint: str, keep: int = KEEP) -> Path:
    """`root`/`fingerprint`, created and marked as used now; marked folders beyond the `keep` most
    recently used are removed. ConfigError naming `model.cache_dir` when the folder cannot be made."""
    folder = Path(root) / fingerprint
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).touch()  # an existing marker gets the time of now
    except OSError as err:
        raise ConfigError(
            f"model.cache_dir: cannot create the compiled-model cache {folder}: {err.strerror or err}; "
            "make the folder writable for the daemon's user or leave model.cache_dir out"
        ) from None
    _prune(Path(root), keep)
    return folder


def _prune(root: Path, keep: int) -> None:
    """Remove the marked folders of `root` beyond the `keep` most recently used (a failure only logged:
    an old blob left behind costs disk, not correctness)."""
    try:
        subs = list(root.iterdir())
    except OSError as err:
        log.warning("cannot list the compiled-model cache %s to remove old models' folders: %s", root, err)
        return
    marked = []
    for sub in subs:
        marker = sub / MARKER
        try:
            marked.append((marker.stat().st_mtime, sub))
        except OSError:
            continue  # not a folder of ours
    marked.sort(reverse=True)
    for _, old in marked[keep:]:
        shutil.rmtree(old, ignore_errors=True)
        log.info("removed the compiled-model cache of an earlier model: %s", old)
