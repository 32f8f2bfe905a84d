"""MobileNetV3 student: MobileNetV3-Large (last stage dilated to stride 16) + LR-ASPP head.

A student for a Raspberry Pi without an accelerator. timm builds Hardswish / Hardsigmoid modules;
the export wrapper replaces them with ReLU6 formulations (same numbers) because ONNX opset 11 has
no HardSwish and the NCS2 does not run HardSigmoid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from distill.students.backbone import create_backbone
from distill.students.heads import LRASPPHead
from distill.students.registry import register_student
from distill.students.segmentor import StudentSegmentor, StudentSpec

INPUT_SIZE = (448, 448)
LOW_INDEX, HIGH_INDEX = 2, 4  # strides 8 and 16 (with output_stride=16)


def build_mobilenetv3_lraspp(name: str, timm_name: str, weights: Optional[Path] = None) -> StudentSegmentor:
    """MobileNetV3 features at strides 8 (low) and 16 (high, dilated) + LR-ASPP, output stride 8."""
    backbone = create_backbone(timm_name, weights, output_stride=16, out_indices=(LOW_INDEX, HIGH_INDEX))
    low_stride, high_stride = backbone.feature_info.reduction()
    low_ch, high_ch = backbone.feature_info.channels()
    if (low_stride, high_stride) != (8, 16):
        raise RuntimeError(f"timm {timm_name} features have strides {(low_stride, high_stride)}, expected (8, 16)")
    head = LRASPPHead(low_ch, high_ch, inter_channels=128)
    spec = StudentSpec(name, INPUT_SIZE, stride=low_stride, num_classes=2, backbone=timm_name, head="lraspp")
    return StudentSegmentor(spec, backbone, head)


@register_student("mobilenetv3_large_100")
def mobilenetv3_large_100(weights: Optional[Path] = None) -> StudentSegmentor:
    """MobileNetV3-Large 1.0 + LR-ASPP, output stride 8: the lightest student."""
    return build_mobilenetv3_lraspp("mobilenetv3_large_100", "mobilenetv3_large_100", weights)
