"""`python -m workflows.serve.bench`: served throughput and latency of bundles under Triton, beside OpenVINO's
own benchmark_app on the same IR, and the wire-format measurement for a vehicle's uplink.

For each bundle and for dynamic batching on and off, one server (one model instance, OpenVINO
THROUGHPUT hint at the bundle's precision) is started and 1, 4 and 16 simulated vehicles send frames
in a closed loop (each sends its next frame when the answer to the previous one arrives) for
`seconds`, over KServe v2 HTTP, as JPEG of the network-size image (what edge sends by default).
Throughput = answers / wall time; latency = request round trip per frame (p50, p90). benchmark_app
runs the bundle's model.xml with `-hint throughput` and the same inference precision.

The results file (--json, default benchmarks/results/serve.json; BENCHMARKS.md section 7 renders it
with `crackedge bench-report --only serve`) holds {"runs": [{machine, started, seconds, jpeg_quality,
bundles}], "wire": ..., "notes": ...}: bundles go into the last run (--new-run starts another), the
wire table is replaced, and hand-written notes about what was re-measured are dropped.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

log = logging.getLogger(__name__)

CLIENTS = (1, 4, 16)
JPEG_QUALITY = 90  # what the served runs send (edge's remote.wire default)


def frames(n: int = 8, size: tuple[int, int] = (720, 1280), seed: int = 0) -> list[np.ndarray]:
    """Road-like RGB frames with a crack (crackedge.synth), camera sized."""
    from crackedge.synth import generate_sample

    return [generate_sample(seed + i, size=size)[0] for i in range(n)]


def _client_loop(url: str, model: str, payloads: list[np.ndarray], stop: threading.Event, lat: list[float],
                 errors: list[str]) -> None:
    import tritonclient.http as http

    client = http.InferenceServerClient(url.split("://", 1)[1], connection_timeout=120, network_timeout=120)
    i = 0
    while not stop.is_set():
        p = payloads[i % len(payloads)]
        i += 1
        inp = http.InferInput("image", [1, p.size], "UINT8")
        inp.set_data_from_numpy(p[None])
        t0 = time.perf_counter()
        try:
            client.infer(model, [inp])
        except Exception as err:  # counted, not fatal
            errors.append(str(err))
            continue
        lat.append(time.perf_counter() - t0)
    client.close()


def load_run(url: str, model: str, payloads: list[np.ndarray], clients: int, seconds: float) -> dict[str, Any]:
    stop = threading.Event()
    lats: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    threads = [threading.Thread(target=_client_loop, args=(url, model, payloads, stop, lats[k], errors), daemon=True)
               for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(300)
    wall = time.perf_counter() - t0  # includes the requests in flight at the stop
    all_lat = sorted(v for lat in lats for v in lat)
    n = len(all_lat)
    return {"clients": clients, "requests": n, "seconds": round(wall, 2), "throughput_fps": round(n / wall, 3),
            "p50_ms": round(1000 * all_lat[n // 2], 1) if n else None,
            "p90_ms": round(1000 * all_lat[min(n - 1, int(0.9 * n))], 1) if n else None,
            "errors": len(errors)}


def benchmark_app(xml: Path, precision: str, seconds: int, hint: str = "throughput") -> dict[str, Any]:
    exe = Path(sys.executable).with_name("benchmark_app")
    cmd = [str(exe), "-m", str(xml), "-d", "CPU", "-hint", hint, "-t", str(seconds), "-infer_precision", precision]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300).stdout
    fps = re.search(r"Throughput:\s+([\d.]+)\s+FPS", out)
    med = re.search(r"Median:\s+([\d.]+)\s+ms", out)
    nreq = re.search(r"(\d+) inference requests", out) or re.search(r"nireq.*?(\d+)", out)
    return {"hint": hint, "precision": precision, "throughput_fps": float(fps.group(1)) if fps else None,
            "median_ms": float(med.group(1)) if med else None, "requests": int(nreq.group(1)) if nreq else None,
            "command": " ".join(cmd[1:]).replace(str(xml), xml.name)}


def bench_bundle(bundle: Path, seconds: float, work: Path, clients=CLIENTS, jpeg_quality: int = JPEG_QUALITY) -> dict[str, Any]:
    from crackedge.runtime import wire
    from crackedge.runtime.bundle import load_bundle
    from crackedge.runtime.preprocess import Preprocessor
    from workflows.serve.repository import ModelSettings, write_repository
    from workflows.serve.triton import ServerOptions, TritonServer, free_port

    meta = load_bundle(bundle).meta
    pre = Preprocessor(meta.input)
    payloads = [wire.payload_for(pre(f), meta.input, "jpeg", jpeg_quality) for f in frames()]
    result: dict[str, Any] = {"bundle": str(bundle), "model": meta.model_name, "kind": meta.model.kind,
                              "input": f"{meta.input.height}x{meta.input.width}", "precision": meta.inference_precision,
                              "payload_bytes_mean": int(np.mean([p.size for p in payloads])), "served": []}
    result["benchmark_app_before"] = benchmark_app(bundle / meta.models["ir_fp16"], meta.inference_precision, int(seconds))
    for batching in (True, False):
        repo = work / f"repo-{meta.model_name}-{'db' if batching else 'nodb'}"
        write_repository([(bundle, "m")], repo, ModelSettings(dynamic_batching=batching, max_batch_size=16,
                                                             max_queue_delay_us=2000))
        opts = ServerOptions(http_port=free_port(), grpc_port=free_port(), metrics_port=free_port())
        with TritonServer(repo, work / f"srv-{meta.model_name}-{batching}", opts) as srv:
            load_run(srv.http_url, "m", payloads, 2, min(seconds, 5.0))  # warm-up (first requests compile)
            for n in clients:
                row = load_run(srv.http_url, "m", payloads, n, seconds)
                row["dynamic_batching"] = batching
                log.info("%s batching %s: %s", meta.model_name, batching, row)
                result["served"].append(row)
    result["benchmark_app_after"] = benchmark_app(bundle / meta.models["ir_fp16"], meta.inference_precision, int(seconds))
    return result


def image_frames(folder: Path, n: int) -> list[np.ndarray]:
    """n images spread over a folder (or a canonical dataset's images/)."""
    from crackedge.evaluation.reports import spread
    from crackedge.fileio import read_image_rgb

    folder = Path(folder) / "images" if (Path(folder) / "images").is_dir() else Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [read_image_rgb(p) for p in spread(files, n)]


def image_masks(folder: Path, n: int) -> Optional[list[np.ndarray]]:
    """The masks (masks/<name>, grey thresholded at 127) of image_frames' images, when present."""
    import cv2

    from crackedge.evaluation.reports import spread

    images, masks = Path(folder) / "images", Path(folder) / "masks"
    if not (images.is_dir() and masks.is_dir()):
        return None
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    out = []
    for p in spread(files, n):
        cands = [masks / p.name, masks / (p.stem + ".png")]
        m = next((cv2.imread(str(c), cv2.IMREAD_GRAYSCALE) for c in cands if c.exists()), None)
        if m is None:
            return None
        out.append(m > 127)
    return out


def wire_formats(bundle: Path, n: int = 8, uplinks_mbit=(2.0, 10.0, 50.0), images: Optional[Path] = None) -> dict[str, Any]:
    """Bytes, client encode time, server decode time and mask agreement of each wire format, for `bundle`
    (on `images`, else synthetic 1280x720 frames)."""
    from crackedge.runtime import wire
    from crackedge.runtime.backends import open_model
    from crackedge.runtime.bundle import load_bundle
    from crackedge.runtime.decode import MaskDecoder
    from crackedge.runtime.preprocess import Preprocessor

    meta = load_bundle(bundle).meta
    pre = Preprocessor(meta.input)
    decoder = MaskDecoder(meta.output, meta.threshold)
    blobs = [pre(f) for f in (image_frames(images, n) if images else frames(n))]
    gts = image_masks(images, n) if images else None
    model = open_model(bundle / meta.models["ir_fp16"], precision=meta.inference_precision)
    reference = [decoder.mask(model.infer(b), (meta.input.width, meta.input.height)) for b in blobs]
    rows = []
    for name, kind, q in (("float32 tensor", "float32", 0), ("uint8 tensor", "uint8", 0), ("PNG", "png", 0),
                          ("JPEG q95", "jpeg", 95), ("JPEG q90", "jpeg", 90), ("JPEG q75", "jpeg", 75)):
        sizes, enc, dec, inter, union, gi, gu = [], [], [], 0, 0, 0, 0
        for k, (blob, ref) in enumerate(zip(blobs, reference)):
            t0 = time.perf_counter()
            payload = wire.payload_for(blob, meta.input, kind, q or 90)
            enc.append(time.perf_counter() - t0)
            sizes.append(payload.size)
            t0 = time.perf_counter()
            got = wire.kind_of(payload, meta.input.height, meta.input.width)
            x = (payload.view(np.float32).reshape(blob.shape) if got == "float32"
                 else pre(wire.decode_rgb(payload, got, meta.input.height, meta.input.width)))
            dec.append(time.perf_counter() - t0)
            mask = decoder.mask(model.infer(x), (meta.input.width, meta.input.height)).astype(bool)
            inter += int(np.logical_and(mask, ref).sum())
            union += int(np.logical_or(mask, ref).sum())
            if gts is not None:
                gt = gts[k]
                at_gt = decoder.mask(model.infer(x), (gt.shape[1], gt.shape[0])).astype(bool)
                gi += int(np.logical_and(at_gt, gt).sum())
                gu += int(np.logical_or(at_gt, gt).sum())
        kb = float(np.mean(sizes)) / 1024
        rows.append({"wire": name, "kb_per_frame": round(kb, 1), "encode_ms": round(1000 * float(np.median(enc)), 2),
                     "server_decode_ms": round(1000 * float(np.median(dec)), 2),
                     "mask_iou_vs_float32": round(inter / union, 4) if union else 1.0,
                     "crack_iou_vs_gt": round(gi / gu, 4) if gts is not None and gu else None,
                     "uplink_ms": {f"{m:g}": round(kb * 1024 * 8 / (m * 1e6) * 1000, 1) for m in uplinks_mbit}})
    model.close()
    return {"bundle": str(bundle), "model": meta.model_name, "input": f"{meta.input.height}x{meta.input.width}",
            "frames": f"{n} images of {images}" if images else f"{n} synthetic 1280x720 frames resized to the input",
            "rows": rows}


def load_results(path: Path) -> dict[str, Any]:
    """The results file as {"runs": [...], "wire": ..., ...}; the older single-run layout {machine, bundles, wire}
    becomes one run; a missing file, no runs."""
    doc = json.loads(path.read_text()) if path.exists() else {}
    if "bundles" in doc:
        doc = {"runs": [{k: doc[k] for k in ("machine", "bundles") if k in doc}],
               **{k: v for k, v in doc.items() if k not in ("machine", "bundles")}}
    doc.setdefault("runs", [])
    doc.setdefault("wire", None)
    return doc


def _drop_notes(doc: dict[str, Any], keys: tuple[str, ...]) -> None:
    notes = doc.get("notes") or {}
    gone = [k for k in keys if notes.pop(k, None) is not None]
    if gone:
        log.warning("dropped the hand-written notes %s: they described the previous measurement", ", ".join(gone))


def main(argv: Optional[list[str]] = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m workflows.serve.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundles", nargs="*", type=Path)
    p.add_argument("--seconds", type=float, default=15.0, help="per measurement (default 15)")
    p.add_argument("--wire-bundle", type=Path, help="measure the wire formats on this bundle (use trained weights)")
    p.add_argument("--wire-images", type=Path, help="images for the wire measurement (default: synthetic frames)")
    p.add_argument("--wire-frames", type=int, default=24)
    p.add_argument("--json", type=Path, default=Path("benchmarks/results/serve.json"), metavar="FILE",
                   help="results file, added to (default benchmarks/results/serve.json)")
    p.add_argument("--out", dest="json", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # its old name
    p.add_argument("--new-run", action="store_true", help="put the bundles into a new run instead of the last one")
    p.add_argument("--clients", default="1,4,16")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    clients = tuple(int(c) for c in args.clients.split(","))
    work = Path(tempfile.mkdtemp(prefix="crackedge-serve-bench-"))
    doc = load_results(args.json)
    if args.wire_bundle:
        doc["wire"] = wire_formats(args.wire_bundle, args.wire_frames, images=args.wire_images)
        _drop_notes(doc, ("wire", "choice"))
    if args.bundles:
        if args.new_run or not doc["runs"]:
            doc["runs"].append({"bundles": []})
        run = doc["runs"][-1]
        run.update(started=time.strftime("%Y-%m-%dT%H:%M"), seconds=args.seconds, jpeg_quality=JPEG_QUALITY)
        for b in args.bundles:
            res = bench_bundle(b, args.seconds, work, clients)
            run["bundles"] = [x for x in run["bundles"] if x["model"] != res["model"]] + [res]
        run["machine"] = _machine()
        _drop_notes(doc, ("setup", "goal"))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=1))
    from workflows.bench.render_serve import serve_lines

    print("\n".join(serve_lines(doc)))
    return 0


def _machine() -> dict[str, Any]:
    import os
    import platform

    from workflows.serve.triton import find_triton

    try:
        import importlib.metadata as md

        versions = {k: md.version(k) for k in ("nvidia-pytriton", "tritonclient", "openvino", "numpy")}
    except Exception:
        versions = {}
    return {"cpu_count": os.cpu_count(), "loadavg": os.getloadavg(), "python": platform.python_version(),
            "versions": versions, "triton": str(find_triton().root)}


if __name__ == "__main__":
    raise SystemExit(main())
