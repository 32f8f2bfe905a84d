"""What travels through the pipeline: a captured frame, then its inference result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


@dataclass
class Capture:
    """What a source returns for one frame (before the pipeline numbers it).

    image:        HxWx3 uint8 RGB, the working image (overlays and saving use it); may be a reduced-scale
                  decode of a larger JPEG.
    infer_image:  optional hxwx3 uint8 RGB already near the model's input size (picamera2 `lores`);
                  when None the preprocessor resizes `image`.
    jpeg:         the original full-resolution JPEG bytes when the source delivered JPEG (kept for saving).
    full_size:    (width, height) of the full-resolution frame (the JPEG or the camera's main stream).
    t_wall:       capture time, seconds since the epoch; t_mono: time.monotonic() at capture.
    costs:        host steps already done for this frame (step -> (CPU s, wall s)), e.g. the JPEG
                  decode; the pipeline adds them to its step breakdown (edge.breakdown).
    """

    image: np.ndarray
    t_wall: float
    t_mono: float
    full_size: tuple[int, int]
    infer_image: Optional[np.ndarray] = None
    jpeg: Optional[bytes] = None
    costs: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class Frame:
    """A numbered capture. `seq` increases by one per frame the source delivered (drops leave gaps later)."""

    seq: int
    source: str
    capture: Capture
    position: Optional[dict[str, Any]] = None  # GPS fix at capture time (when GPS is configured)
    blob: Optional[np.ndarray] = None  # the network input (backend.input_tensor: 1x3xHxW float32 or 1xHxWx3 uint8)
    # time.monotonic() stamps by event name; today only "submit_mono" (set when its infer request is started,
    # after any wait for a free one; read when its result is collected: the device latency in the infer stage's stats)
    timings: dict[str, float] = field(default_factory=dict)
    produced_by: Optional[dict[str, Any]] = None  # which model answered ({source, model}); set by inference

    @property
    def image(self) -> np.ndarray:
        return self.capture.image


@dataclass
class Result:
    """A frame after postprocessing: save decision, and for a frame saved or previewed its full-size mask,
    measurement and overlay.

    crack_ratio:  the frame's crack pixel share computed at the output's resolution
                  (MaskDecoder.crack_ratio): what `save.min_crack_ratio` is compared with.
    mask:         HxW uint8 {0,1} at the size of frame.image; None for a frame neither saved nor previewed
                  (nobody needs it, so it is never upsampled).
    crack_pixels: crack pixels of `mask` (None without a mask).
    """

    frame: Frame
    mask: Optional[np.ndarray]
    crack_ratio: float
    crack_pixels: Optional[int]
    measurement: dict[str, Any]
    annotated_jpeg: Optional[bytes]
    save_reasons: list[str]
    t_done_mono: float = 0.0
