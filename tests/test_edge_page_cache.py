"""edge.page_cache: the files a daemon maps are found, and dropping their cached pages is asked for each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.page_cache import daemon_library_files, evict, other_mappers


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


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux /proc")
def test_other_mappers_names_a_process_that_maps_one_of_the_files(tmp_path: Path) -> None:
    import subprocess
    import sys

    lib = tmp_path / "held.bin"
    lib.write_bytes(b"\0" * 8192)
    code = ("import mmap, sys; f = open(sys.argv[1], 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); "
            "print('mapped', flush=True); sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", code, str(lib)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "mapped"
        found = other_mappers([lib, tmp_path / "not_mapped.so"])
        assert len(found) == 1 and found[0].startswith(f"{child.pid} python") and found[0].endswith(f" ({lib.name})")
        assert other_mappers([lib], exclude=[child.pid]) == []
    finally:
        child.communicate("")
    assert other_mappers([lib]) == []  # gone with the process


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")
def test_ancestors_start_with_the_parent() -> None:
    from edge.page_cache import ancestors

    chain = ancestors()
    assert chain[0] == os.getppid() and os.getpid() not in chain and 1 not in chain


def test_the_bench_line_warns_when_other_processes_held_the_daemons_libraries() -> None:
    from edge.bench import _daemon_line

    base = {"rss_peak_mb": 300.0, "frames": 100, "infer_fps": 9.0, "settings": "s", "other_mappers": []}
    assert "WARNING" not in _daemon_line(base)
    line = _daemon_line({**base, "other_mappers": ["4242 python (cv2.abi3.so)"]})
    assert "WARNING" in line and "4242 python (cv2.abi3.so)" in line and "more of them than after a boot" in line


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise/mincore: Linux")
def test_cached_mb_sees_a_file_read_into_the_cache_and_dropped_again(tmp_path: Path) -> None:
    from edge.page_cache import cached_mb

    data = tmp_path / "weights.bin"
    data.write_bytes(os.urandom(4 << 20))
    with open(data, "rb") as f:  # written and read: in the page cache
        os.fsync(f.fileno())
        f.read()
    assert cached_mb([data]) == pytest.approx(4.0, abs=0.1)
    assert evict([data]) == 1
    assert cached_mb([data]) < 0.5  # clean, unmapped pages: dropped
    assert cached_mb([tmp_path / "missing.so"]) == 0.0
