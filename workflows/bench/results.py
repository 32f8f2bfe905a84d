"""Cached benchmark results: one JSON file per report section under `RESULTS/<section>.json`.

Every section is measured by a function returning a JSON-able dict; the report saves it here so
BENCHMARKS.md can be re-rendered (`crackedge bench-report --render-only`) without measuring again.
Each file carries an envelope: section name, quick flag, machine info, start time, duration.

Two sections are measured by their own, long-running commands, which write their JSON straight into
RESULTS/ without the envelope: `soak` (`edge soak ... --json RESULTS/edge_soak.json`, 30 minutes) and
`serve` (`python -m workflows.serve.bench ... --json RESULTS/serve.json`, needs Triton). The report
reads those files as they are (EXTERNAL).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

from crackedge.errors import DataError
from crackedge.fileio import atomic_write_text

MEASURED = ("inference", "teachers", "edge", "distill", "accuracy")  # saved by the report, with the envelope
# section -> (file name in RESULTS/, the command that writes it, keys of which the file must have one each tuple)
EXTERNAL = {
    "soak": ("edge_soak.json", "edge soak --json", (("frames",), ("goal",))),
    "serve": ("serve.json", "python -m workflows.serve.bench", (("runs", "bundles"),)),
}
SECTIONS = MEASURED + tuple(EXTERNAL)
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
    return Path(results_dir) / (EXTERNAL[section][0] if section in EXTERNAL else f"{section}.json")


def save_section(results_dir: Path, section: str, data: dict[str, Any]) -> Path:
    """Write `data` (NaN as null) to RESULTS/<section>.json atomically; returns the path.
    An EXTERNAL section is written as its command wrote it (no envelope, no section key)."""
    path = section_path(results_dir, section)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = data if section in EXTERNAL else {"section": section, **data}
    atomic_write_text(path, json.dumps(_clean(doc), indent=1) + "\n")
    return path


def read_external(path: Path, section: str) -> dict[str, Any]:
    """The JSON that `section`'s own command wrote at `path`; DataError when it is unreadable or not that report."""
    _name, command, required = EXTERNAL[section]
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable {section} result ({err}); write it again with `{command}`") from None
    if not isinstance(data, dict) or not all(any(k in data for k in keys) for keys in required):
        want = " and ".join("/".join(keys) for keys in required)
        raise DataError(f"{path}: not a `{command}` report (no {want}); write it again with `{command}`")
    return data


def load_section(results_dir: Path, section: str) -> Optional[dict[str, Any]]:
    """The cached result of `section`, or None when it was never measured. DataError for a broken file."""
    path = section_path(results_dir, section)
    if not path.is_file():
        return None
    if section in EXTERNAL:
        return read_external(path, section)
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
