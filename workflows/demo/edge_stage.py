"""The demo's vehicle stage: `edge run` as its own process on a simulated MJPEG camera on 127.0.0.1,
watched through its JSON metrics, stopped with SIGTERM; then the saved frames are checked and shown."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import yaml

from crackedge.data.layout import CrackDataset
from crackedge.overlay import contact_sheet
from workflows.demo.config import DemoConfig, DemoResult, StageError


def free_port() -> int:
    """A TCP port nothing listens on now (the daemon binds it a moment later; it says so if it cannot)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def edge_config(cfg: DemoConfig, bundle: Path, url: str, out: Path, port: int) -> Path:
    conf = {
        "source": {"kind": "http_mjpeg", "url": url, "read_timeout_s": 5.0},
        "model": {"bundle": str(bundle.resolve()), "device": "CPU"},
        "save": {"out_dir": str(out.resolve()), "min_crack_ratio": 0.002, "every_nth": 0, "save_raw": True},
        "disk": {"min_free_mb": 200.0, "policy": "stop"},
        "preview": {"enabled": True, "host": "127.0.0.1", "port": port},
    }
    path = cfg.out / "edge.yaml"
    path.write_text(yaml.safe_dump(conf, sort_keys=False))
    return path


def poll_frames(url: str, want: int, timeout: float, proc: subprocess.Popen) -> dict[str, Any]:
    """The daemon's JSON metrics once it has post-processed `want` frames (or at the timeout)."""
    from tqdm import tqdm

    last: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    with tqdm(total=want, desc="edge frames", unit="frame") as bar:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    last = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
                continue
            done = int(last.get("stages", {}).get("postprocess", {}).get("count", 0))
            bar.n = min(done, want)
            bar.refresh()
            if done >= want:
                break
            time.sleep(0.5)
    return last


def check_run(run: Path) -> tuple[list[Path], list[Path]]:
    """(annotated frames, sidecars) of a run folder; StageError unless every sidecar has its images."""
    sidecars = sorted(run.glob("[0-9]*.json"))
    jpgs = sorted(p for p in run.glob("[0-9]*.jpg") if not p.stem.endswith("_raw"))
    for side in sidecars:
        doc = json.loads(side.read_text())
        for key in ("image", "raw_image"):
            if doc.get(key) and not (run / doc[key]).is_file():
                raise StageError(f"{side} names {doc[key]}, which is not in {run}")
    if len(jpgs) != len(sidecars):
        raise StageError(f"{run}: {len(jpgs)} annotated frames but {len(sidecars)} sidecars")
    return jpgs, sidecars


def stage_edge(cfg: DemoConfig, ds: CrackDataset, bundle: Path, res: DemoResult) -> Path:
    """Run `edge run` as its own process on a simulated camera, then stop it with SIGTERM."""
    from crackedge.child_env import checkout_env
    from edge.simcam import SimCamera, folder_frames, synthetic_frames

    out = cfg.out / "edge"
    if cfg.data is not None:
        frames = folder_frames(ds.image_path(ds.names("test")[0]).parent, cfg.frame_size, limit=cfg.edge_frames)
    else:
        frames = synthetic_frames(cfg.frame_size, n=min(cfg.edge_frames, 24), seed=cfg.seed + 1000)
    log_path = cfg.out / "edge.log"
    port = free_port()
    with SimCamera(frames, fps=cfg.edge_fps) as cam:
        conf = edge_config(cfg, bundle, cam.url, out, port)
        with open(log_path, "w") as log_fh:
            proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(conf)], stdout=log_fh,
                                    stderr=subprocess.STDOUT, env={**checkout_env(), "PYTHONUNBUFFERED": "1"})
            try:
                metrics = poll_frames(f"http://127.0.0.1:{port}/metrics.json", cfg.edge_frames,
                                      120 + 3 * cfg.edge_frames / cfg.edge_fps, proc)
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = proc.wait()
    if rc != 0:
        raise StageError(f"stage 'edge' exited with status {rc}; see {log_path}")
    runs = sorted(p for p in (out / "runs").iterdir() if p.is_dir()) if (out / "runs").is_dir() else []
    if not runs:
        raise StageError(f"the edge daemon wrote no run folder under {out}; see {log_path}")
    run = runs[-1]
    jpgs, sidecars = check_run(run)
    post = metrics.get("stages", {}).get("postprocess", {})
    res.figures.update(edge_frames=int(post.get("count", 0)), edge_saved=len(jpgs), edge_fps=post.get("fps"),
                       edge_rss_mb=metrics.get("rss_mb"), edge_run=str(run))
    res.add(f"edge: {res.figures['edge_frames']} frames from the simulated camera, {len(jpgs)} annotated frames + "
            f"{len(sidecars)} sidecars (+ raw frames for the next distillation) in {run}; pipeline "
            f"{post.get('fps') or 0:.1f} FPS at a {cfg.edge_fps:g} FPS camera, daemon RSS "
            f"{metrics.get('rss_mb') or 0:.0f} MB (log {log_path})")
    if jpgs:
        tiles = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in jpgs[:12]]
        sheet = cfg.out / "annotated_frames.jpg"
        cv2.imwrite(str(sheet), cv2.cvtColor(contact_sheet(tiles, cols=4), cv2.COLOR_RGB2BGR))
        res.add(f"contact sheet of annotated frames: {sheet}")
    return run
