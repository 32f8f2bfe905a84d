"""--target ncs2: the op allow-list check names unsupported ops and their nodes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from distill.errors import UnsupportedOpsError
from distill.export.onnx_export import export_onnx
from distill.export.wrapper import export_module
from distill.ncs2_ops import (
    HOST_ONLY_OPS,
    NCS2_ONNX_OPS,
    check_ncs2_ops,
    unsupported_nodes,
)
from distill.students import build_student

torch.set_num_threads(2)


class SinNet(nn.Module):
    """A tiny model using sin (ONNX Sin), which the MYRIAD plugin does not run."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):
        return torch.sin(self.conv(x))


class ArgmaxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return torch.argmax(self.conv(x), dim=1, keepdim=True).float()


def test_unsupported_op_is_named_with_its_node(tmp_path):
    path = export_onnx(SinNet(), tmp_path / "sin.onnx", (32, 32))
    with pytest.raises(UnsupportedOpsError) as exc:
        check_ncs2_ops(path)
    msg = str(exc.value)
    assert "Sin" in msg and "/Sin" in msg  # op type and node name
    assert "Conv" not in msg.split("cannot run")[1].split(".")[0]  # supported ops are not listed
    assert "--target cpu" in msg


def test_argmax_stays_on_the_host(tmp_path):
    path = export_onnx(ArgmaxNet(), tmp_path / "argmax.onnx", (32, 32))
    with pytest.raises(UnsupportedOpsError, match="ArgMax.*host"):
        check_ncs2_ops(path)


def test_hardswish_students_export_without_hardsigmoid(tmp_path):
    import onnx

    model = build_student("mobilenetv3_large_100").eval()
    path = export_onnx(export_module(model), tmp_path / "m.onnx", (64, 64))
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "HardSigmoid" not in ops and "HardSwish" not in ops
    assert unsupported_nodes(onnx.load(str(path))) == {}


def test_export_friendly_activations_are_numerically_identical():
    model = build_student("mobilenetv3_large_100").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        after = export_module(model).student(x)
    assert torch.allclose(before, after, atol=1e-5)


def test_allow_list_excludes_ops_the_2022_3_docs_mark_unsupported():
    for op in ("HardSigmoid", "LogSoftmax", "Neg", "Reciprocal", "Sin", "DepthToSpace", "Range"):
        assert op not in NCS2_ONNX_OPS
    assert HOST_ONLY_OPS.isdisjoint(NCS2_ONNX_OPS)
