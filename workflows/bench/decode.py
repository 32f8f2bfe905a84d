"""JPEG decode cost of a camera frame, full size and at libjpeg's reduced scales (torch-free).

A 1280x720 camera JPEG feeding a 448x448 network does not need a full decode: libjpeg can scale by
1/2, 1/4, 1/8 inside the IDCT (cv2.IMREAD_REDUCED_COLOR_N; simplejpeg with min_width/min_height set
to exactly W/N x H/N). OpenCV entries include the BGR->RGB conversion (simplejpeg decodes to RGB
directly), as in edge.jpeg.JpegDecoder. Each entry is timed alone and together with the linear resize to the network
input, which is what the daemon's capture stage pays per frame.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import numpy as np

from crackedge.timing import time_call

log = logging.getLogger(__name__)


def _decoders(data: bytes, frame_wh: tuple[int, int]) -> list[tuple[str, int, Callable[[], np.ndarray]]]:
    """(library, scale, decode()) for every decoder available here; scale N means 1/N."""
    import cv2

    arr = np.frombuffer(data, dtype=np.uint8)
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
    out: list[tuple[str, int, Callable[[], np.ndarray]]] = [  # + BGR->RGB, as edge does with OpenCV
        ("cv2.imdecode", n, lambda f=f: cv2.cvtColor(cv2.imdecode(arr, f), cv2.COLOR_BGR2RGB)) for n, f in flags.items()
    ]
    try:
        import simplejpeg
    except ImportError:
        return out
    w, h = frame_wh
    out.append(("simplejpeg", 1, lambda: simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False)))
    for n in (2, 4, 8):
        out.append(("simplejpeg", n, lambda n=n: simplejpeg.decode_jpeg(
            data, colorspace="RGB", fastdct=False, min_width=-(-w // n), min_height=-(-h // n))))
    return out


def synthetic_jpeg(frame_wh: tuple[int, int], quality: int = 85, seed: int = 1000) -> bytes:
    """A synthetic road frame with cracks (crackedge.synth) encoded as JPEG."""
    from crackedge.fileio import encode_image
    from crackedge.synth import generate_sample

    w, h = frame_wh
    return encode_image(generate_sample(seed, size=(h, w))[0], ".jpg", jpeg_quality=quality)


def decode_costs(frame_wh: tuple[int, int] = (1280, 720), model_wh: tuple[int, int] = (448, 448), quality: int = 85,
                 max_seconds: float = 1.5, repeats: int = 200, data: Optional[bytes] = None) -> dict[str, Any]:
    """Decode (and decode + resize to `model_wh`) timings of one `frame_wh` JPEG for every decoder.

    Returns {"frame": [W, H], "quality", "bytes", "model_input": [W, H], "edge_decoder": {...},
    "entries": [{"library", "scale", "output": [w, h], "decode": Timing dict, "decode_resize": Timing dict,
    "below_model_input": bool}]}.
    """
    import cv2

    from edge.jpeg import JpegDecoder, choose_scale

    data = data if data is not None else synthetic_jpeg(frame_wh, quality)
    entries = []
    for library, scale, decode in _decoders(data, frame_wh):
        img = decode()
        if img is None:
            raise RuntimeError(f"{library} could not decode the test JPEG")
        t_dec = time_call(decode, repeats=repeats, warmup=3, max_seconds=max_seconds)
        t_all = time_call(lambda d=decode: cv2.resize(d(), model_wh, interpolation=cv2.INTER_LINEAR),
                          repeats=repeats, warmup=3, max_seconds=max_seconds)
        out_wh = [int(img.shape[1]), int(img.shape[0])]
        entries.append({"library": library, "scale": scale, "output": out_wh, "decode": t_dec.to_dict(),
                        "decode_resize": t_all.to_dict(),
                        "below_model_input": out_wh[0] < model_wh[0] or out_wh[1] < model_wh[1]})
        log.info("decode: %-13s 1/%d -> %dx%d  %.2f ms (+ resize %.2f ms)", library, scale, *out_wh,
                 t_dec.median_ms, t_all.median_ms)
    edge_scale = choose_scale(frame_wh, model_wh)
    return {"frame": list(frame_wh), "quality": quality, "bytes": len(data), "model_input": list(model_wh),
            "edge_decoder": {"library": JpegDecoder().backend, "scale": edge_scale,
                             "rule": "largest 1/N with both sides >= 0.75 x the model input (edge.jpeg.choose_scale)"},
            "entries": entries}
