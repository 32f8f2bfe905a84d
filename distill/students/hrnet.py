"""HRNet students: the four HRNet branches (strides 4, 8, 16, 32) + mmseg 'fcn_hr18' FCN head.

timm's HRNet `features_only` model returns five levels (the stride-2 stem first) and, by default,
the 'incre' features of the classification head (128..1024 channels). mmseg's HRNetV2 uses the
raw branch outputs (18, 36, 72, 144 channels for W18), so we ask for feature_location='' and
out_indices (1, 2, 3, 4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from distill.students.backbone import create_backbone
from distill.students.heads import ResizeConcatFCNHead
from distill.students.registry import register_student
from distill.students.segmentor import StudentSegmentor, StudentSpec

INPUT_SIZE = (448, 448)
BRANCH_INDICES = (1, 2, 3, 4)
BRANCH_STRIDES = [4, 8, 16, 32]


def build_hrnet_fcn(name: str, timm_name: str, weights: Optional[Path] = None) -> StudentSegmentor:
    """HRNet backbone (4 branches) + resize-concat FCN head (1x1 conv-BN-ReLU of sum(C) channels)."""
    backbone = create_backbone(timm_name, weights, feature_location="", out_indices=BRANCH_INDICES)
    strides = backbone.feature_info.reduction()
    if strides != BRANCH_STRIDES:
        raise RuntimeError(f"timm {timm_name} features have strides {strides}, expected {BRANCH_STRIDES}")
    channels = backbone.feature_info.channels()
    head = ResizeConcatFCNHead(channels, channels=sum(channels), num_convs=1, kernel=1)
    spec = StudentSpec(name, INPUT_SIZE, stride=strides[0], num_classes=2, backbone=timm_name,
                       head="fcn-resize-concat")
    return StudentSegmentor(spec, backbone, head)


@register_student("hrnet_w18")
def hrnet_w18(weights: Optional[Path] = None) -> StudentSegmentor:
    """HRNetV2-W18 + FCN head, output stride 4 (the CrackSAM paper's 9.63 M-parameter student)."""
    return build_hrnet_fcn("hrnet_w18", "hrnet_w18", weights)


@register_student("hrnet_w18_small_v2")
def hrnet_w18_small_v2(weights: Optional[Path] = None) -> StudentSegmentor:
    """HRNet-W18-Small-v2 + FCN head, output stride 4: the light student for a Pi CPU."""
    return build_hrnet_fcn("hrnet_w18_small_v2", "hrnet_w18_small_v2", weights)
