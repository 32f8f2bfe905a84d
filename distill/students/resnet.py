"""ResNet students: dilated ResNet (output stride 8) + mmseg 'fcn_r50-d8' FCN head."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from distill.students.backbone import create_backbone
from distill.students.heads import FCNHead
from distill.students.registry import register_student
from distill.students.segmentor import StudentSegmentor, StudentSpec

INPUT_SIZE = (448, 448)
OUTPUT_STRIDE = 8


def build_resnet_fcn(name: str, timm_name: str, weights: Optional[Path] = None) -> StudentSegmentor:
    """Last stage of a ResNet dilated to stride 8 + FCN head (2 x 3x3 conv of 512, concat input)."""
    backbone = create_backbone(timm_name, weights, output_stride=OUTPUT_STRIDE, out_indices=(4,))
    (stride,) = backbone.feature_info.reduction()
    (channels,) = backbone.feature_info.channels()
    if stride != OUTPUT_STRIDE:
        raise RuntimeError(f"timm {timm_name} last stage has stride {stride}, expected {OUTPUT_STRIDE}")
    head = FCNHead(channels, channels=512, num_convs=2, kernel=3, concat_input=True, dropout=0.1)
    spec = StudentSpec(name, INPUT_SIZE, stride=stride, num_classes=2, backbone=timm_name, head="fcn-d8")
    return StudentSegmentor(spec, backbone, head)


@register_student("resnet50")
def resnet50(weights: Optional[Path] = None) -> StudentSegmentor:
    """ResNet-50 (dilated, output stride 8) + FCN head: the CrackSAM paper's ResNet50 student."""
    return build_resnet_fcn("resnet50", "resnet50", weights)
