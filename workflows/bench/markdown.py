"""Markdown table rendering for BENCHMARKS.md."""

from __future__ import annotations

from typing import Any, Optional, Sequence


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.{digits}f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 2) -> str:
    """A GitHub-flavoured markdown table; floats formatted with `digits` decimals, None as '–'."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(v, digits) for v in r) + " |")
    return "\n".join(lines)


def verdict(value: Optional[float], goal: float, higher_is_better: bool) -> str:
    """'PASS' / 'MISS' for `value` against `goal`; '–' when not measured."""
    if value is None or value != value:
        return "–"
    ok = value >= goal if higher_is_better else value <= goal
    return "PASS" if ok else "MISS"


def not_measured(command: str, why: str = "") -> str:
    """The line a section shows when it has no results: what to run to get them."""
    return f"_not measured{': ' + why if why else ''}: run `{command}`_"


def bullet_list(items: Sequence[str]) -> str:
    return "\n".join(f"- {item}" for item in items)
