"""A printable checkerboard PNG with its physical size recorded (PNG pHYs), so it prints 1:1.

The page shows the board (cols+1 x rows+1 squares, i.e. cols x rows inner corners), a white quiet
zone around it, a caption with the --board / --square-mm values to use, and a 100 mm bar to check
the print scale with a ruler.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from calib.board import BoardSpec

MM_PER_INCH = 25.4


def board_image(board: BoardSpec, dpi: float = 300.0, margin_mm: float = 15.0) -> np.ndarray:
    """HxW uint8 grey page with the board, caption and a 100 mm scale bar, at `dpi`."""
    px_per_mm = dpi / MM_PER_INCH
    sq = board.square_mm * px_per_mm
    nx, ny = board.cols + 1, board.rows + 1
    margin = margin_mm * px_per_mm
    caption_h = 30.0 * px_per_mm
    w = int(round(nx * sq + 2 * margin))
    h = int(round(ny * sq + 2 * margin + caption_h))
    page = np.full((h, w), 255, dtype=np.uint8)
    for j in range(ny):
        for i in range(nx):
            if (i + j) % 2 == 0:
                x0, y0 = int(round(margin + i * sq)), int(round(margin + j * sq))
                x1, y1 = int(round(margin + (i + 1) * sq)), int(round(margin + (j + 1) * sq))
                page[y0:y1, x0:x1] = 0
    base = int(round(margin + ny * sq + 8 * px_per_mm))
    bar = int(round(100 * px_per_mm))
    x0 = int(round(margin))
    thick = max(2, int(round(1.5 * px_per_mm)))
    cv2.rectangle(page, (x0, base), (x0 + bar, base + thick), 0, -1)
    for tick in range(0, 101, 10):
        xt = x0 + int(round(tick * px_per_mm))
        cv2.line(page, (xt, base - thick * 2), (xt, base + thick), 0, max(1, thick // 2))
    scale = 0.12 * px_per_mm
    text1 = f"--board {board.cols}x{board.rows} --square-mm {board.square_mm:g}   (inner corners; squares {nx} x {ny})"
    text2 = "Print at 100% (no 'fit to page'); the bar must measure 100 mm. Glue flat to a rigid board."
    cv2.putText(page, text1, (x0, base + int(9 * px_per_mm)), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, max(1, int(scale * 2)), cv2.LINE_AA)
    cv2.putText(page, text2, (x0, base + int(17 * px_per_mm)), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, 0, max(1, int(scale * 1.5)), cv2.LINE_AA)
    return page


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_dpi(image: np.ndarray, dpi: float) -> bytes:
    """Encode a grey/BGR image as PNG with a pHYs chunk saying `dpi` (pixels per metre, unit 1)."""
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    data = buf.tobytes()
    ppm = int(round(dpi / MM_PER_INCH * 1000.0))
    phys = _png_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
    ihdr_end = 8 + 8 + 13 + 4  # signature + IHDR length/type + IHDR data + CRC
    return data[:ihdr_end] + phys + data[ihdr_end:]
