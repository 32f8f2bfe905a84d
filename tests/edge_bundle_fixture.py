"""Test support for the edge tests: a tiny model bundle built without torch, and synthetic frames.

The network (ONNX opset 11, made with onnx.helper) is a 3x3 convolution on the normalised input
whose crack logit is `k * (-(mean of the 3x3x3 neighbourhood) - c)`: dark pixels -> crack. The
background logit is 0, so crack probability = sigmoid(crack logit). With stride 4 an AveragePool
(4x4, stride 4) follows, so the runtime must upsample. `heavy=True` adds a branch of 3x3
convolutions (weighted ~0 in the output) to give benchmarks a realistic amount of work.
The ONNX model is converted to an FP16 IR with openvino.convert_model/save_model, and
metadata.yaml is written with crackedge.runtime.metadata (hash_files + write_metadata).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from crackedge.data.normalization import IMAGENET_MEAN, IMAGENET_STD
from crackedge.runtime.metadata import (
    BundleMetadata,
    InputSpec,
    OutputSpec,
    hash_files,
    write_metadata,
)


def build_onnx(path: Path, height: int, width: int, stride: int = 4, gain: float = 4.0, offset: float = 1.0,
               heavy: bool = False, heavy_channels: int = 32, heavy_layers: int = 4) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((2, 3, 3, 3), np.float32)
    w[1] = -gain / 27.0
    b = np.array([0.0, -gain * offset], np.float32)
    inits = [numpy_helper.from_array(w, "dark_w"), numpy_helper.from_array(b, "dark_b")]
    nodes = [helper.make_node("Conv", ["image", "dark_w", "dark_b"], ["dark"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    last = "dark"
    if heavy:
        rng = np.random.default_rng(0)
        prev, c_in = "image", 3
        for i in range(heavy_layers):
            wi = (rng.standard_normal((heavy_channels, c_in, 3, 3)) * np.sqrt(2.0 / (9 * c_in))).astype(np.float32)
            inits.append(numpy_helper.from_array(wi, f"h{i}_w"))
            nodes.append(helper.make_node("Conv", [prev, f"h{i}_w"], [f"h{i}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
            nodes.append(helper.make_node("Relu", [f"h{i}"], [f"h{i}r"]))
            prev, c_in = f"h{i}r", heavy_channels
        wo = (rng.standard_normal((2, heavy_channels, 1, 1)) * 1e-4).astype(np.float32)
        inits.append(numpy_helper.from_array(wo, "hout_w"))
        nodes.append(helper.make_node("Conv", [prev, "hout_w"], ["hout"], kernel_shape=[1, 1]))
        nodes.append(helper.make_node("Add", ["dark", "hout"], ["dark_sum"]))
        last = "dark_sum"
    if stride > 1:
        nodes.append(helper.make_node("AveragePool", [last], ["crack"], kernel_shape=[stride, stride], strides=[stride, stride]))
    else:
        nodes.append(helper.make_node("Identity", [last], ["crack"]))
    graph = helper.make_graph(
        nodes,
        "darkness_crack",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("crack", TensorProto.FLOAT, [1, 2, height // stride, width // stride])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="crackedge-tests")
    model.ir_version = 6
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_test_bundle(out_dir: Path, height: int = 96, width: int = 96, stride: int = 4, heavy: bool = False,
                      heavy_channels: int = 32, heavy_layers: int = 4, threshold: float = 0.5,
                      gain: float = 4.0, offset: float = 1.0) -> Path:
    """Write a complete bundle (model.onnx, model.xml/.bin FP16, metadata.yaml) and return its folder.
    `gain` and `offset` are the network's weights (build_onnx): two values give two networks whose
    files have the same sizes."""
    import openvino as ov

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = build_onnx(out_dir / "model.onnx", height, width, stride, gain=gain, offset=offset, heavy=heavy,
                           heavy_channels=heavy_channels, heavy_layers=heavy_layers)
    ov.save_model(ov.convert_model(str(onnx_path)), str(out_dir / "model.xml"), compress_to_fp16=True)
    names = ["model.onnx", "model.xml", "model.bin"]
    meta = BundleMetadata(
        student="test-darkness-conv" + ("-heavy" if heavy else ""),
        input=InputSpec(height=height, width=width, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        output=OutputSpec(kind="logits", channels=2, crack_channel=1, stride=stride),
        threshold=threshold,
        opset=11,
        models={"onnx": "model.onnx", "ir_fp16": "model.xml"},
        files=hash_files(out_dir, names),
        inference_precision="f32",
        notes={"purpose": "edge tests: dark pixels are cracks"},
    )
    write_metadata(out_dir, meta)
    return out_dir


def synthetic_frame(width: int = 320, height: int = 240, seed: int = 0, crack: bool = True, thickness: int = 12) -> np.ndarray:
    """RGB uint8 road-like texture (grey 120-180); with crack=True a dark (~25) polyline crosses it."""
    rng = np.random.default_rng(seed)
    base = rng.normal(150, 10, (height // 8 + 1, width // 8 + 1)).astype(np.float32)
    tex = cv2.resize(base, (width, height), interpolation=cv2.INTER_LINEAR)
    tex += rng.normal(0, 4, (height, width)).astype(np.float32)
    img = np.clip(tex, 120, 180).astype(np.uint8)
    img = np.dstack([img, img, (img * 0.97).astype(np.uint8)])
    if crack:
        pts = []
        y = rng.uniform(0.3, 0.7) * height
        for x in np.linspace(0, width - 1, 6):
            pts.append((int(x), int(np.clip(y, 0, height - 1))))
            y += rng.uniform(-0.15, 0.15) * height
        cv2.polylines(img, [np.array(pts, np.int32)], False, (25, 25, 25), thickness, lineType=cv2.LINE_AA)
    return img


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()
