"""One frame through a bundle, synchronously, as the vehicle does it: the bundle's preprocessing, its
model, the output decoded to crack probability at the frame's size (crackedge.evaluation's predictor)."""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from crackedge.runtime.backends import create_backend
from crackedge.runtime.bundle import LoadedBundle
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.options import RuntimeOptions
from crackedge.runtime.preprocess import Preprocessor


class BundlePredictor:
    """predictor(image RGB uint8 H x W x 3) -> (crack probability float32 H x W, network seconds)."""

    def __init__(self, bundle: LoadedBundle, opts: RuntimeOptions, threshold: Optional[float] = None) -> None:
        self.backend, self.model_key = create_backend(opts, bundle)
        meta = bundle.meta
        self.preprocess = Preprocessor(meta.input, self.backend.input_tensor)
        self.threshold = float(threshold if threshold is not None else meta.threshold)
        self.decoder = MaskDecoder(meta.output, self.threshold)
        self.input_size = (meta.input.height, meta.input.width)
        info = self.backend.info
        self.precision = str(info.get("precision", "?"))
        version = str(info.get("version", "?")).split("-")[0]
        self.name = (f"{meta.model_name} from {bundle.path} ({meta.models[self.model_key]}, OpenVINO {version} "
                     f"{opts.device}:{self.precision})")

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        blob = self.preprocess(image)
        t0 = time.perf_counter()
        out = self.backend.infer(blob)
        seconds = time.perf_counter() - t0
        return self.decoder.probability(out, (image.shape[1], image.shape[0])), seconds

    def close(self) -> None:
        self.backend.close()
