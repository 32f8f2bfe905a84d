"""crackedge.process_memory: this process's memory figures from /proc/self/status, read once."""

from __future__ import annotations

from pathlib import Path

import pytest

from crackedge.process_memory import memory_mb, rss_mb


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_the_parts_add_up_and_the_peak_is_not_below_now() -> None:
    ballast = bytearray(64 << 20)  # 64 MB of own pages, touched
    ballast[:: 4096] = b"\1" * len(ballast[:: 4096])
    m = memory_mb("VmRSS", "VmHWM", "RssAnon", "RssFile", "NoSuchField")
    assert m["NoSuchField"] is None
    assert m["RssAnon"] >= 60.0 and m["VmHWM"] >= m["VmRSS"] > 0
    assert m["RssAnon"] + m["RssFile"] <= m["VmRSS"] + 0.2  # RssShmem is the rest
    assert rss_mb("VmHWM") >= m["VmHWM"]
    del ballast
