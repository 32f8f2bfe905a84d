"""`teacher predict`: crack masks and overlays for image files of any size with a trained teacher.

For each input image NAME.ext, writes OUT/masks/NAME.png (0 / 255, the image's size) and
OUT/overlays/NAME.jpg (mask blended on the image, contours, caption). How an image meets the model's
S x S input (`--mode`):
- resize: the whole image resized to S x S (as in training), the probability resized back bilinearly;
- tile: overlapping S x S tiles at the image's own scale, blended without seams (`teacher.tiling`);
  what a large photo (1920x1080, 2000x1500) needs, since resizing it to S would shrink thin cracks
  below a pixel;
- auto (default): tile when a side exceeds 1.5 x S, else resize.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, List, Sequence, Tuple

from crackedge.errors import ConfigError, DataError

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


def image_probability(
    model: Any,
    image: Any,
    device: Any = "cpu",
    amp: bool = False,
    mode: str = "auto",
    overlap: float = 0.25,
    batch_size: int = 4,
) -> Tuple[Any, str]:
    """Crack probability (float32 H x W numpy) of an RGB uint8 H x W x 3 image, and the mode used
    ("tile" or "resize"; see the module docstring)."""
    import torch.nn.functional as F

    from crackedge.data.augment import resize_pair
    from crackedge.data.torch_dataset import image_to_tensor
    from teacher.inference import crack_probability, input_size, run_teacher
    from teacher.tiling import choose_mode, tiled_probability

    size = input_size(model)
    used = choose_mode(image.shape[0], image.shape[1], size, mode)
    if used == "tile":
        def prob_fn(batch: Any) -> Any:
            return crack_probability(run_teacher(model, batch, device, amp)["logits"])

        prob = tiled_probability(prob_fn, image_to_tensor(image), size, overlap, batch_size)
        return prob.numpy(), used
    small, _ = resize_pair(image, None, (size, size))
    logits = run_teacher(model, image_to_tensor(small)[None], device, amp)["logits"]
    prob = F.interpolate(crack_probability(logits)[None], size=image.shape[:2], mode="bilinear", align_corners=False)
    return prob[0, 0].cpu().numpy(), used


def predict_images(
    model: Any,
    inputs: Sequence[Path],
    out_dir: Path,
    device: Any = "cpu",
    threshold: float = 0.5,
    amp: bool = False,
    progress: bool = True,
    mode: str = "auto",
    overlap: float = 0.25,
    batch_size: int = 4,
) -> List[Path]:
    """Write a mask and an overlay per image; returns the mask paths."""
    import numpy as np
    from tqdm import tqdm

    from crackedge.fileio import read_image_rgb, write_image_atomic
    from crackedge.overlay import annotate
    from teacher.api import teacher_name
    from teacher.tiling import MODES

    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"--overlap is a fraction of the tile in [0, 1), got {overlap}")
    out_dir = Path(out_dir)
    written: List[Path] = []
    for path in tqdm(collect_images(inputs), desc="predict", disable=not progress, unit="img"):
        image = read_image_rgb(path)
        prob, used = image_probability(model, image, device, amp, mode, overlap, batch_size)
        mask = (prob > threshold).astype(np.uint8)
        mask_path = out_dir / "masks" / f"{path.stem}.png"
        write_image_atomic(mask_path, mask * 255, rgb=False)
        caption = [f"{teacher_name(model)}  {path.name}  ({used})", f"crack pixels {mask.mean() * 100:.2f}%"]
        write_image_atomic(out_dir / "overlays" / f"{path.stem}.jpg", annotate(image, mask, caption))
        written.append(mask_path)
    log.info("wrote %d mask(s) and overlay(s) to %s", len(written), out_dir)
    return written
