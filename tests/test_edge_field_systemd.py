"""The systemd unit: LimitNOFILE set and sized for the preview's connection cap; exposure <= 2.5."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.config import PreviewConfig
from edge.httpserve import FD_SHARE

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "crackedge-edge.service"


def _settings() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), value.strip())
    return out


def test_unit_limits_file_descriptors_above_what_the_preview_may_use() -> None:
    s = _settings()
    limit = int(s["LimitNOFILE"])
    assert 256 <= limit <= 65536
    # the preview never holds more than a quarter of the limit, and its default cap fits well below
    assert PreviewConfig().max_connections <= limit // FD_SHARE
    assert s["WatchdogSec"] == "30" and s["Type"] == "notify"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (apt install systemd)")
def test_unit_exposure_stays_at_most_2_5() -> None:
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout[-2000:] + r.stderr[-2000:]
    assert float(m.group(1)) <= 2.5, m.group(0)
