"""The test suite's own rules: every test module has exactly one kind in tests/conftest.py TEST_KINDS,
the table names no file that is gone, and no test module imports another (shared code is in tests/helpers)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import KINDS, TEST_KINDS, TESTS_DIR


def _test_modules() -> list[Path]:
    return sorted(TESTS_DIR.glob("test_*.py"))


def test_every_test_module_has_a_kind():
    missing = [p.name for p in _test_modules() if p.name not in TEST_KINDS]
    assert not missing, f"add to TEST_KINDS in tests/conftest.py: {missing}"


def test_the_kind_table_lists_only_existing_modules_and_known_kinds():
    present = {p.name for p in _test_modules()}
    assert sorted(set(TEST_KINDS) - present) == [], "TEST_KINDS names test modules that do not exist"
    assert {name: kind for name, kind in TEST_KINDS.items() if kind not in KINDS} == {}


def _imported_modules(path: Path) -> list[str]:
    """Dotted names a file imports, with `from X import Y` giving both X and X.Y (Y may be a module)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.append(base)
            names += [f"{base}.{alias.name}" if node.module else base + alias.name for alias in node.names]
    return names


def _is_test_module(dotted: str) -> bool:
    return any(part.startswith("test_") for part in dotted.lstrip(".").split("."))


def test_no_test_module_imports_another():
    offenders = {p.name: [n for n in _imported_modules(p) if _is_test_module(n)] for p in _test_modules()}
    offenders = {name: found for name, found in offenders.items() if found}
    assert offenders == {}, "move what is shared into tests/helpers/ and import it from there"


def test_the_import_check_sees_every_form(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text("import tests.test_a\nfrom tests.test_b import x\nfrom tests import test_c\n"
                      "from .test_d import y\nfrom . import test_e\nimport test_f\nfrom tests.helpers.z import w\n")
    assert [n for n in _imported_modules(sample) if _is_test_module(n)] == [
        "tests.test_a", "tests.test_b", "tests.test_b.x", "tests.test_c", ".test_d", ".test_d.y", ".test_e", "test_f"]
