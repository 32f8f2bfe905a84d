"""The teacher scored exactly as `distill eval` scores a bundle, for a side-by-side comparison.

`teacher eval` scores at the teacher's input size (masks resized to it, noise applied after the
resize); a bundle is scored at each image's own resolution. To compare like with like, the
teacher here goes through the same loop (`distill.evaluate.evaluate_frames`): noise on the
full-resolution image, the bundle's preprocessing (linear resize to the teacher's input size,
ImageNet mean/std), torch f32 forward, crack probability upsampled bilinearly to the image.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from distill.evaluate import EvalOptions, EvalResult, FramePredictor, evaluate_frames, write_reports


def teacher_input_size(model: Any, default: int = 448) -> int:
    """The square input side a loaded teacher takes (its config's img_size; else `default`)."""
    return int(getattr(getattr(model, "config", None), "img_size", None) or default)


def teacher_predictor(model: Any, size: int, threads: Optional[int] = None) -> FramePredictor:
    """image RGB uint8 H x W x 3 -> (crack probability H x W, forward seconds) for a loaded teacher."""
    import cv2
    import torch

    from distill.export.preprocess import default_input_spec, preprocess

    if threads:
        torch.set_num_threads(threads)
    spec = default_input_spec(size, size)

    def predict(image: np.ndarray) -> tuple[np.ndarray, float]:
        x = torch.from_numpy(preprocess(image, spec))
        t0 = time.perf_counter()
        with torch.no_grad():
            logits = model(x)["logits"].float()
        seconds = time.perf_counter() - t0
        prob = torch.softmax(logits, dim=1)[0, 1].numpy()
        h, w = image.shape[:2]
        return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR), seconds

    return predict


def evaluate_teacher_frames(checkpoint: Path, sam_checkpoint: Optional[Path], data_dir: Path,
                            opts: EvalOptions = EvalOptions(), threshold: float = 0.5) -> EvalResult:
    """Load the teacher (CPU, eval mode) and score it like a bundle on `data_dir`; writes opts.out_dir
    reports (metrics.yaml, metrics.txt, overlays) when set."""
    from teacher.api import load_teacher, teacher_name

    model = load_teacher(checkpoint, sam_checkpoint, "cpu")
    size = teacher_input_size(model)
    title = f"teacher {teacher_name(model)} ({Path(checkpoint).name}), torch f32 at {size}x{size}"
    result = evaluate_frames(teacher_predictor(model, size, opts.threads), data_dir, opts, threshold, title)
    result.precision = "f32"
    if opts.out_dir:
        from crackedge.fileio import sha256_file

        write_reports(Path(opts.out_dir), {"teacher": teacher_name(model), "checkpoint": str(checkpoint),
                                           "checkpoint_sha256": sha256_file(Path(checkpoint)), "model": "torch",
                                           "device": "cpu"}, data_dir, opts, result)
    return result
