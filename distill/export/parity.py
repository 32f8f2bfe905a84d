"""Moved to crackedge.export.parity (shared with `teacher export`); kept so old imports work."""

from crackedge.export.parity import (  # noqa: F401
    RuntimeRun,
    choose_precision,
    iou_vs_ground_truth,
    mask_agreement,
    max_abs_diff,
    parity_record,
    pooled_iou,
    run_timed,
)
