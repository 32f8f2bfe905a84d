"""INT8 activation ranges: the chosen NNCF range estimator reaches the quantizers written to the IR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distill.export.openvino_export import ACTIVATION_RANGES, save_ir_int8


def _two_conv_onnx(path: Path, side: int = 16) -> Path:
    """1x3xSxS (S = side) -> Conv 3x3 (4 ch) -> Relu -> Conv 1x1 (1 ch), random weights, opset 11."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (1, 4, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["image", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["out"])]
    graph = helper.make_graph(nodes, "two_conv",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, side, side])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, side, side])],
                              initializer=[w1, w2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path)
    return path


def _constant(output) -> np.ndarray:
    node = output.get_node()
    while node.get_type_name() != "Constant":  # FP16-compressed constants sit behind a Convert
        node = node.input_value(0).get_node()
    return np.asarray(node.get_data(), dtype=np.float32)


def _input_range(xml: Path) -> float:
    """Upper bound of the FakeQuantize on the network input (the first activation quantizer)."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    param = model.get_parameters()[0]
    fq = next(t.get_node() for t in param.output(0).get_target_inputs() if t.get_node().get_type_name() == "FakeQuantize")
    return float(_constant(fq.input_value(2)).max())


def test_each_activation_range_setting_reaches_the_quantizers(tmp_path):
    """The input quantizer's range follows the chosen estimator on heavy-tailed calibration data."""
    onnx_path = _two_conv_onnx(tmp_path / "m.onnx")
    rng = np.random.default_rng(1)
    images = [rng.standard_t(2, (1, 3, 16, 16)).astype(np.float32) for _ in range(8)]
    highs = {}
    for ranges in ACTIVATION_RANGES:
        xml = tmp_path / f"{ranges}.xml"
        save_ir_int8(onnx_path, xml, images, lambda x: x, activation_ranges=ranges)
        highs[ranges] = _input_range(xml)
    # symmetric (performance preset): ranges of |x|, the largest over all images or the mean of each image's
    assert highs["minmax"] == pytest.approx(max(float(np.abs(x).max()) for x in images), rel=1e-3)
    assert highs["mean-minmax"] == pytest.approx(np.mean([np.abs(x).max() for x in images]), rel=1e-3)
    # the histogram search (least L2 quantisation error) lands on a range of its own
    assert highs["histogram"] != pytest.approx(highs["minmax"], rel=0.05)
    assert highs["histogram"] != pytest.approx(highs["mean-minmax"], rel=0.05)


def test_unknown_activation_ranges_are_named(tmp_path):
    onnx_path = _two_conv_onnx(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"'percentile'.*histogram, mean-minmax, minmax"):
        save_ir_int8(onnx_path, tmp_path / "q.xml", [np.zeros((1, 3, 16, 16), np.float32)], lambda x: x,
                     activation_ranges="percentile")
    assert ACTIVATION_RANGES == ("histogram", "mean-minmax", "minmax")
