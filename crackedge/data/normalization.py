"""The input normalisation every model here is trained with: ImageNet statistics in 0-255 RGB units
(also SAM's `pixel_mean` / `pixel_std`). Torch-free, so the runtime and the training code share it."""

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0-255 units
IMAGENET_STD = (58.395, 57.12, 57.375)
