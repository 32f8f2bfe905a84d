"""Moved to crackedge.export.parity_check (shared with `teacher export`); kept so old imports work."""

from crackedge.export.parity_check import (  # noqa: F401
    MAX_INT8_DROP,
    MIN_MASK_IOU,
    TORCH_RUNTIME,
    ParityVerdict,
    check_parity,
)
