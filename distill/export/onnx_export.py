"""Moved to crackedge.export.onnx_export (shared with `teacher export`); kept so old imports work."""

from crackedge.export.onnx_export import (  # noqa: F401
    INPUT_NAME,
    ONNX_OPSET,
    OUTPUT_NAME,
    check_onnx,
    export_onnx,
    onnx_opset,
)
