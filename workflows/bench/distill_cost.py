"""Report section `distill`: the cost of one distillation training step, read from `distill bench-steps`.

Nothing is measured here: `distill bench-steps` (distill/bench_steps.py) times the three modes
(student-only, CWD from the logit cache, CWD with the teacher run online) interleaved on the same
batches; this module reads its JSON and computes the ratios against student-only. The goal is a
cached-teacher step at most 1.2x the student-only step.

Accepted JSON layouts (seconds; `*_ms` keys are accepted too):
    {"student", "size", "batch_size", "steps", "warmup", "modes": {"student-only": {"step_median_s", ...}, ...}}
    {..., "timings": [{"mode": "student-only", "step_median_s": ...}, ...]}
    {"student-only": {...}, "cwd-cache": {...}, "cwd-online": {...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crackedge.errors import DataError
from distill.bench_steps import CACHE_GOAL, MODES

MODE_TITLES = {"student-only": "student only (hard loss)", "cwd-cache": "student + CWD, teacher logits from the cache",
               "cwd-online": "student + CWD, teacher run online"}
STAT_KEYS = ("step_median", "step_p90", "teacher_median", "data_median", "total_median")
CONTEXT_KEYS = ("student", "teacher", "size", "batch_size", "steps", "warmup", "device", "threads")


def _seconds(stats: dict[str, Any], key: str) -> float | None:
    if stats.get(f"{key}_s") is not None:
        return float(stats[f"{key}_s"])
    if stats.get(f"{key}_ms") is not None:
        return float(stats[f"{key}_ms"]) / 1000.0
    return None


def _modes(raw: dict[str, Any], source: Path) -> dict[str, dict[str, Any]]:
    if isinstance(raw.get("modes"), dict):
        return raw["modes"]
    if isinstance(raw.get("timings"), list):
        return {t["mode"]: t for t in raw["timings"] if isinstance(t, dict) and "mode" in t}
    found = {m: raw[m] for m in MODES if isinstance(raw.get(m), dict)}
    if found:
        return found
    raise DataError(f"{source}: no per-mode step timings found (expected 'modes', 'timings' or keys {', '.join(MODES)}); "
                    "pass the JSON written by `distill bench-steps`")


def distill_cost_section(bench_steps_json: Path) -> dict[str, Any]:
    """The `distill` section from a `distill bench-steps` JSON: per-mode step statistics and ratios."""
    path = Path(bench_steps_json)
    if not path.is_file():
        raise DataError(f"--bench-steps {path}: file not found (write it with `distill bench-steps ... --json {path}`)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"--bench-steps {path}: not JSON ({err})") from None
    if not isinstance(raw, dict):
        raise DataError(f"--bench-steps {path}: expected a JSON object")
    modes = {}
    for mode, stats in _modes(raw, path).items():
        values = {key: _seconds(stats, key) for key in STAT_KEYS}
        if values["step_median"] is None:
            raise DataError(f"--bench-steps {path}: mode {mode!r} has no step_median_s")
        modes[mode] = values
    if "student-only" not in modes:
        raise DataError(f"--bench-steps {path}: the 'student-only' mode is missing; the ratios are relative to it")
    base = modes["student-only"]["step_median"]
    for values in modes.values():
        values["ratio_vs_student_only"] = values["step_median"] / base if base else None
    cache_ratio = modes.get("cwd-cache", {}).get("ratio_vs_student_only")
    return {
        "source": str(path),
        "context": {k: raw.get(k) for k in CONTEXT_KEYS if raw.get(k) is not None},
        "measured_on": raw.get("machine"),
        "modes": modes,
        "cache_vs_student_only": cache_ratio,
        "goal_cache_vs_student_only": CACHE_GOAL,
    }
