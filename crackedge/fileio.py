"""Atomic file writes (temp file in the same folder, fsync, rename) and checked image reads.

A power cut during a write leaves either the old file or the new one, never half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from crackedge.errors import DataError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write `data` to `path` so that readers see the old content or all of the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str, fsync: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def encode_image(image: np.ndarray, ext: str, jpeg_quality: int = 90, rgb: bool = True) -> bytes:
    """Encode an HxWx3 RGB (or HxW grey) uint8 image as `.jpg` or `.png` bytes."""
    arr = image
    if rgb and arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, arr, params)
    if not ok:
        raise DataError(f"could not encode an image of shape {image.shape} as {ext}")
    return buf.tobytes()


def write_image_atomic(path: Path, image: np.ndarray, jpeg_quality: int = 90, rgb: bool = True) -> None:
    """Atomically write an RGB (HxWx3) or grey (HxW) uint8 image; format from the suffix."""
    path = Path(path)
    atomic_write_bytes(path, encode_image(image, path.suffix, jpeg_quality, rgb=rgb))


def read_image_rgb(path: Path) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB, or raise DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"unreadable or corrupt image: {path} (re-export it as JPEG or PNG)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask_gray(path: Path) -> np.ndarray:
    """Read a mask file as HxW uint8 grey (unthresholded), or raise DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"mask not found: {path}")
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise DataError(f"unreadable or corrupt mask: {path} (re-export it as PNG)")
    return m


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()
