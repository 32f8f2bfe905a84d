"""ONNX op types the Intel NCS2 (MYRIAD plugin, OpenVINO 2022.3) can run, and a graph check.

Source of the list: OpenVINO 2022.3 documentation, "Supported Devices" -> "Supported Layers", the
VPU column (openvinotoolkit/openvino, docs/OV_Runtime_UG/supported_plugins/Supported_Devices.md,
branch releases/2022/3; https://docs.openvino.ai/2022.3/openvino_docs_OV_UG_supported_plugins_Supported_Devices.html),
cross-checked with the layer parsers of the MYRIAD plugin in that release
(src/plugins/intel_myriad/graph_transformer/src/frontend/frontend.cpp). That table names
OpenVINO layers; `NCS2_ONNX_OPS` maps each layer marked "Supported" for VPU to the ONNX op type(s)
that the ONNX front end turns into it. Layers marked "Not Supported" for VPU that a PyTorch export
can produce (so a model must avoid them): HardSigmoid, LogSoftmax, Neg, Reciprocal, Range,
ReduceL1/L2/LogSum/LogSumExp/Prod/SumSquare, ReduceOr, Selu, Softsign, DepthToSpace,
SpaceToDepth, Sin/Cos/Tan and the other trigonometric ops, GRU/RNN cells, 3-D convolution and
pooling, deformable convolution.

Ops that only compute shapes (Shape, Cast, ConstantOfShape) are constant-folded by OpenVINO for a
model with a static input shape, so they never reach the device.

Argmax/TopK are supported by the device but, by this project's design, stay on the host: the
export wrapper never includes them, and the check rejects them so that a change to the wrapper
cannot move them onto the stick unnoticed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from crackedge.export.errors import UnsupportedOpsError

# OpenVINO layer (VPU column "Supported") -> ONNX op types.
_LAYER_TO_ONNX: dict[str, tuple[str, ...]] = {
    "Abs": ("Abs",),
    "Activation-Clamp / ReLU6": ("Clip",),
    "Activation-ELU": ("Elu",),
    "Activation-Exp / Exp": ("Exp",),
    "Activation-Leaky ReLU": ("LeakyRelu",),
    "Activation-Not": ("Not",),
    "Activation-PReLU": ("PRelu",),
    "Activation-ReLU": ("Relu",),
    "Activation-Sigmoid/Logistic": ("Sigmoid",),
    "Activation-TanH": ("Tanh",),
    "BatchNormalization": ("BatchNormalization",),
    "Broadcast": ("Expand",),
    "Ceil": ("Ceil",),
    "Concat": ("Concat",),
    "Const": ("Constant",),
    "Convolution (ordinary, dilated, grouped; 2-D)": ("Conv",),
    "Crop / Slice / StridedSlice": ("Slice",),
    "Deconvolution (2-D)": ("ConvTranspose",),
    "Eltwise-Add/Sum": ("Add", "Sum"),
    "Eltwise-Sub": ("Sub",),
    "Eltwise-Mul/Prod": ("Mul",),
    "Eltwise-Div": ("Div",),
    "Eltwise-Max": ("Max",),
    "Eltwise-Min": ("Min",),
    "Eltwise-Pow / Power": ("Pow",),
    "Eltwise-Equal": ("Equal",),
    "Eltwise-Greater": ("Greater",),
    "Eltwise-Less": ("Less",),
    "Eltwise-LogicalAnd/Or/Xor": ("And", "Or", "Xor"),
    "Eltwise-FloorMod": ("Mod",),
    "Erf": ("Erf",),
    "Flatten": ("Flatten",),
    "Floor": ("Floor",),
    "FullyConnected / Gemm": ("Gemm", "MatMul"),
    "Gather": ("Gather",),
    "Interp / Resample (Interpolate)": ("Resize", "Upsample"),
    "Log": ("Log",),
    "LRN (Norm)": ("LRN",),
    "MVN": ("MeanVarianceNormalization", "InstanceNormalization"),
    "Pad": ("Pad",),
    "Permute": ("Transpose",),
    "Pooling (AVG, MAX; 2-D)": ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"),
    "ReduceMax/Mean/Min/Sum": ("ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum"),
    "Reshape / Squeeze / Unsqueeze": ("Reshape", "Squeeze", "Unsqueeze"),
    "Select": ("Where",),
    "Sign": ("Sign",),
    "SoftMax": ("Softmax",),
    "Softplus": ("Softplus",),
    "Split": ("Split",),
    "Tile": ("Tile",),
    "(identity; removed by the front end)": ("Identity", "Dropout"),
    "(shape computation; constant-folded for a static input)": ("Shape", "Cast", "ConstantOfShape"),
}

NCS2_ONNX_OPS: frozenset[str] = frozenset(op for ops in _LAYER_TO_ONNX.values() for op in ops)

# Supported by the device, kept on the host by design (see the module docstring).
HOST_ONLY_OPS: frozenset[str] = frozenset({"ArgMax", "ArgMin", "TopK"})


def unsupported_nodes(onnx_model) -> dict[str, list[str]]:
    """{op type: [node names]} for every node of `onnx_model` (onnx.ModelProto) outside the allow-list.

    Subgraphs (If/Loop bodies) are not entered: If and Loop are themselves unsupported.
    """
    bad: dict[str, list[str]] = defaultdict(list)
    for i, node in enumerate(onnx_model.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in NCS2_ONNX_OPS or node.op_type in HOST_ONLY_OPS:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
            bad[op].append(node.name or f"#{i}")
    return dict(bad)


def check_ncs2_ops(onnx_path: Path) -> None:
    """Raise UnsupportedOpsError naming the ops and nodes of `onnx_path` that the NCS2 cannot run."""
    import onnx

    bad = unsupported_nodes(onnx.load(str(onnx_path), load_external_data=False))
    if not bad:
        return
    parts = []
    for op, nodes in sorted(bad.items()):
        shown = ", ".join(nodes[:5]) + (f", ... ({len(nodes) - 5} more)" if len(nodes) > 5 else "")
        why = " (kept on the host by design)" if op in HOST_ONLY_OPS else ""
        parts.append(f"{op}{why} at node(s) {shown}")
    raise UnsupportedOpsError(
        f"{onnx_path}: the NCS2 (MYRIAD, OpenVINO 2022.3) cannot run {len(bad)} op type(s): "
        + "; ".join(parts)
        + ". Change the student to avoid them (see crackedge/export/ncs2_ops.py for the allowed ops), "
        "or export with --target cpu."
    )
