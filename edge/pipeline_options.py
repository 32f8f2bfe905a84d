"""The pipeline's settings (edge.config's pipeline, save, overlay and preview sections, as one object)."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.capture import CaptureOptions


@dataclass
class PipelineOptions:
    queue_size: int = 2
    live: bool = True
    capture: CaptureOptions = field(default_factory=CaptureOptions)
    save_enabled: bool = True
    min_crack_ratio: float = 0.002
    every_nth: int = 0
    min_spacing_m: float = 0.0  # edge.save_spacing
    min_interval_s: float = 0.0
    overlay_alpha: float = 0.55
    overlay_contours: bool = True
    overlay_caption: bool = True
    jpeg_quality: int = 90
    preview_width: int = 640
    drain_timeout_s: float = 5.0
