"""Parameter counts (meta device) against closed-form sums and the CrackSAM paper, and `teacher params`."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from teacher.cli import main  # noqa: E402
from teacher.models.sam_config import SAM_ARCHS  # noqa: E402
from teacher.params import measure  # noqa: E402


@pytest.mark.parametrize("backbone", ["vit_b", "vit_h"])
def test_delta_counts_match_closed_form(backbone):
    arch = SAM_ARCHS[backbone]
    c, depth, d, r = arch.embed_dim, arch.depth, 32, 4
    adapter = measure(backbone, "adapter")
    lora = measure(backbone, "lora")
    both = measure(backbone, "both")
    assert adapter.delta_params == depth * 2 * (c * d + d + d * c + c)  # two Linear pairs with biases
    assert lora.delta_params == depth * 2 * (c * r + r * c)  # q and v, no biases
    assert both.delta_params == adapter.delta_params + lora.delta_params
    for row in (adapter, lora, both):
        assert row.trainable == row.delta_params + row.head_params
    assert adapter.total - adapter.delta_params == lora.total - lora.delta_params  # same base


def test_vit_h_lands_on_the_paper_figures():
    adapter, lora = measure("vit_h", "adapter"), measure("vit_h", "lora")
    assert adapter.total / 1e6 == pytest.approx(641.9, abs=0.05)
    assert adapter.trainable / 1e6 == pytest.approx(9.1, abs=0.05)
    assert lora.total / 1e6 == pytest.approx(637.2, abs=0.05)
    assert lora.trainable / 1e6 == pytest.approx(4.4, abs=0.05)
    assert adapter.upstream_sam == 641_090_608  # published SAM ViT-H at 1024


def test_teacher_params_command_prints_the_table(capsys):
    assert main(["params", "--backbone", "vit_h", "--delta", "adapter", "lora"]) == 0
    out = capsys.readouterr().out
    assert "| vit_h | adapter | 641.85 | 9.11 |" in out
    assert "| vit_h | lora | 637.18 | 4.44 |" in out


def test_teacher_params_rejects_bad_options(capsys):
    assert main(["params", "--size", "450"]) == 2
    assert "img_size must be a multiple of 16" in capsys.readouterr().err
