"""Photometric noise for a student's training input: colours and sharpness change, geometry never does.

Noisy Student (Xie et al., 2020) trains the student on noised inputs against targets its teacher made
from clean ones. Here the targets are the mask and the cached teacher logits of an augmented view
(`crackedge.data.augment`); this module only changes pixel values, so both stay aligned with the
noised image and no cache has to be rebuilt.

Like the geometric augmentation, every random choice comes from
`numpy.random.default_rng([seed, index, epoch, STREAM])`: the same item in the same epoch gets the
same pixels on any machine and with any number of loader workers. The epoch (not the cache's view)
is in the key, so an image seen again with the same cached view is noised afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

STREAM = 0x50484F54  # "PHOT": keeps this stream apart from augment.params_for's


@dataclass(frozen=True)
class PhotometricParams:
    contrast: float = 1.0  # multiplies the deviation from the image's mean grey level
    brightness: float = 0.0  # grey levels added after the contrast change
    gamma: float = 1.0  # applied to [0, 1] values: out = in ** gamma (> 1 darkens)
    saturation: float = 1.0  # scales the HSV saturation channel
    blur_sigma: float = 0.0  # Gaussian blur sigma in pixels; 0 = none
    noise_sigma: float = 0.0  # std of additive Gaussian sensor noise, grey levels; 0 = none

    @property
    def is_identity(self) -> bool:
        return self == PhotometricParams()


def photometric_params(seed: int, index: int, epoch: int, p: float) -> PhotometricParams:
    """The noise of item `index` in `epoch`: with probability `p` a random change of contrast
    (0.6-1.4), brightness (-50 to +30 grey levels: dusk and shade more often than glare), gamma
    (0.7-1.4), saturation (0.6-1.4), half the time a blur (sigma 0.5-2.5 px), a third of the time
    sensor noise (sigma 2-8 grey levels); otherwise the identity."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the photometric noise probability must lie in [0, 1], got {p}")
    rng = np.random.default_rng([int(seed), int(index), int(epoch), STREAM])
    # every value is drawn whatever p is, so that changing p does not shift the others
    apply = rng.random() < p
    contrast, brightness = float(rng.uniform(0.6, 1.4)), float(rng.uniform(-50.0, 30.0))
    gamma, saturation = float(rng.uniform(0.7, 1.4)), float(rng.uniform(0.6, 1.4))
    do_blur, blur_sigma = rng.random() < 0.5, float(rng.uniform(0.5, 2.5))
    do_noise, noise_sigma = rng.random() < 1 / 3, float(rng.uniform(2.0, 8.0))
    if not apply:
        return PhotometricParams()
    return PhotometricParams(contrast=contrast, brightness=brightness, gamma=gamma, saturation=saturation,
                             blur_sigma=blur_sigma if do_blur else 0.0, noise_sigma=noise_sigma if do_noise else 0.0)


def apply_photometric(image: np.ndarray, params: PhotometricParams, noise_key: tuple[int, ...] = ()) -> np.ndarray:
    """`image` (HxWx3 uint8 RGB) with `params` applied: saturation, contrast, brightness, gamma, blur,
    then sensor noise (drawn from `noise_key`, e.g. (seed, index, epoch)). Returns a new HxWx3 uint8
    array of the same size."""
    if params.is_identity:
        return image
    out = image
    if params.saturation != 1.0:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 1] = np.clip(hsv[..., 1] * params.saturation, 0, 255)
        out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    x = out.astype(np.float32)
    x = (x - x.mean()) * params.contrast + x.mean() + params.brightness
    x = 255.0 * (np.clip(x, 0.0, 255.0) / 255.0) ** params.gamma
    if params.blur_sigma > 0:
        x = cv2.GaussianBlur(x, (0, 0), params.blur_sigma)
    if params.noise_sigma > 0:
        rng = np.random.default_rng([*map(int, noise_key), STREAM + 1])
        x = x + rng.normal(0.0, params.noise_sigma, x.shape).astype(np.float32)
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)
