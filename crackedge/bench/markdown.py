"""Markdown table rendering for BENCHMARKS.md."""

from __future__ import annotations

from typing import Any, Sequence


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
