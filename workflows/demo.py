"""`crackedge demo`: the main job end to end, on built-in synthetic data or on `--data DIR`.

    data ─► tiny CrackSAM teacher ─► teacher logits cached ─► HRNet student distilled (CWD)
         ─► bundle (ONNX opset 11 + FP16 IR) ─► teacher and student scored on held-back images
         ─► edge daemon on a simulated MJPEG camera (127.0.0.1) ─► annotated frames + sidecars

Each stage calls the same command a user would run (`teacher train`, `distill export`,
`edge run`, ...) so the demo exercises the public interfaces; each stage is skipped when its
output already exists, so an interrupted demo continues where it stopped. Training stages have
both a step target and a time cap, so the whole run stays inside its budget on a small CPU.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import yaml

from crackedge.data.layout import CrackDataset
from crackedge.errors import CrackedgeError
from crackedge.overlay import annotate, contact_sheet

log = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    out: Path
    data: Path | None = None  # a canonical dataset; None = generate synthetic data
    size: int = 256  # teacher and student input (square); the demo favours CPU speed over 448
    n_train: int = 96
    n_val: int = 16
    n_test: int = 24
    student: str = "hrnet_w18"
    teacher_steps: int = 600
    teacher_minutes: float = 3.0
    student_steps: int = 300
    student_minutes: float = 4.0
    batch_size: int = 4
    variants: int = 2  # augmented views per training image in the logit cache
    edge_frames: int = 40  # frames the daemon processes from the simulated camera
    edge_fps: float = 4.0
    frame_size: tuple[int, int] = (640, 480)  # simulated camera frames (width, height)
    seed: int = 0
    device: str = "cpu"


@dataclass
class DemoResult:
    lines: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, text: str) -> None:
        log.info(text)
        self.lines.append(text)


class StageError(CrackedgeError):
    """A demo stage failed; the message names the stage and the command to rerun it alone."""


def _run_cli(stage: str, main: Callable[[Sequence[str]], int], argv: list[str]) -> None:
    log.info("[%s] %s", stage, " ".join(argv))
    rc = main(argv)
    if rc != 0:
        raise StageError(f"stage '{stage}' failed (exit {rc}); rerun it alone with: {' '.join(argv)}")


def stage_data(cfg: DemoConfig, res: DemoResult) -> CrackDataset:
    if cfg.data is not None:
        ds = CrackDataset.open(cfg.data)
        missing = [s for s in ("train", "val", "test") if s not in ds.splits]
        if missing:
            raise StageError(f"{cfg.data} has no {', '.join(missing)} split(s); the demo needs train, val and test")
        res.add(f"data: {ds.root} ({', '.join(f'{s} {len(ds.names(s))}' for s in ds.splits)})")
        return ds
    from crackedge.synth import write_synthetic_dataset

    out = cfg.out / "data"
    if (out / "dataset.yaml").is_file():
        ds = CrackDataset.open(out)
    else:
        ds = write_synthetic_dataset(out, cfg.n_train, cfg.n_val, cfg.n_test, (cfg.size, cfg.size), cfg.seed)
    res.add(f"data: {len(ds)} synthetic images in {out} (train {cfg.n_train}, val {cfg.n_val}, test {cfg.n_test})")
    return ds


def stage_teacher(cfg: DemoConfig, data: Path, res: DemoResult) -> Path:
    from teacher.cli import main as teacher_main

    out = cfg.out / "teacher"
    if not (out / "best.pt").is_file():
        _run_cli("teacher", teacher_main, [
            "train", "--data", str(data), "--out", str(out), "--backbone", "tiny", "--delta", "none",
            "--train-encoder", "--size", str(cfg.size), "--steps", str(cfg.teacher_steps),
            "--batch-size", str(cfg.batch_size), "--lr", "1e-3", "--warmup-steps", "30",
            "--eval-every", str(max(1, cfg.teacher_steps // 4)), "--max-minutes", str(cfg.teacher_minutes),
            "--seed", str(cfg.seed), "--device", cfg.device,
        ])
    res.add(f"teacher: tiny CrackSAM trained from scratch -> {out / 'best.pt'} (curves {out / 'curves.png'})")
    return out / "best.pt"


def stage_cache(cfg: DemoConfig, data: Path, teacher_ckpt: Path, res: DemoResult) -> Path:
    from teacher.cli import main as teacher_main

    out = cfg.out / "teacher_cache"
    if not (out / "index.yaml").is_file():
        _run_cli("cache", teacher_main, [
            "cache-logits", str(teacher_ckpt), "--data", str(data), "--split", "train", "--variants",
            str(cfg.variants), "--seed", str(cfg.seed), "--channels", "2", "--out", str(out), "--device", cfg.device,
        ])
    res.add(f"teacher logits cached once: {out} ({cfg.variants} augmented views per training image)")
    return out


def stage_student(cfg: DemoConfig, data: Path, cache: Path, res: DemoResult) -> Path:
    from distill.cli import main as distill_main

    out = cfg.out / "student"
    if not (out / "best.pt").is_file():
        _run_cli("student", distill_main, [
            "train", "--teacher", "cracksam", "--teacher-cache", str(cache), "--student", cfg.student,
            "--data", str(data), "--out", str(out), "--size", str(cfg.size), "--variants", str(cfg.variants),
            "--steps", str(cfg.student_steps), "--batch-size", str(cfg.batch_size), "--warmup-steps", "30",
            "--eval-every", str(max(1, cfg.student_steps // 3)), "--max-minutes", str(cfg.student_minutes),
            "--seed", str(cfg.seed), "--device", cfg.device,
        ])
    res.add(f"student: {cfg.student} distilled with CWD from the cache -> {out / 'best.pt'} (curves {out / 'curves.png'})")
    return out / "best.pt"


def stage_export(cfg: DemoConfig, data: Path, student_ckpt: Path, res: DemoResult) -> Path:
    from distill.cli import main as distill_main

    out = cfg.out / "bundle"
    if not (out / "metadata.yaml").is_file():
        _run_cli("export", distill_main, [
            "export", str(student_ckpt), "--out", str(out), "--parity-data", str(data),
            "--size", str(cfg.size),
        ])
    meta = yaml.safe_load((out / "metadata.yaml").read_text())
    files = ", ".join(sorted(meta["files"]))
    res.add(f"bundle: {out} ({files}; opset {meta['opset']}; validated at {meta['inference_precision']})")
    return out


def _case_iou(eval_dir: Path) -> dict[str, float]:
    from crackedge.evaluation import read_metrics

    return {k: float(v["iou"]) for k, v in read_metrics(eval_dir)["metrics"].items()}


def stage_scores(cfg: DemoConfig, data: Path, teacher_ckpt: Path, bundle: Path, res: DemoResult) -> None:
    from distill.cli import main as distill_main
    from teacher.cli import main as teacher_main

    t_out, s_out = cfg.out / "eval_teacher", cfg.out / "eval_student"
    if not (t_out / "metrics.yaml").is_file():
        _run_cli("score teacher", teacher_main, ["eval", str(teacher_ckpt), "--data", str(data), "--split", "test",
                                                 "--out", str(t_out), "--device", cfg.device])
    if not (s_out / "metrics.yaml").is_file():
        _run_cli("score student", distill_main, ["eval", str(bundle), "--data", str(data), "--split", "test",
                                                 "--noise", "clean", "--out", str(s_out)])
    t_iou = _case_iou(t_out)["clean"]
    s_iou = _case_iou(s_out)["clean"]
    res.figures.update(teacher_iou=t_iou, student_iou=s_iou)
    res.add(f"held-back test images, crack IoU (CrackSAM convention, t=0.5): teacher {t_iou:.3f}, "
            f"student bundle (OpenVINO) {s_iou:.3f}  [overlays in {t_out} and {s_out}]")


def _edge_config(cfg: DemoConfig, bundle: Path, url: str, out: Path) -> Path:
    conf = {
        "source": {"kind": "http_mjpeg", "url": url, "read_timeout_s": 5.0},
        "model": {"bundle": str(bundle.resolve()), "device": "CPU"},
        "save": {"out_dir": str(out.resolve()), "min_crack_ratio": 0.002, "every_nth": 0, "save_raw": False},
        "disk": {"min_free_mb": 200.0, "policy": "stop"},
        "preview": {"enabled": True, "host": "127.0.0.1", "port": 0},
    }
    path = cfg.out / "edge.yaml"
    path.write_text(yaml.safe_dump(conf, sort_keys=False))
    return path


def _metrics_url(log_path: Path, timeout: float) -> str | None:
    """The preview port is chosen by the daemon (port 0): read it from its log."""
    import re

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"http://127\.0\.0\.1:(\d+)", log_path.read_text(errors="replace")) if log_path.exists() else None
        if m:
            return f"http://127.0.0.1:{m.group(1)}/metrics.json"
        time.sleep(0.5)
    return None


def _poll_frames(url: str, want: int, timeout: float) -> dict[str, Any]:
    from tqdm import tqdm

    last: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    with tqdm(total=want, desc="edge frames", unit="frame") as bar:
        while time.monotonic() < deadline:
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


def stage_edge(cfg: DemoConfig, ds: CrackDataset, bundle: Path, res: DemoResult) -> Path:
    """Run `edge run` as its own process on a simulated camera, then stop it with SIGTERM."""
    from edge.simcam import SimCamera, folder_frames, synthetic_frames

    out = cfg.out / "edge"
    if cfg.data is not None:
        frames = folder_frames(ds.image_path(ds.names("test")[0]).parent, cfg.frame_size, limit=cfg.edge_frames)
    else:
        frames = synthetic_frames(cfg.frame_size, n=min(cfg.edge_frames, 24), seed=cfg.seed + 1000)
    log_path = cfg.out / "edge.log"
    with SimCamera(frames, fps=cfg.edge_fps) as cam:
        conf = _edge_config(cfg, bundle, cam.url, out)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(log_path, "w") as log_fh:
            proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(conf)], stdout=log_fh,
                                    stderr=subprocess.STDOUT, env=env)
            try:
                url = _metrics_url(log_path, timeout=120)
                metrics = _poll_frames(url, cfg.edge_frames, timeout=60 + 3 * cfg.edge_frames / cfg.edge_fps) if url else {}
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = proc.wait()
    if rc != 0:
        raise StageError(f"stage 'edge' exited with status {rc}; see {log_path}")
    runs = sorted((out / "runs").iterdir()) if (out / "runs").is_dir() else []
    if not runs:
        raise StageError(f"the edge daemon wrote no run folder under {out}; see {log_path}")
    run = runs[-1]
    jpgs = sorted(p for p in run.glob("*.jpg") if not p.stem.endswith("_raw"))
    sidecars = sorted(run.glob("[0-9]*.json"))
    fps = metrics.get("stages", {}).get("postprocess", {}).get("fps")
    res.figures.update(edge_frames=int(metrics.get("stages", {}).get("postprocess", {}).get("count", 0)),
                       edge_saved=len(jpgs), edge_fps=fps, edge_rss_mb=metrics.get("rss_mb"))
    res.add(f"edge: {res.figures['edge_frames']} frames from the simulated camera, {len(jpgs)} annotated frames + "
            f"{len(sidecars)} sidecars saved in {run}; pipeline {fps or 0:.1f} FPS at a {cfg.edge_fps:g} FPS camera, "
            f"daemon RSS {metrics.get('rss_mb') or 0:.0f} MB (log {log_path})")
    if jpgs:
        tiles = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in jpgs[:12]]
        sheet = cfg.out / "annotated_frames.jpg"
        cv2.imwrite(str(sheet), cv2.cvtColor(contact_sheet(tiles, cols=4), cv2.COLOR_RGB2BGR))
        res.add(f"contact sheet of annotated frames: {sheet}")
    return run


def stage_data_sheet(ds: CrackDataset, cfg: DemoConfig, res: DemoResult) -> None:
    names = ds.names("train")[:8]
    tiles = [annotate(*ds.read(n), caption=[n]) for n in names]
    path = cfg.out / "data_examples.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(contact_sheet(tiles, cols=4), cv2.COLOR_RGB2BGR))
    res.add(f"training examples with ground truth: {path}")


def run_demo(cfg: DemoConfig) -> DemoResult:
    cfg.out.mkdir(parents=True, exist_ok=True)
    res = DemoResult()
    t0 = time.monotonic()
    ds = stage_data(cfg, res)
    stage_data_sheet(ds, cfg, res)
    teacher_ckpt = stage_teacher(cfg, ds.root, res)
    cache = stage_cache(cfg, ds.root, teacher_ckpt, res)
    student_ckpt = stage_student(cfg, ds.root, cache, res)
    bundle = stage_export(cfg, ds.root, student_ckpt, res)
    stage_scores(cfg, ds.root, teacher_ckpt, bundle, res)
    stage_edge(cfg, ds, bundle, res)
    res.figures["minutes"] = (time.monotonic() - t0) / 60
    res.add(f"done in {res.figures['minutes']:.1f} min; everything is in {cfg.out}")
    (cfg.out / "summary.md").write_text("# crackedge demo\n\n" + "\n".join(f"- {ln}" for ln in res.lines) + "\n")
    return res
