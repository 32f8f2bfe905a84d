"""What the pipeline needs from an inference runtime: sync inference and a pool of async requests."""

from __future__ import annotations

import abc
from typing import Any, Callable, Optional

import numpy as np

#: callback(userdata, output or None, error or None), called from the runtime's threads
DoneCallback = Callable[[Any, Optional[np.ndarray], Optional[BaseException]], None]


class InferenceBackend(abc.ABC):
    #: requests that may be in flight at once (the pipeline never starts more)
    n_requests: int = 1
    #: facts reported in /metrics and bench output (api, version, device, model_file, precision ...)
    info: dict[str, Any]
    #: the input `infer` and `start_async` take: "f32" (1x3xHxW float32, normalised on the host) or "u8"
    #: (1xHxWx3 uint8 RGB at the network size, normalised inside the compiled model); build the matching
    #: `Preprocessor(spec, tensor=backend.input_tensor)`
    input_tensor: str = "f32"

    @abc.abstractmethod
    def infer(self, blob: np.ndarray) -> np.ndarray:
        """Synchronous inference: blob (see `input_tensor`) -> output 1xCxhxw float32."""

    @abc.abstractmethod
    def set_callback(self, callback: DoneCallback) -> None:
        """Where finished async requests report (in completion order, from runtime threads)."""

    @abc.abstractmethod
    def start_async(self, blob: np.ndarray, userdata: Any) -> None:
        """Start one request; the caller guarantees that fewer than n_requests are in flight."""

    @abc.abstractmethod
    def wait_all(self) -> None:
        """Block until every started request has finished."""

    def close(self) -> None:
        """Release the device (the NCS2 cannot be shared, so release it promptly)."""
