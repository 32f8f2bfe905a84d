"""Moved to crackedge.export.ncs2_ops (shared with `teacher export`); kept so old imports work."""

from crackedge.export.ncs2_ops import (  # noqa: F401
    HOST_ONLY_OPS,
    NCS2_ONNX_OPS,
    check_ncs2_ops,
    unsupported_nodes,
)
