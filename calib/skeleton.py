"""Skeletonisation of binary masks in vectorised numpy (no scikit-image, no cv2.ximgproc).

`skeletonize` runs Zhang-Suen parallel thinning followed by a clean-up that removes the remaining
"staircase" pixels, so the result is exactly one pixel wide (8-connected): every pixel that is not
an end point is needed for connectivity.

Both passes use a 256-entry lookup table of 8-neighbour patterns. Thinning runs in two modes and
gives the same skeleton in either: while many pixels are still being deleted (a mask with large
areas), each sub-iteration codes the whole image at once with OpenCV (`cv2.filter2D` with the bit
weights as kernel, `cv2.LUT`), about 1 ns per image pixel; once few pixels change, or from the
start when the mask is sparse (thin cracks in a large frame), it works on flat index arrays of the
"front" pixels only (those whose neighbourhood changed in the last two sub-iterations), about 20 ns
per front pixel and independent of the image size.

Neighbour code of a pixel (bit k set when neighbour k is foreground), clockwise from north:

    bit 7 (NW)  bit 0 (N)  bit 1 (NE)
    bit 6 (W)      P       bit 2 (E)
    bit 5 (SW)  bit 4 (S)  bit 3 (SE)
"""

from __future__ import annotations

import cv2
import numpy as np

# (dy, dx) of neighbour bits 0..7: N, NE, E, SE, S, SW, W, NW.
NEIGHBOUR_OFFSETS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _bits(code: int) -> list[int]:
    return [(code >> k) & 1 for k in range(8)]


def _zhang_suen_luts() -> tuple[np.ndarray, np.ndarray]:
    """Deletion tables of the two Zhang-Suen sub-iterations, indexed by neighbour code."""
    first = np.zeros(256, dtype=bool)
    second = np.zeros(256, dtype=bool)
    for code in range(256):
        n, ne, e, se, s, sw, w, nw = _bits(code)
        seq = [n, ne, e, se, s, sw, w, nw, n]
        b = sum(seq[:8])
        a = sum(1 for i in range(8) if seq[i] == 0 and seq[i + 1] == 1)
        if not (2 <= b <= 6 and a == 1):
            continue
        first[code] = n * e * s == 0 and e * s * w == 0
        second[code] = n * e * w == 0 and n * s * w == 0
    return first, second


def _connectivity_number(code: int) -> int:
    """Yokoi's 8-connectivity number: 1 exactly when deleting the pixel keeps the topology."""
    x = _bits(code)
    xb = [1 - v for v in x] + [1 - x[0], 1 - x[1]]
    return sum(xb[k] - xb[k] * xb[k + 1] * xb[k + 2] for k in (0, 2, 4, 6))


def _cleanup_lut() -> np.ndarray:
    """Pixels the clean-up removes: simple (connectivity number 1) and not an end point."""
    lut = np.zeros(256, dtype=bool)
    for code in range(256):
        lut[code] = _connectivity_number(code) == 1 and bin(code).count("1") >= 2
    return lut


ZS_FIRST, ZS_SECOND = _zhang_suen_luts()
CLEANUP = _cleanup_lut()
POPCOUNT = np.array([bin(c).count("1") for c in range(256)], dtype=np.uint8)


def flat_offsets(width: int) -> np.ndarray:
    """Flat-index offsets of the 8 neighbours (bit order) in a C-contiguous image `width` wide."""
    return np.array([dy * width + dx for dy, dx in NEIGHBOUR_OFFSETS], dtype=np.int64)


def neighbour_codes(flat: np.ndarray, idx: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """8-neighbour codes (uint8, bit order above) of pixels `idx` of a flattened 0/1 uint8 image.

    The image must have a background border of at least one pixel so that idx + offsets stays inside.
    """
    code = np.zeros(idx.shape, dtype=np.uint8)
    for bit, off in enumerate(offsets):
        code |= flat[idx + off] << np.uint8(bit)
    return code


# Correlation kernel that turns a 0/1 image into the neighbour codes above (cv2.filter2D, exact in uint8:
# the weights add up to 255 and the centre has none).
CODE_KERNEL = np.array([[128, 1, 2], [64, 0, 4], [32, 16, 8]], dtype=np.float32)
# Whole-image sub-iterations are used while (pixels deleted per sub-iteration) * IMAGE_MODE_RATIO is
# at least the image area: one image pixel costs ~1/40 of one front pixel in the index mode.
IMAGE_MODE_RATIO = 40


def image_neighbour_codes(img: np.ndarray) -> np.ndarray:
    """8-neighbour codes (bit order above) of every pixel of a 2-D 0/1 uint8 image (outside = 0)."""
    return cv2.filter2D(img, cv2.CV_8U, CODE_KERNEL, borderType=cv2.BORDER_CONSTANT)


def _zhang_suen_front(flat: np.ndarray, front: np.ndarray, offsets: np.ndarray, step: int) -> None:
    """Zhang-Suen sub-iterations on the front pixels only, in place, until two sub-iterations in a
    row delete nothing.

    front: flat indices (no duplicates) of every pixel the next two sub-iterations can delete with
    the neighbour codes they have now; step: index of the next sub-iteration (its parity picks the
    table). A pixel's code changes only when a neighbour is deleted, so a pixel that both tables
    have seen with its current code stays until a neighbour goes: each sub-iteration examines the
    pixels touched (foreground neighbours of deleted pixels) in the previous two, not the whole
    boundary again. `touched_at` holds the last sub-iteration that touched a listed pixel.
    """
    listed = np.zeros(flat.size, dtype=bool)
    listed[front] = True
    touched_at = np.empty(flat.size, dtype=np.int32)  # read only where `listed`
    touched_at[front] = step - 1  # to be examined by sub-iterations `step` and `step + 1`
    slot = np.empty(flat.size, dtype=np.int32)  # scratch for de-duplicating touched pixels
    luts = (ZS_FIRST, ZS_SECOND)
    while front.size:
        delete = luts[step % 2][neighbour_codes(flat, front, offsets)]
        gone = front[delete]
        stay = front[~delete]
        if gone.size:
            flat[gone] = 0
            listed[gone] = False
            touched = (gone[:, None] + offsets[None, :]).ravel()
            touched = touched[flat[touched] == 1]
            pos = np.arange(touched.size, dtype=np.int32)
            slot[touched] = pos
            touched = touched[slot[touched] == pos]  # one entry per pixel (the last write wins)
            touched_at[touched] = step
            touched = touched[~listed[touched]]
            listed[touched] = True
        else:
            touched = gone
        stale = touched_at[stay] < step - 1  # seen by both tables since its last change
        listed[stay[stale]] = False
        front = np.concatenate([stay[~stale], touched])
        step += 1


def _zhang_suen(img: np.ndarray) -> None:
    """Thin the 2-D 0/1 uint8 image (C-contiguous, background border of at least one pixel) in place.

    Whole-image sub-iterations first when the mask is dense, then the front mode (see the module
    docstring); both delete exactly the pixels the parallel Zhang-Suen sub-iteration deletes.
    """
    area = img.size
    step = 0
    if cv2.countNonZero(img) * IMAGE_MODE_RATIO >= area:
        tables = (ZS_FIRST.view(np.uint8), ZS_SECOND.view(np.uint8))
        idle = 0
        while True:
            delete = cv2.LUT(image_neighbour_codes(img), tables[step % 2])
            step += 1
            cv2.bitwise_and(delete, img, dst=delete)
            n_deleted = cv2.countNonZero(delete)
            if n_deleted:
                idle = 0
                np.subtract(img, delete, out=img)
            else:
                idle += 1
                if idle == 2:
                    return
            if n_deleted * IMAGE_MODE_RATIO < area:
                break
        boundary = cv2.compare(image_neighbour_codes(img), 255, cv2.CMP_NE)
        front = _nonzero_flat(cv2.bitwise_and(boundary, img))
        flat = img.ravel()
    else:
        flat = img.ravel()
        idx = _nonzero_flat(img)
        front = idx[neighbour_codes(flat, idx, flat_offsets(img.shape[1])) != 255]
    _zhang_suen_front(flat, front, flat_offsets(img.shape[1]), step)


def remove_staircases(flat: np.ndarray, idx: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """Delete simple non-end pixels until none is left, in place; returns the remaining indices.

    The pixels are processed in four classes by (row parity, column parity); two pixels of one
    class are never 8-adjacent, so deleting a whole class at once keeps the topology.
    """
    rows, cols = np.divmod(idx, width)
    parity = (rows & 1) * 2 + (cols & 1)
    while True:
        changed = False
        for cls in range(4):
            sel = idx[(parity == cls) & (flat[idx] == 1)]
            if sel.size == 0:
                continue
            delete = CLEANUP[neighbour_codes(flat, sel, offsets)]
            if delete.any():
                flat[sel[delete]] = 0
                changed = True
        if not changed:
            return idx[flat[idx] == 1]


def skeleton_flat(mask: np.ndarray, pad: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """Skeleton of `mask` (HxW, non-zero = foreground) in a zero-padded, flattened uint8 image.

    Returns (flat image of shape (H + 2 pad) * (W + 2 pad), sorted flat indices of the skeleton
    pixels, padded width). Pixel (x, y) of the mask is flat index (y + pad) * width + x + pad.
    """
    if pad < 1:
        raise ValueError("pad must be at least 1")
    m = np.asarray(mask)
    h, w = m.shape
    width = w + 2 * pad
    img = np.zeros((h + 2 * pad, width), dtype=np.uint8)
    img[pad:pad + h, pad:pad + w] = m != 0
    flat = img.ravel()
    if not cv2.countNonZero(img):
        return flat, np.zeros(0, dtype=np.int64), width
    _zhang_suen(img)
    idx = _nonzero_flat(img)
    idx = remove_staircases(flat, idx, flat_offsets(width), width)
    return flat, idx, width


def _nonzero_flat(img: np.ndarray) -> np.ndarray:
    """Sorted flat indices (int64) of the non-zero pixels of a 2-D uint8 image."""
    points = cv2.findNonZero(img)  # N x 1 x 2 (x, y), row-major order; None when empty
    if points is None:
        return np.zeros(0, dtype=np.int64)
    points = points.reshape(-1, 2).astype(np.int64)
    return points[:, 1] * img.shape[1] + points[:, 0]


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide, 8-connected skeleton of a binary mask.

    mask: HxW, any dtype (non-zero = foreground). Returns HxW bool. Each 8-connected component of the
    mask keeps its number of holes; components of fewer than about 4 pixels in a 2x2 arrangement can
    vanish (a Zhang-Suen property; measurements drop such specks anyway).
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"skeletonize expects an HxW mask, got shape {m.shape}")
    flat, _, width = skeleton_flat(m, pad=1)
    return flat.reshape(-1, width)[1:-1, 1:-1].astype(bool)
