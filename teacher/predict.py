"""`teacher predict`: crack masks and overlays for image files (any size) with a trained teacher.

For each input image NAME.ext, writes OUT/masks/NAME.png (0 / 255, the image's size) and
OUT/overlays/NAME.jpg (mask blended on the image, contours, caption). The image is resized to the
teacher's input size (as in training) and the crack probability is resized back bilinearly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, List, Sequence

from crackedge.errors import DataError

log = logging.getLogger(__name__)


def collect_images(inputs: Sequence[Path]) -> List[Path]:
    """Image files named directly or found (non-recursively) in named folders, sorted per folder."""
    from crackedge.data.layout import IMAGE_EXTS

    files: List[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_EXTS)
            if not found:
                raise DataError(f"{item} contains no images ({', '.join(IMAGE_EXTS)})")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(f"input not found: {item} (pass image files or folders of images)")
    return files


def predict_images(
    model: Any,
    inputs: Sequence[Path],
    out_dir: Path,
    device: Any = "cpu",
    threshold: float = 0.5,
    amp: bool = False,
    progress: bool = True,
) -> List[Path]:
    """Write a mask and an overlay per image; returns the mask paths."""
    import numpy as np
    import torch.nn.functional as F
    from tqdm import tqdm

    from crackedge.data.augment import resize_pair
    from crackedge.data.torch_dataset import image_to_tensor
    from crackedge.fileio import read_image_rgb, write_image_atomic
    from crackedge.overlay import annotate
    from teacher.api import teacher_name
    from teacher.inference import crack_probability, run_teacher

    size = int(model.config.img_size) if hasattr(model, "config") else 448
    out_dir = Path(out_dir)
    written: List[Path] = []
    for path in tqdm(collect_images(inputs), desc="predict", disable=not progress, unit="img"):
        image = read_image_rgb(path)
        small, _ = resize_pair(image, None, (size, size))
        logits = run_teacher(model, image_to_tensor(small)[None], device, amp)["logits"]
        prob = F.interpolate(crack_probability(logits)[None], size=image.shape[:2], mode="bilinear", align_corners=False)
        mask = (prob[0, 0] > threshold).cpu().numpy().astype(np.uint8)
        mask_path = out_dir / "masks" / f"{path.stem}.png"
        write_image_atomic(mask_path, mask * 255, rgb=False)
        caption = [f"{teacher_name(model)}  {path.name}", f"crack pixels {mask.mean() * 100:.2f}%"]
        write_image_atomic(out_dir / "overlays" / f"{path.stem}.jpg", annotate(image, mask, caption))
        written.append(mask_path)
    log.info("wrote %d mask(s) and overlay(s) to %s", len(written), out_dir)
    return written
