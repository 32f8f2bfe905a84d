"""parnet_complexity: parameter and FLOP counts checked against hand computation and the paper's size."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from teacher.models.parnet import build_parnet  # noqa: E402
from teacher.models.parnet_complexity import format_complexity, parnet_complexity  # noqa: E402
from teacher.models.parnet_config import parnet_config  # noqa: E402


def test_small_preset_counts_add_up_and_match_hand_computation():
    cfg = parnet_config("small")
    report = parnet_complexity(cfg, size=(64, 96))
    model = build_parnet(cfg)
    assert report["params"] == sum(p.numel() for p in model.parameters())
    assert report["size"] == [64, 96]
    assert sum(p["params_m"] for p in report["parts"].values()) == pytest.approx(report["params_m"])
    assert sum(p["gflops"] for p in report["parts"].values()) == pytest.approx(report["gflops"])
    assert report["gmacs"] == pytest.approx(report["gflops"] / 2)
    # CNN branch by hand: stage i is one 3x3 conv + a 1x1 shortcut (all widths differ) on a (64/2^i x 96/2^i) grid
    widths = (3,) + cfg.cnn_widths
    macs = sum((64 >> i) * (96 >> i) * widths[i] * widths[i + 1] * (9 + 1) for i in range(6))
    assert report["parts"]["cnn"]["gflops"] == pytest.approx(2 * macs / 1e9, rel=1e-9)
    assert "total" in format_complexity(report)


def test_flops_grow_with_the_image_area():
    cfg = parnet_config("small")
    # 224 and 448: every Swin map is a whole number of 7x7 windows, so window attention is linear in the area too
    small = parnet_complexity(cfg, size=(224, 224))
    large = parnet_complexity(cfg, size=(448, 448))
    assert large["params"] == small["params"]
    assert large["parts"]["cnn"]["gflops"] == pytest.approx(4 * small["parts"]["cnn"]["gflops"])
    assert large["gflops"] == pytest.approx(4 * small["gflops"], rel=1e-3)


def test_paper_preset_lands_near_the_paper_figures():
    report = parnet_complexity(parnet_config("paper"), size=(256, 256))
    assert report["params_m"] == pytest.approx(56.27, rel=0.01)
    assert report["gmacs"] == pytest.approx(38.72, rel=0.03)
    assert report["parts"]["swin"]["params_m"] == pytest.approx(27.52, abs=0.01)  # timm Swin-T without its head
