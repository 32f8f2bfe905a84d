"""The demo's training-side stages, each the command a user would run, each skipped when its output exists.

    data -> teacher (PARNet) -> logit cache (+ unlabeled frames) -> student (distilled) -> bundle -> scores
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import cv2

from crackedge.data.layout import CrackDataset
from crackedge.overlay import annotate, contact_sheet
from workflows.demo.config import DemoConfig, DemoResult, StageError

log = logging.getLogger(__name__)


def run_cli(stage: str, main: Callable[[Sequence[str]], int], argv: list[str]) -> None:
    log.info("[%s] %s", stage, " ".join(argv))
    rc = main(argv)
    if rc != 0:
        raise StageError(f"stage '{stage}' failed (exit {rc}); rerun it alone with: {' '.join(argv)}")


def budget_note(stage: str, out: Path, res: DemoResult) -> None:
    """Say loudly when the --max-minutes safety net cut a training stage."""
    from crackedge.training.loop import budget_warning, read_budget

    warning = budget_warning(out)
    if warning:
        res.warn(f"{stage}: {warning}")
    b = read_budget(out)
    if b:
        res.figures[f"{stage}_steps"] = f"{b['steps']}/{b['planned_steps']}"


def stage_data(cfg: DemoConfig, res: DemoResult) -> tuple[CrackDataset, Path | None]:
    """(the labeled dataset, a folder of unlabeled frames or None)."""
    if cfg.data is not None:
        ds = CrackDataset.open(cfg.data)
        missing = [s for s in ("train", "val", "test") if s not in ds.splits]
        if missing:
            raise StageError(f"{cfg.data} has no {', '.join(missing)} split(s); the demo needs train, val and test")
        res.add(f"data: {ds.root} ({', '.join(f'{s} {len(ds.names(s))}' for s in ds.splits)})")
        return ds, None
    from crackedge.synth import write_synthetic_dataset

    out = cfg.out / "data"
    if (out / "dataset.yaml").is_file():
        ds = CrackDataset.open(out)
    else:
        ds = write_synthetic_dataset(out, cfg.n_train, cfg.n_val, cfg.n_test, (cfg.size, cfg.size), cfg.seed)
    frames = write_unlabeled_frames(cfg)
    res.add(f"data: {len(ds)} synthetic images in {out} (train {cfg.n_train}, val {cfg.n_val}, test {cfg.n_test}) "
            f"and {cfg.n_unlabeled} unlabeled frames in {frames} (images only: what a vehicle brings back)")
    return ds, frames


def write_unlabeled_frames(cfg: DemoConfig) -> Path:
    """cfg.n_unlabeled synthetic road images without masks (other seeds than the dataset's)."""
    from crackedge.fileio import write_image_atomic
    from crackedge.synth import generate_sample

    out = cfg.out / "frames"
    done = out / ".complete"
    if not done.is_file():
        for i in range(cfg.n_unlabeled):
            image, _ = generate_sample(cfg.seed * 100_000 + 50_000 + i, (cfg.size, cfg.size))
            write_image_atomic(out / f"frame{i:05d}.jpg", image)
        done.write_text("")
    return out


def stage_data_sheet(ds: CrackDataset, cfg: DemoConfig, res: DemoResult) -> None:
    names = ds.names("train")[:8]
    tiles = [annotate(*ds.read(n), caption=[n]) for n in names]
    path = cfg.out / "data_examples.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(contact_sheet(tiles, cols=4), cv2.COLOR_RGB2BGR))
    res.add(f"training examples with ground truth: {path}")


def _safety_net(cfg: DemoConfig) -> list[str]:
    return ["--max-minutes", str(cfg.max_minutes)] if cfg.max_minutes else []


def _crop(crop: int | None, size: int) -> list[str]:
    return ["--crop", str(crop)] if crop and crop < size else []


def _windows(crop: int | None, size: int) -> str:
    return f" on random {crop}x{crop} windows" if crop and crop < size else ""


def stage_teacher(cfg: DemoConfig, data: Path, res: DemoResult) -> Path:
    from teacher.cli import main as teacher_main

    out = cfg.out / "teacher"
    if not (out / "best.pt").is_file():
        run_cli("teacher", teacher_main, [
            "train", "--model", "parnet", "--preset", "small", "--data", str(data), "--out", str(out),
            "--size", str(cfg.size), "--steps", str(cfg.teacher_steps), "--batch-size", str(cfg.batch_size),
            "--lr", "1e-3", "--warmup-steps", "30", "--eval-every", str(max(1, cfg.teacher_steps // 4)),
            "--seed", str(cfg.seed), "--device", cfg.device, *_crop(cfg.teacher_crop, cfg.size), *_safety_net(cfg),
        ])
    budget_note("teacher", out, res)
    res.add(f"teacher: PARNet (small) trained from scratch, {cfg.teacher_steps} steps{_windows(cfg.teacher_crop, cfg.size)} "
            f"-> {out / 'best.pt'} "
            f"(curves {out / 'curves.png'})")
    return out / "best.pt"


def stage_cache(cfg: DemoConfig, data: Path, teacher_ckpt: Path, frames: Path | None, res: DemoResult) -> Path:
    from teacher.cli import main as teacher_main

    out = cfg.out / "teacher_cache"
    if not (out / "index.yaml").is_file():
        unlabeled = ["--unlabeled", str(frames)] if frames is not None else []
        run_cli("cache", teacher_main, [
            "cache-logits", str(teacher_ckpt), "--data", str(data), "--split", "train", "--variants",
            str(cfg.variants), "--seed", str(cfg.seed), *unlabeled, "--out", str(out), "--device", cfg.device,
        ])
    extra = " and every unlabeled frame" if frames is not None else ""
    res.add(f"teacher logits cached once: {out} ({cfg.variants} augmented views per training image{extra})")
    return out


def stage_student(cfg: DemoConfig, data: Path, cache: Path, frames: Path | None, res: DemoResult) -> Path:
    from distill.cli import main as distill_main

    out = cfg.out / "student"
    if not (out / "best.pt").is_file():
        unlabeled = ["--unlabeled", str(frames)] if frames is not None else []
        run_cli("student", distill_main, [
            "train", "--teacher-cache", str(cache), *unlabeled, "--student", cfg.student, "--data", str(data),
            "--out", str(out), "--size", str(cfg.size), "--steps", str(cfg.student_steps),
            "--batch-size", str(cfg.batch_size), "--warmup-steps", "30", "--soft-loss", cfg.soft_loss,
            "--temperature", str(cfg.temperature), "--kl-weight", str(cfg.kl_weight),
            "--unlabeled-share", str(cfg.unlabeled_share), "--soft-warmup-steps", str(cfg.soft_warmup_steps),
            "--eval-every", str(max(1, cfg.student_steps // 3)), "--seed", str(cfg.seed), "--data-seed", str(cfg.seed),
            "--device", cfg.device,
            *_crop(cfg.student_crop, cfg.size), *_safety_net(cfg),
        ])
    budget_note("student", out, res)
    res.add(f"student: {cfg.student} distilled from the cache ({cfg.soft_loss} soft loss, weight {cfg.kl_weight:g}, T {cfg.temperature:g}, "
            f"{cfg.unlabeled_share:.0%} of each batch unlabeled frames; "
            f"labeled images get the hard loss too), {cfg.student_steps} steps{_windows(cfg.student_crop, cfg.size)} -> {out / 'best.pt'}")
    return out / "best.pt"


def stage_export(cfg: DemoConfig, data: Path, student_ckpt: Path, res: DemoResult) -> Path:
    import yaml

    from distill.cli import main as distill_main

    out = cfg.out / "bundle"
    if not (out / "metadata.yaml").is_file():
        run_cli("export", distill_main, ["export", str(student_ckpt), "--out", str(out), "--parity-data", str(data),
                                         "--size", str(cfg.size)])
    meta = yaml.safe_load((out / "metadata.yaml").read_text())
    files = ", ".join(sorted(meta["files"]))
    res.add(f"bundle: {out} ({files}; opset {meta['opset']}; validated at {meta['inference_precision']}; "
            f"parity {meta['notes'].get('parity_check', '?').split(' |')[0]})")
    return out


def stage_scores(cfg: DemoConfig, data: Path, teacher_ckpt: Path, bundle: Path, res: DemoResult) -> None:
    from crackedge.evaluation import read_metrics
    from distill.cli import main as distill_main
    from teacher.cli import main as teacher_main

    t_out, s_out = cfg.out / "eval_teacher", cfg.out / "eval_student"
    if not (t_out / "metrics.yaml").is_file():
        run_cli("score teacher", teacher_main, ["eval", str(teacher_ckpt), "--data", str(data), "--split", "test",
                                                "--out", str(t_out), "--device", cfg.device])
    if not (s_out / "metrics.yaml").is_file():
        run_cli("score student", distill_main, ["eval", str(bundle), "--data", str(data), "--split", "test",
                                                "--out", str(s_out)])
    t_iou = float(read_metrics(t_out)["metrics"]["clean"]["iou"])
    s_iou = float(read_metrics(s_out)["metrics"]["clean"]["iou"])
    res.figures.update(teacher_iou=t_iou, student_iou=s_iou)
    res.add(f"held-back test images, crack IoU (CrackSAM convention, t=0.5, each image at its own size): teacher "
            f"{t_iou:.3f}, student bundle (OpenVINO) {s_iou:.3f}  [error overlays in {t_out} and {s_out}]")
