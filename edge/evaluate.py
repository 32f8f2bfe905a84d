"""`edge eval BUNDLE --data DATASET`: the bundle's accuracy as the vehicle runs it (OpenVINO, same
preprocessing and postprocessing as the daemon), on a canonical dataset split.

Images go through the daemon's Preprocessor and the async runner (n_requests in flight); the crack
probability is upsampled to the image size exactly like the daemon's mask (bilinear on the logit
margin), then scored with crackedge.metrics.MetricAccumulator in both conventions.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any, Optional

from tqdm import tqdm

from crackedge.data.layout import CrackDataset
from crackedge.fileio import atomic_write_text, write_image_atomic
from crackedge.metrics import MetricAccumulator
from crackedge.overlay import contact_sheet, error_overlay

from edge.config import ModelConfig
from edge.inference import AsyncRunner, Preprocessor, create_backend, load_bundle
from edge.postprocess import MaskDecoder

log = logging.getLogger(__name__)


def evaluate_bundle(
    bundle_dir: Path,
    data_dir: Path,
    split: str = "test",
    device: str = "CPU",
    precision: str = "bundle",
    model: str = "auto",
    out: Optional[Path] = None,
    overlays: int = 8,
    limit: Optional[int] = None,
) -> dict[str, Any]:
    """Evaluate and print the metric table; with `out`, write metrics.json and error overlays there."""
    dataset = CrackDataset.open(data_dir)
    names = dataset.names(split)
    if limit is not None:
        names = names[:limit]
    bundle = load_bundle(bundle_dir)
    backend, key = create_backend(ModelConfig(bundle=bundle_dir, device=device, precision=precision, model=model), bundle)
    pre = Preprocessor(bundle.meta.input)
    decoder = MaskDecoder(bundle.meta.output, bundle.meta.threshold)
    acc = MetricAccumulator(threshold=bundle.meta.threshold)
    runner = AsyncRunner(backend)
    abort = threading.Event()
    sheet: list[Any] = []
    labels: list[str] = []
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)

    def consume() -> None:
        bar = tqdm(total=len(names), desc=f"eval {split}", unit="img")
        while True:
            got = runner.next_result(60.0)
            if got is None:
                raise RuntimeError("inference produced no result for 60 s")
            kind, item, output, error = got
            if kind == "end":
                break
            if error is not None:
                raise RuntimeError(f"inference failed on {item[0]}: {error}")
            name, image, gt = item
            prob = decoder.probability(output, (gt.shape[1], gt.shape[0]))
            acc.add(prob, gt)
            if out is not None and len(sheet) < overlays:
                ov = error_overlay(image, prob > decoder.threshold, gt)
                write_image_atomic(Path(out) / "overlays" / f"{name}.jpg", ov)
                sheet.append(ov)
                labels.append(name)
            bar.update(1)
        bar.close()

    errors: list[BaseException] = []

    def consume_safe() -> None:
        try:
            consume()
        except BaseException as err:  # re-raised in the caller's thread
            errors.append(err)
            abort.set()

    th = threading.Thread(target=consume_safe, name="eval-collect", daemon=True)
    th.start()
    for name in names:
        image, gt = dataset.read(name)
        if not runner.submit(pre(image), (name, image, gt), abort):
            break
    runner.finish()
    th.join()
    backend.close()
    if errors:
        raise errors[0]
    report = acc.report()
    title = f"{bundle.meta.student} ({bundle.meta.models[key]}, OpenVINO {backend.info.get('version')} {device} " \
            f"{backend.info.get('precision')}) on {dataset.root} [{split}]"
    print(report.format(title))
    result = {"bundle": str(bundle_dir), "model_file": bundle.meta.models[key], "split": split,
              "inference": backend.info, "metrics": report.to_dict()}
    if out is not None:
        atomic_write_text(Path(out) / "metrics.json", json.dumps(result, indent=1, default=str))
        if sheet:
            write_image_atomic(Path(out) / "overlays.jpg", contact_sheet(sheet, cols=4, labels=labels))
        log.info("wrote %s", Path(out) / "metrics.json")
    return result
