"""edge.page_cache: the files a daemon maps are found, and dropping their cached pages is asked for each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.page_cache import daemon_library_files, evict


def test_daemon_library_files_are_the_shared_objects_of_the_daemons_packages() -> None:
    import cv2
    import numpy

    files = daemon_library_files(("cv2", "numpy"))
    assert files and all(".so" in f.name and f.is_file() for f in files)
    cv2_dir = Path(cv2.__file__).resolve().parent
    assert any(f.resolve().parent == cv2_dir for f in files)  # OpenCV's own extension module
    assert any(Path(numpy.__file__).resolve().parent in f.resolve().parents for f in files)
    assert daemon_library_files(("no_such_package_xyz",)) == []

@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux/POSIX only")
def test_evict_advises_every_readable_file_and_skips_missing_ones(tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    for rel in ("model.bin", "model.xml", "sub/meta.json"):
        (folder / rel).write_bytes(os.urandom(4096))
    single = tmp_path / "lib.so"
    single.write_bytes(b"x" * 100)
    assert evict([folder, single, tmp_path / "missing.so"]) == 4
    assert (folder / "model.bin").stat().st_size == 4096  # advice only: the files are untouched
