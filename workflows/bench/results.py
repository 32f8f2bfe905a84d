"""Cached benchmark results: one JSON file per report section under `RESULTS/<section>.json`.

Every section is measured by a function returning a JSON-able dict; the report saves it here so
BENCHMARKS.md can be re-rendered (`crackedge bench-report --render-only`) without measuring again.
Each file carries an envelope: section name, quick flag, machine info, start time, duration.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

from crackedge.errors import DataError
from crackedge.fileio import atomic_write_text

SECTIONS = ("inference", "teachers", "edge", "distill", "accuracy")
RESULTS_DIRNAME = "results"


def _clean(obj: Any) -> Any:
    """NaN/inf become None (JSON has no NaN); tuples become lists; Paths become strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def section_path(results_dir: Path, section: str) -> Path:
    if section not in SECTIONS:
        raise ValueError(f"unknown benchmark section {section!r}; valid: {', '.join(SECTIONS)}")
    return Path(results_dir) / f"{section}.json"


def save_section(results_dir: Path, section: str, data: dict[str, Any]) -> Path:
    """Write `data` (NaN as null) to RESULTS/<section>.json atomically; returns the path."""
    path = section_path(results_dir, section)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(_clean({"section": section, **data}), indent=1) + "\n")
    return path


def load_section(results_dir: Path, section: str) -> Optional[dict[str, Any]]:
    """The cached result of `section`, or None when it was never measured. DataError for a broken file."""
    path = section_path(results_dir, section)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable benchmark result ({err}); delete it and measure the section again") from None
    if not isinstance(data, dict) or data.get("section") != section:
        raise DataError(f"{path}: not a {section!r} benchmark result; delete it and measure the section again")
    return data


def load_all(results_dir: Path) -> dict[str, Optional[dict[str, Any]]]:
    """{section: cached result or None} for every section."""
    return {s: load_section(results_dir, s) for s in SECTIONS}
