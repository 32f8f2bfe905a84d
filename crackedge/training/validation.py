"""Validation during training, on one of two bases (`optim.val_basis`):

- `input` (the default): the validation split resized to the training input size (image by area when it
  shrinks, else linear; mask nearest) and scored there, in batches: what every run before this option used.
- `image`: scored as the test is (`crackedge.evaluation`, CrackSAM convention): each image fed
  through the bundle's preprocessing, the crack probability upsampled to the image's own size and
  scored against the mask as published. Thin cracks lose or gain pixels when a mask is resized, so
  the two bases can rank checkpoints differently; `image` picks `best.pt` by the figure the test
  reports.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from crackedge.metrics import MetricAccumulator, MetricReport

VAL_BASES = ("input", "image")


def evaluate_at_input_size(task: Any, loader: Any, threshold: float = 0.5, progress: bool = False) -> MetricReport:
    """Basis `input`: run `task.predict` over `loader` (items already at the training size) and score
    the crack probabilities (N x h x w) against the masks (N x h x w)."""
    from tqdm import tqdm

    task.train(False)
    acc = MetricAccumulator(threshold=threshold)
    try:
        with torch.no_grad():
            for batch in tqdm(loader, desc="eval", leave=False, disable=not progress):
                probs = task.predict(batch).float().cpu().numpy()
                for p, m in zip(probs, batch["mask"].numpy()):
                    acc.add(p, m)
    finally:
        task.train(True)
    return acc.report()


class TaskPredictor:
    """A training task (crackedge.training.loop.TrainTask) as the evaluator sees a model.

    predictor(image RGB uint8 H x W x 3) -> (crack probability float32 H x W, forward seconds): the
    image resized to `input_size` with the bundle's preprocessing (crackedge.runtime.preprocess), the
    task's crack probability (1 x h x w) upsampled (linear) to H x W.
    """

    threshold = 0.5

    def __init__(self, task: Any, input_size: tuple[int, int], name: str = "training task") -> None:
        from crackedge.runtime.decode import MaskDecoder
        from crackedge.runtime.metadata import OutputSpec
        from crackedge.runtime.preprocess import Preprocessor, default_input_spec

        self.task, self.name = task, name
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.preprocess = Preprocessor(default_input_spec(*self.input_size))
        # the runtime's decoding of a 1-channel probability: upsampled (linear) to the image
        self.decoder = MaskDecoder(OutputSpec(kind="probabilities", channels=1, crack_channel=0), self.threshold)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        x = torch.from_numpy(self.preprocess(image))
        t0 = time.perf_counter()
        with torch.no_grad():
            prob = self.task.predict({"image": x, "mask": torch.zeros((1, *self.input_size), dtype=torch.int64)})
        seconds = time.perf_counter() - t0
        prob = prob.float().cpu().numpy().reshape(1, *prob.shape[-2:])  # 1 x h x w
        return self.decoder.probability(prob, (image.shape[1], image.shape[0])), seconds


def evaluate_at_image_size(task: Any, val_set: Any, progress: bool = False) -> dict[str, float]:
    """Basis `image`: crack metrics (MetricReport.to_dict) of `task` on `val_set`'s split (a
    crackedge.data.torch_dataset.CrackSegDataset), scored by the one evaluator at each image's own
    size; the task is in eval mode meanwhile."""
    from crackedge.evaluation.loop import evaluate
    from crackedge.evaluation.options import EvalOptions

    task.train(False)
    try:
        result = evaluate(TaskPredictor(task, val_set.size), val_set.data.root,
                          EvalOptions(split=val_set.split, overlays=0, progress=progress))
    finally:
        task.train(True)
    return result.metrics["clean"]


def validation_metrics(task: Any, basis: str, val_set: Any, loader: Any, progress: bool = False) -> dict[str, float]:
    """Crack metrics (MetricReport.to_dict: iou, f1, ods_f, ...) of `task` on the validation split."""
    if basis == "image":
        return evaluate_at_image_size(task, val_set, progress)
    if basis == "input":
        return evaluate_at_input_size(task, loader, progress=progress).to_dict()
    raise ValueError(f"unknown validation basis {basis!r}; valid: {', '.join(VAL_BASES)}")
