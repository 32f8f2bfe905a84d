"""A model not yet in the compiled-model cache is compiled there by a child process first
(crackedge.runtime.backends.compile_ahead), so the daemon itself only imports the blob."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from crackedge.runtime.backends import compile_ahead, create_backend
from crackedge.runtime.backends.compile_ahead import MARKER_PREFIX, compile_in_child, compile_key
from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.metadata import InputSpec
from crackedge.runtime.options import RuntimeOptions
from tests.edge_bundle_fixture import build_test_bundle

X = np.linspace(-2.0, 2.0, 3 * 96 * 96, dtype=np.float32).reshape(1, 3, 96, 96)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_test_bundle(tmp_path_factory.mktemp("bundle") / "b")


def _open(bundle: Path, cache: Path | None, **options):
    backend, _ = create_backend(RuntimeOptions(precision="f32", cache_dir=cache, **options), load_bundle(bundle))
    return backend


def _logits(backend) -> np.ndarray:
    try:
        return backend.infer(X)
    finally:
        backend.close()


def test_the_key_names_every_setting_the_compiled_blob_depends_on() -> None:
    spec = InputSpec(height=96, width=96, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    base = compile_key(Path("a/model.xml"), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"}, None, "2026.4")
    assert base == compile_key(Path("b/model.xml"), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"}, None, "2026.4")
    others = {
        compile_key(Path("a/model.xml"), "CPU", {"PERFORMANCE_HINT": "LATENCY"}, None, "2026.4"),
        compile_key(Path("a/model.xml"), "GPU", {"PERFORMANCE_HINT": "THROUGHPUT"}, None, "2026.4"),
        compile_key(Path("a/model.xml"), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"}, spec, "2026.4"),
        compile_key(Path("a/model.xml"), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"}, None, "2025.0"),
        compile_key(Path("a/model_int8.xml"), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"}, None, "2026.4"),
    }
    assert base not in others and len(others) == 5 and len(base) == 16


def test_the_first_start_compiles_in_a_child_and_later_starts_import_without_one(bundle, tmp_path) -> None:
    cache = tmp_path / "ov-cache"
    first = _open(bundle, cache, input_tensor="u8")
    ahead = first.info["compile_ahead"]
    assert ahead["ok"] is True and 20.0 < ahead["peak_mb"] < 4000.0 and ahead["seconds"] > 0
    (folder,) = [p for p in cache.iterdir() if p.is_dir()]
    (blob,) = folder.glob("*.blob")
    assert len(list(folder.glob(f"{MARKER_PREFIX}*"))) == 1
    stamp = blob.stat().st_mtime_ns
    first.close()
    second = _open(bundle, cache, input_tensor="u8")
    assert "compile_ahead" not in second.info  # marked as compiled: no child
    second.close()
    assert sorted(folder.glob("*.blob")) == [blob] and blob.stat().st_mtime_ns == stamp  # imported, not rewritten
    other = _open(bundle, cache, input_tensor="f32")  # other settings: compiled ahead again, another blob
    assert other.info["compile_ahead"]["ok"] is True
    other.close()
    assert len(list(folder.glob("*.blob"))) == 2 and len(list(folder.glob(f"{MARKER_PREFIX}*"))) == 2


def test_the_model_compiled_ahead_computes_what_the_model_without_a_cache_does(bundle, tmp_path) -> None:
    cached = _logits(_open(bundle, tmp_path / "ov-cache"))
    again = _logits(_open(bundle, tmp_path / "ov-cache"))
    plain = _logits(_open(bundle, None))
    np.testing.assert_allclose(cached, plain, atol=1e-5)
    np.testing.assert_allclose(again, plain, atol=1e-5)


def test_a_failing_child_is_logged_and_the_model_compiled_in_process(bundle, tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(compile_ahead.sys, "executable", "/bin/false")
    with caplog.at_level(logging.WARNING):
        backend = _open(bundle, tmp_path / "ov-cache")
    assert backend.info["compile_ahead"] == {"ok": False, "peak_mb": None, "seconds": pytest.approx(0.0, abs=5.0),
                                             "error": "exited 1"}
    assert "compiling model.xml ahead in a child process failed (exited 1); compiling it in this process" in caplog.text
    np.testing.assert_allclose(_logits(backend), _logits(_open(bundle, None)), atol=1e-5)
    folder = next(p for p in (tmp_path / "ov-cache").iterdir() if p.is_dir())
    assert len(list(folder.glob("*.blob"))) == 1 and len(list(folder.glob(f"{MARKER_PREFIX}*"))) == 1


def test_a_child_that_runs_too_long_is_killed(bundle, tmp_path) -> None:
    result = compile_in_child(bundle / "model.xml", tmp_path / "c", "CPU", {"PERFORMANCE_HINT": "LATENCY"}, None,
                              timeout_s=0.01)
    assert result["ok"] is False and result["error"] == "still compiling after 0 s: killed"


def test_a_child_reports_the_compile_error(bundle, tmp_path) -> None:
    broken = tmp_path / "model.xml"
    broken.write_text("<net>not an IR</net>", encoding="utf-8")
    result = compile_in_child(broken, tmp_path / "c", "CPU", {"PERFORMANCE_HINT": "LATENCY"}, None)
    assert result["ok"] is False and result["error"].startswith("exited 1: ") and "model.xml" in result["error"]


def test_compile_ahead_off_compiles_in_process(bundle, tmp_path) -> None:
    backend = _open(bundle, tmp_path / "ov-cache", compile_ahead=False)
    assert "compile_ahead" not in backend.info
    backend.close()
    folder = next(p for p in (tmp_path / "ov-cache").iterdir() if p.is_dir())
    assert len(list(folder.glob("*.blob"))) == 1
