"""Students with random weights, saved and exported exactly as trained ones are (for speed only).

A freshly initialised network has BatchNorm statistics (mean 0, variance 1) that do not match its
activations, which then explode in eval mode (HRNet-W18 logits ~1e7). We measure the statistics
on a few synthetic crack images (crackedge.synth), like a real BN calibration, so that the exported
model computes ordinary numbers. Random weights give valid speed, not accuracy.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger(__name__)

WEIGHTS_NOTE = ("random weights (BatchNorm statistics measured on synthetic crack images): valid for speed, "
                "not for accuracy")


def _synthetic_batch(n: int, size: int, seed: int):
    """float32 n x 3 x size x size, normalised synthetic crack images."""
    import torch

    from crackedge.data.torch_dataset import image_to_tensor
    from crackedge.synth import generate_sample

    return torch.stack([image_to_tensor(generate_sample(seed + i, size=(size, size))[0]) for i in range(n)])


def calibrated_random_student(name: str, size: int, seed: int = 0, images: int = 4) -> Any:
    """`distill.students.build_student(name)` with random weights and BN statistics measured on
    `images` synthetic images at `size` x `size`; returned in eval mode."""
    import torch

    from distill.students import build_student

    torch.manual_seed(seed)
    model = build_student(name).train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    with torch.no_grad():
        for start in range(0, images, 2):
            model(_synthetic_batch(min(2, images - start), size, 7_000 + seed * 100 + start))
    return model.eval()


def write_random_checkpoint(path: Path, name: str, size: int, seed: int = 0) -> Path:
    """A `distill` student checkpoint (crackedge-student/1) holding a calibrated random student."""
    from distill.checkpoints import StudentCheckpoint, save_student_checkpoint

    model = calibrated_random_student(name, size, seed)
    return save_student_checkpoint(Path(path), StudentCheckpoint(
        student=name, model=model.state_dict(), training_data=None, teacher=None,
        config={"benchmark": WEIGHTS_NOTE, "size": size, "seed": seed},
    ))


@dataclass(frozen=True)
class BundleRecipe:
    """What a benchmark bundle was made with; a bundle is reused only when its recipe is unchanged."""

    student: str
    size: int
    int8: bool
    calib_images: int
    parity_images: int
    calib_data: Optional[str]
    seed: int = 0


def _reusable(bundle: Path, recipe_file: Path, recipe: BundleRecipe) -> bool:
    from crackedge.runtime.metadata import BundleError, load_metadata, verify_files

    if not recipe_file.is_file() or not (bundle / "metadata.yaml").is_file():
        return False
    try:
        if json.loads(recipe_file.read_text(encoding="utf-8")) != asdict(recipe):
            return False
        verify_files(bundle, load_metadata(bundle))
    except (BundleError, ValueError, OSError) as err:
        log.warning("bundle %s not reused (%s); exporting again", bundle, err)
        return False
    return True


def ensure_bundle(work_dir: Path, recipe: BundleRecipe, threads: Optional[int] = None,
                  progress: bool = False) -> tuple[Path, Path, Optional[float]]:
    """(checkpoint, bundle folder, export seconds or None when reused) for `recipe` under `work_dir`.

    The checkpoint is written with `write_random_checkpoint`, the bundle by distill's own export
    (`distill.export.bundle_export.export_bundle`: ONNX opset 11, FP16 IR, INT8 IR by NNCF PTQ,
    parity checks), with synthetic calibration images unless `recipe.calib_data` is given.
    """
    from crackedge.fileio import atomic_write_text
    from distill.export.bundle_export import ExportOptions, export_bundle

    folder = Path(work_dir) / f"{recipe.student}_{recipe.size}"
    checkpoint, bundle, recipe_file = folder / "random.pt", folder / "bundle", folder / "recipe.json"
    if checkpoint.is_file() and _reusable(bundle, recipe_file, recipe):
        log.info("%s: reusing %s", recipe.student, bundle)
        return checkpoint, bundle, None
    folder.mkdir(parents=True, exist_ok=True)
    recipe_file.unlink(missing_ok=True)
    write_random_checkpoint(checkpoint, recipe.student, recipe.size, recipe.seed)
    t0 = time.perf_counter()
    export_bundle(checkpoint, bundle, ExportOptions(
        int8=recipe.int8, calib_data=Path(recipe.calib_data) if recipe.calib_data else None,
        calib_images=recipe.calib_images, parity_images=recipe.parity_images, input_size=(recipe.size, recipe.size),
        threads=threads, force=True, progress=progress,
    ))
    seconds = time.perf_counter() - t0
    atomic_write_text(recipe_file, json.dumps(asdict(recipe), indent=1))
    return checkpoint, bundle, seconds
