"""A loaded teacher (or an ensemble of them) as crackedge.evaluation sees it: one RGB image in, crack
probability at the image's size out; the bundle's preprocessing (crackedge.runtime.preprocess), torch
f32, the runtime's decoding, optional TTA over the dihedral views."""

from __future__ import annotations

import time
from typing import Any, Optional, Sequence, Union

import numpy as np

from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.metadata import OutputSpec
from crackedge.runtime.preprocess import Preprocessor, default_input_spec


class TeacherPredictor:
    """predictor(image RGB uint8 H x W x 3) -> (crack probability float32 H x W, forward seconds).

    Several models: their crack margins (l_crack - l_background) are averaged, as an ensemble cache is.
    """

    threshold = 0.5

    def __init__(self, models: Union[Any, Sequence[Any]], device: Any = "cpu", tta_views: int = 1,
                 name: Optional[str] = None) -> None:
        from teacher.api import teacher_name
        from teacher.inference import ensemble_name, ensemble_size

        self.models = list(models) if isinstance(models, (list, tuple)) else [models]
        side = ensemble_size(self.models)  # smaller teachers see the images resized (teacher_logits)
        self.device, self.tta_views = device, tta_views
        self.input_size = (side, side)
        self.preprocess = Preprocessor(default_input_spec(side, side))
        # the runtime's decoding of a 1-channel crack logit: upsampled to the image, then the sigmoid
        self.decoder = MaskDecoder(OutputSpec(kind="logits", channels=1, crack_channel=0), self.threshold)
        tta = f", TTA over {tta_views} views" if tta_views > 1 else ""
        label = ensemble_name([teacher_name(m) for m in self.models])
        self.name = name or f"teacher {label}, torch f32 at {side}x{side}{tta}"

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        import torch

        from teacher.inference import teacher_logits

        x = torch.from_numpy(self.preprocess(image))
        t0 = time.perf_counter()
        logits = teacher_logits(self.models, x, self.device, False, max(self.tta_views, 1), full=True)
        margin = (logits[:, 1:2] - logits[:, 0:1]) if logits.shape[1] == 2 else logits
        seconds = time.perf_counter() - t0
        return self.decoder.probability(margin.cpu().numpy(), (image.shape[1], image.shape[0])), seconds
