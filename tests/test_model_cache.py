"""The compiled-model cache: one folder per model content (crackedge.runtime.model_cache), models
compiled from their path (crackedge.runtime.backends.openvino_backend)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from crackedge.errors import ConfigError
from crackedge.runtime.backends import create_backend
from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.metadata import hash_files, load_metadata, write_metadata
from crackedge.runtime.model_cache import MARKER, model_cache_folder
from crackedge.runtime.options import RuntimeOptions
from tests.edge_bundle_fixture import build_test_bundle


def _set_times(folder: Path, t: float) -> None:
    for p in folder.iterdir():
        os.utime(p, (t, t))


def _crack_logits(bundle: Path, cache: Path | None) -> np.ndarray:
    backend, _ = create_backend(RuntimeOptions(precision="f32", cache_dir=cache), load_bundle(bundle))
    x = np.linspace(-2.0, 2.0, 3 * 96 * 96, dtype=np.float32).reshape(1, 3, 96, 96)
    try:
        return backend.infer(x)[0, 1]
    finally:
        backend.close()


def test_a_bundle_replaced_in_place_with_same_sizes_and_times_never_runs_the_old_network(tmp_path) -> None:
    old = build_test_bundle(tmp_path / "old", offset=1.0)
    new = build_test_bundle(tmp_path / "new", offset=-1.0)  # the same network retrained: other weights, same sizes
    assert (old / "model.bin").stat().st_size == (new / "model.bin").stat().st_size
    assert (old / "model.bin").read_bytes() != (new / "model.bin").read_bytes()
    live, cache = tmp_path / "bundle", tmp_path / "ov-cache"
    shutil.copytree(old, live)
    _set_times(live, 1_700_000_000)
    before = _crack_logits(live, cache)
    shutil.copyfile(new / "model.bin", live / "model.bin")  # `tar x` / `rsync -a` of the new export ...
    meta = load_metadata(live)
    meta.files = hash_files(live, list(meta.files))
    write_metadata(live, meta)
    _set_times(live, 1_700_000_000)  # ... whose files carry the same times
    after = _crack_logits(live, cache)
    reference = _crack_logits(live, None)
    # OpenVINO keys a path-compiled blob by path, size and mtime: one shared folder would hand back `before`
    assert np.abs(after - before).max() > 1.0
    np.testing.assert_allclose(after, reference, atol=1e-3)
    folders = sorted(p for p in cache.iterdir() if (p / MARKER).is_file())
    assert len(folders) == 2 and all(any(f.suffix == ".blob" for f in p.iterdir()) for p in folders)


def test_the_same_model_reuses_its_folder_and_only_the_most_recent_folders_are_kept(tmp_path) -> None:
    root = tmp_path / "cache"
    (root / "notes").mkdir(parents=True)  # not made by crackedge: never removed
    first = model_cache_folder(root, "a" * 16, keep=2)
    assert first == root / ("a" * 16) and (first / MARKER).is_file()
    (first / "x.blob").write_bytes(b"blob")
    os.utime(first / MARKER, (1_000, 1_000))
    model_cache_folder(root, "b" * 16, keep=2)
    assert model_cache_folder(root, "a" * 16, keep=2) == first and (first / "x.blob").is_file()
    os.utime(root / ("b" * 16) / MARKER, (2_000, 2_000))  # b is now the least recently used
    model_cache_folder(root, "c" * 16, keep=2)
    assert sorted(p.name for p in root.iterdir()) == ["a" * 16, "c" * 16, "notes"]


def test_a_cache_folder_that_cannot_be_made_is_a_config_error_naming_the_key(tmp_path) -> None:
    blocker = tmp_path / "ov-cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(ConfigError, match=r"model\.cache_dir: cannot create the compiled-model cache .*ov-cache"):
        model_cache_folder(blocker, "a" * 16)
