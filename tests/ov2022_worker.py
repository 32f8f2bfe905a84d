"""Runs inside the OpenVINO 2022.3 venv (build/ov2022-venv, Python 3.10, numpy 1.24) for
tests/test_openvino_2022.py: the edge backend on a bundle, sync and async, through `openvino.runtime`.

    python tests/ov2022_worker.py BUNDLE IMAGES.npz OUT.npz

Writes the network outputs of every image (sync and async) and the backend's facts (api, version,
model file, precision chosen and why) to OUT.npz / OUT.json. Imports only the torch-free runtime.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import numpy as np

from crackedge.runtime.backends import create_backend
from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.options import RuntimeOptions
from crackedge.runtime.preprocess import Preprocessor


def run_async(backend, blobs: list[np.ndarray]) -> list[np.ndarray]:
    """Every blob through start_async with n_requests in flight; outputs in input order."""
    outs: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    slots = threading.Semaphore(backend.n_requests)
    lock = threading.Lock()

    def done(i, out, err) -> None:
        with lock:
            if err is not None:
                errors.append(err)
            else:
                outs[i] = out
        slots.release()

    backend.set_callback(done)
    for i, blob in enumerate(blobs):
        slots.acquire()
        backend.start_async(blob, i)
    backend.wait_all()
    if errors:
        raise errors[0]
    return [outs[i] for i in range(len(blobs))]


def main(bundle_dir: str, images_npz: str, out_npz: str) -> int:
    bundle = load_bundle(Path(bundle_dir))
    images = [a for _, a in sorted(np.load(images_npz).items())]
    pre = Preprocessor(bundle.meta.input)
    blobs = [pre(im) for im in images]
    facts = {}
    backend, key = create_backend(RuntimeOptions(device="CPU", precision="f32", num_requests=3), bundle)
    try:
        sync = [backend.infer(b) for b in blobs]
        asyn = run_async(backend, blobs)
        facts["f32"] = dict(backend.info, model_key=key)
    finally:
        backend.close()
    auto, key = create_backend(RuntimeOptions(device="CPU"), bundle)  # precision: auto on 2022.3
    facts["auto"] = dict(auto.info, model_key=key)
    auto.close()
    np.savez(out_npz, **{f"sync{i:02d}": o for i, o in enumerate(sync)}, **{f"async{i:02d}": o for i, o in enumerate(asyn)},
             **{f"blob{i:02d}": b for i, b in enumerate(blobs)})
    Path(out_npz).with_suffix(".json").write_text(json.dumps(
        {"facts": facts, "python": sys.version.split()[0], "numpy": np.__version__}, default=str, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
