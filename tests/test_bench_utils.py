import pytest

from crackedge.machine import cpu_id, cpu_label, machine_info
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



def test_cpu_id_names_the_generation_a_bare_model_name_hides():
    block = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: {f}\nmodel\t\t: {m}\nmodel name\t: AMD EPYC\n\n"
    assert cpu_id(block.format(f=26, m=2)) == "AuthenticAMD family 26 model 2 (Zen 5)"
    assert cpu_id(block.format(f=25, m=17)) == "AuthenticAMD family 25 model 17 (Zen 4)"
    assert cpu_id(block.format(f=25, m=1)) == "AuthenticAMD family 25 model 1 (Zen 3)"
    assert cpu_id(block.format(f=6, m=143).replace("AuthenticAMD", "GenuineIntel")) == "GenuineIntel family 6 model 143"
    assert cpu_id("processor\t: 0\nmodel name\t: ARMv8 Processor rev 3 (v8l)\n") == ""
    assert cpu_label({"cpu": "AMD EPYC", "cpu_id": "AuthenticAMD family 26 model 2 (Zen 5)"}) == (
        "AMD EPYC, AuthenticAMD family 26 model 2 (Zen 5)")
    assert cpu_label({"cpu": "Intel(R) Xeon(R) Processor"}) == "Intel(R) Xeon(R) Processor"  # an older record
