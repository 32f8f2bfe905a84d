"""calib: camera intrinsics, image-to-ground scale, and crack measurement in millimetres (torch-free)."""
