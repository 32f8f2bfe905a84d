"""Crack masks of a bundle on a folder of images, as the vehicle computes them (torch-free).

    python tools/pi_masks.py BUNDLE IMAGES_DIR OUT.npz [--precision auto|f32|f16|bf16]

Runs crackedge.runtime (the bundle's preprocessing, OpenVINO via create_backend, the decoder) and
writes, per image NAME: `rgb:NAME` (the decoded frame), `blob:NAME` (the network input), `prob:NAME`
(crack probability at the network's output resolution, float32) and `mask:NAME` (the mask at the
image's size, uint8), plus OUT.json with the backend's facts
(OpenVINO version, precision and why). `tools/pi_check.py` runs it on x86 and inside the emulated Pi
roots and compares the results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from crackedge.runtime.backends import create_backend
from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.options import RuntimeOptions
from crackedge.runtime.preprocess import Preprocessor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", type=Path)
    ap.add_argument("images", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--precision", default="auto", choices=["auto", "bundle", "f32", "f16", "bf16"])
    args = ap.parse_args(argv)
    bundle = load_bundle(args.bundle)
    backend, key = create_backend(RuntimeOptions(device="CPU", precision=args.precision, num_requests=1), bundle)
    pre = Preprocessor(bundle.meta.input)
    dec = MaskDecoder(bundle.meta.output, bundle.meta.threshold)
    arrays = {}
    try:
        for path in sorted(p for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            blob = pre(rgb)
            out = backend.infer(blob)
            arrays[f"rgb:{path.stem}"] = rgb  # decoded frame and network input: where two machines part ways
            arrays[f"blob:{path.stem}"] = blob
            arrays[f"prob:{path.stem}"] = dec.probability(out).astype(np.float32)
            arrays[f"mask:{path.stem}"] = dec.mask(out, (rgb.shape[1], rgb.shape[0])).astype(np.uint8)
        info = dict(backend.info, model_key=key)
    finally:
        backend.close()
    np.savez_compressed(args.out, **arrays)
    args.out.with_suffix(".json").write_text(json.dumps(info, default=str, indent=1))
    print(f"{len(arrays) // 4} images, precision {info.get('precision')}: {info.get('precision_reason')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
