"""A printable checkerboard PNG with its physical size recorded (PNG pHYs), so it prints 1:1.

The page shows the board (cols+1 x rows+1 squares, i.e. cols x rows inner corners), a 100 mm bar
to check the print scale with a ruler, and a caption with the --board / --square-mm values to use.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from calib.board import BoardSpec

MM_PER_INCH = 25.4


def board_image(board: BoardSpec, dpi: float = 300.0, margin_mm: float = 5.0) -> np.ndarray:
    """HxW uint8 grey page with the board, a 100 mm scale bar and a caption, at `dpi`.

    The default 9x6 board with 25 mm squares makes a 260 x 198 mm page (fits A4 landscape); the
    unprinted paper around it is the white quiet zone the detector needs.
    """
    px_per_mm = dpi / MM_PER_INCH
    mm = lambda v: int(round(v * px_per_mm))  # noqa: E731
    nx, ny = board.cols + 1, board.rows + 1
    sq = board.square_mm
    caption_mm = 13.0
    w = mm(nx * sq + 2 * margin_mm)
    h = mm(ny * sq + 2 * margin_mm + caption_mm)
    page = np.full((h, w), 255, dtype=np.uint8)
    for j in range(ny):
        for i in range(nx):
            if (i + j) % 2 == 0:
                page[mm(margin_mm + j * sq):mm(margin_mm + (j + 1) * sq), mm(margin_mm + i * sq):mm(margin_mm + (i + 1) * sq)] = 0
    top = margin_mm + ny * sq + 4.0  # mm, top of the scale bar
    x0 = mm(margin_mm)
    cv2.rectangle(page, (x0, mm(top)), (x0 + mm(100.0), mm(top + 1.2)), 0, -1)
    for tick in range(0, 101, 10):
        cv2.rectangle(page, (x0 + mm(tick) - mm(0.2), mm(top - 1.5)), (x0 + mm(tick) + mm(0.2), mm(top)), 0, -1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = 2.6 * px_per_mm / 22.0  # cap height ~2.6 mm (Hershey simplex caps are ~22 units at scale 1)
    thick = max(1, mm(0.3))
    text1 = f"100 mm   |   calib ... --board {board.cols}x{board.rows} --square-mm {board.square_mm:g}   ({nx} x {ny} squares)"
    text2 = "Print at 100 % (not 'fit to page') and check the bar is 100 mm; glue flat on a rigid board."
    cv2.putText(page, text1, (x0 + mm(103.0), mm(top + 1.2)), font, scale, 0, thick, cv2.LINE_AA)
    cv2.putText(page, text2, (x0, mm(top + 7.5)), font, scale, 0, thick, cv2.LINE_AA)
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
