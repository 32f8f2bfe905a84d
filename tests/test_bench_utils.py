import pytest

from crackedge.machine import machine_info
from crackedge.timing import summarize, time_call
from workflows.bench.markdown import table


def test_summarize_statistics():
    t = summarize([0.010, 0.020, 0.030, 0.040, 0.100])
    assert t.median_ms == pytest.approx(30.0)
    assert t.p90_ms == pytest.approx(76.0)
    assert t.fps == pytest.approx(1000 / 30)
    with pytest.raises(ValueError):
        summarize([])


def test_time_call_counts_repeats():
    calls = []
    t = time_call(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and t.n == 5


def test_markdown_table_and_machine_info():
    md = table(["a", "b"], [[1, 0.12345], ["x", None]])
    assert md.splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.12 |", "| x | – |"]
    info = machine_info()
    assert info["logical_cores"] >= 1 and "numpy" in info["libraries"]

