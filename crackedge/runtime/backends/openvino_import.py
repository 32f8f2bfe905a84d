"""Importing OpenVINO for inference only: without its model converter.

`import openvino` (2023+) also imports its model converter, `openvino.tools.ovc` (the ONNX/PyTorch/TF
front-end glue, its telemetry, multiprocessing, email, http.client: about 130 modules; the whole
import 27.3 MB resident against 11.4 MB without it, measured on x86 with OpenVINO 2026.4 in a process
that had numpy and OpenCV already), which nothing that only runs an IR needs. `import_openvino_runtime`
imports OpenVINO without it, and `openvino.convert_model` imports it on first use, so a process that
does convert (export, the tests' fixtures) still can. OpenVINO 2022.3 has no converter in its
package import: nothing changes there.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

CONVERTER_MODULE = "openvino.tools.ovc"


def import_openvino_runtime() -> Any:
    """`import openvino` without its model converter, when this process has not imported OpenVINO yet.

    A `None` entry in `sys.modules` makes an import raise ImportError (the import system's documented
    behaviour), and openvino's `__init__` imports the converter inside `try/except ImportError`; the
    entry is removed again right after, and `openvino.convert_model` is then imported on first use
    (a module `__getattr__`, PEP 562). Raises ImportError when OpenVINO is not installed.
    """
    if "openvino" in sys.modules:
        return importlib.import_module("openvino")
    planted = CONVERTER_MODULE not in sys.modules
    if planted:
        sys.modules[CONVERTER_MODULE] = None  # type: ignore[assignment]
    try:
        ov = importlib.import_module("openvino")
    finally:
        if planted and CONVERTER_MODULE in sys.modules and sys.modules[CONVERTER_MODULE] is None:
            del sys.modules[CONVERTER_MODULE]
    _convert_model_on_first_use(ov)
    return ov


def _convert_model_on_first_use(ov: Any) -> None:
    """Give a converter-less `openvino` module a `convert_model` that imports the converter when asked for."""
    if "convert_model" in vars(ov) or "__getattr__" in vars(ov) or not hasattr(ov, "Core"):
        return

    def __getattr__(name: str) -> Any:
        if name == "convert_model":
            from openvino.tools.ovc import convert_model

            ov.convert_model = convert_model
            return convert_model
        raise AttributeError(f"module 'openvino' has no attribute {name!r}")

    ov.__getattr__ = __getattr__


def import_for_runtime(name: str) -> Any:
    """importlib.import_module, with `openvino` imported by `import_openvino_runtime`."""
    return import_openvino_runtime() if name == "openvino" else importlib.import_module(name)
