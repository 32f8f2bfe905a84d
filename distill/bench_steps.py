"""`distill bench-steps`: what one training step costs with each source of the teacher signal.

Three modes on the same student, data, batches and optimiser settings:

- `student-only`: hard loss (0.2 CE + 0.8 Dice) only, `--teacher none`;
- `cwd-cache`: + CWD against logits read from a `teacher cache-logits` cache (memmap);
- `cwd-online`: + CWD against the teacher run on every batch (no gradient).

A step is what `crackedge.training.loop.train_one_step` does (forward, loss, backward, AdamW,
schedule), plus the time to fetch the batch from the data loader, reported separately. The modes
are interleaved step by step (A, B, C, A, B, C, ...) so that a machine whose load changes during
the benchmark slows every mode alike. No evaluation is timed. The goal for the cache is at most
1.2x the student-only step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from crackedge.errors import ConfigError

log = logging.getLogger(__name__)

#: the cached-teacher step may cost at most this multiple of the student-only step (read by bench-report)
CACHE_GOAL = 1.2
#: the three ways a training step gets (or does not get) the teacher's logits
MODES = ("student-only", "cwd-cache", "cwd-online")


@dataclass
class BenchOptions:
    data: Path
    out: Path  # a cache made here goes to OUT/teacher_cache
    teacher_checkpoint: Optional[Path] = None
    sam_checkpoint: Optional[Path] = None
    teacher_cache: Optional[Path] = None
    student: str = "hrnet_w18"
    size: int = 448
    batch_size: int = 8
    steps: int = 10
    warmup: int = 2
    seed: int = 0
    threads: Optional[int] = None
    device: str = "cpu"
    progress: bool = True


@dataclass
class ModeTiming:
    """Seconds per step of one mode: `step` = train_one_step, `data` = fetching the batch,
    `teacher` = the part of the step spent getting the teacher's logits (cache read or forward)."""

    mode: str
    step: list[float] = field(default_factory=list)
    data: list[float] = field(default_factory=list)
    teacher: list[float] = field(default_factory=list)

    def stats(self) -> dict[str, float]:
        total = [s + d for s, d in zip(self.step, self.data)]
        return {
            "step_median_s": float(np.median(self.step)),
            "step_p90_s": float(np.percentile(self.step, 90)),
            "data_median_s": float(np.median(self.data)),
            "teacher_median_s": float(np.median(self.teacher)) if self.teacher else 0.0,
            "total_median_s": float(np.median(total)),
        }


class TimedTeacher:
    """Wraps a teacher source and accumulates the seconds spent in `logits`."""

    def __init__(self, source: Any):
        self.source, self.name, self.seconds = source, source.name, 0.0

    def logits(self, batch: dict, images: Any) -> Any:
        t0 = time.perf_counter()
        out = self.source.logits(batch, images)
        self.seconds += time.perf_counter() - t0
        return out


def _check(opts: BenchOptions) -> None:
    if opts.teacher_checkpoint is None and opts.teacher_cache is None:
        raise ConfigError("bench-steps needs --teacher-checkpoint PATH (online teacher; the cache is made from it) "
                          "and/or --teacher-cache DIR")
    if opts.steps < 1 or opts.warmup < 0:
        raise ConfigError(f"--steps must be >= 1 and --warmup >= 0 (got {opts.steps}, {opts.warmup})")
    if opts.size % 32:
        raise ConfigError(f"--size {opts.size} must be a multiple of 32")


def _config(opts: BenchOptions, mode: str, teacher_name: str, cache: Optional[Path], variants: int):
    from distill.logit_cache_setup import teacher_kind
    from distill.train_config import DistillTrainConfig

    teacher: dict[str, Any] = {"kind": "none"}
    if mode == "cwd-cache":
        teacher = {"kind": teacher_kind(teacher_name), "cache": str(cache)}
    elif mode == "cwd-online":
        teacher = {"kind": teacher_kind(teacher_name), "checkpoint": str(opts.teacher_checkpoint),
                   "sam_checkpoint": str(opts.sam_checkpoint) if opts.sam_checkpoint else None, "amp": False}
    return DistillTrainConfig.model_validate({
        "student": {"name": opts.student, "size": opts.size},
        "teacher": teacher,
        "data": {"root": str(opts.data), "seed": opts.seed, "variants": variants, "augment": True},
        "optim": {"steps": opts.steps + opts.warmup, "batch_size": opts.batch_size, "warmup_steps": 0},
        "device": opts.device,
    })


def _teacher_signal(opts: BenchOptions) -> tuple[str, Optional[Path], int]:
    """(teacher name, cache folder or None, augmentation views) — a cache is made from the checkpoint if needed."""
    from crackedge.data.logit_cache import LogitCache
    from distill.logit_cache_setup import ensure_logit_cache, load_checked_teacher

    if opts.teacher_cache is not None:
        meta = LogitCache.open(opts.teacher_cache).meta
        return str(meta["teacher"]), Path(opts.teacher_cache), int(meta["variants"])
    model, name = load_checked_teacher(opts.teacher_checkpoint, opts.sam_checkpoint, opts.size, opts.device)
    cache = ensure_logit_cache(model, opts.teacher_checkpoint, opts.data, opts.size, opts.seed, 1,
                               Path(opts.out) / "teacher_cache", opts.device, progress=opts.progress)
    return name, cache, 1


class _Mode:
    """One mode's task, optimiser and batch iterator (the same batches as every other mode)."""

    def __init__(self, opts: BenchOptions, mode: str, cfg: Any):
        import torch
        from torch.utils.data import DataLoader

        from crackedge.training.loop import LoopConfig
        from crackedge.training.runtime import grad_scaler, pick_device
        from crackedge.training.schedule import warmup_poly
        from distill.students import build_student
        from distill.train import StudentTask, make_datasets, make_teacher_source

        device = pick_device(cfg.device)
        torch.manual_seed(opts.seed)  # identical initial weights in every mode
        model = build_student(cfg.student.name)
        size = (opts.size, opts.size)
        train_set, _ = make_datasets(cfg, size, cfg.data.variants)
        self.teacher = TimedTeacher(make_teacher_source(cfg, device, size, train_set))
        self.task = StudentTask(model, self.teacher, device, cfg, train_set)
        self.optimizer = torch.optim.AdamW(self.task.trainable_parameters(), lr=cfg.optim.lr)
        self.scheduler = warmup_poly(self.optimizer, cfg.optim.steps, 0, cfg.optim.power)
        self.scaler = grad_scaler(device, False)
        self.loop_cfg = LoopConfig(out_dir=Path(opts.out), max_steps=cfg.optim.steps, amp=False)
        generator = torch.Generator().manual_seed(opts.seed)
        loader = DataLoader(train_set, batch_size=opts.batch_size, shuffle=True, drop_last=True, generator=generator)
        self.batches = _endless(loader)
        self.timing = ModeTiming(mode)
        self.task.train(True)

    def step(self, record: bool) -> None:
        from crackedge.training.loop import train_one_step

        t0 = time.perf_counter()
        batch = next(self.batches)
        t1 = time.perf_counter()
        self.teacher.seconds = 0.0
        train_one_step(self.task, batch, self.optimizer, self.scheduler, self.scaler, self.loop_cfg)
        t2 = time.perf_counter()
        if record:
            self.timing.data.append(t1 - t0)
            self.timing.step.append(t2 - t1)
            if self.teacher.name is not None:
                self.timing.teacher.append(self.teacher.seconds)


def _endless(loader: Any):
    while True:
        yield from loader


def bench_steps(opts: BenchOptions) -> list[ModeTiming]:
    """Time `opts.steps` training steps (after `opts.warmup`) of each mode, interleaved."""
    import torch
    from tqdm import tqdm

    _check(opts)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    name, cache, variants = _teacher_signal(opts)
    modes = [m for m in MODES if m != "cwd-online" or opts.teacher_checkpoint is not None]
    if "cwd-online" not in modes:
        log.warning("no --teacher-checkpoint: the online-teacher mode is not measured")
    runners = [_Mode(opts, m, _config(opts, m, name, cache, variants)) for m in modes]
    total = (opts.warmup + opts.steps) * len(runners)
    with tqdm(total=total, desc="bench-steps", unit="step", disable=not opts.progress) as bar:
        for i in range(opts.warmup + opts.steps):
            for runner in runners:
                runner.step(record=i >= opts.warmup)
                bar.update()
    return [r.timing for r in runners]


def format_table(timings: list[ModeTiming], opts: BenchOptions) -> str:
    """The per-step table and the cache / student-only ratio (the goal is <= 1.2)."""
    stats = {t.mode: t.stats() for t in timings}
    base = stats["student-only"]
    lines = [
        f"{opts.student} at {opts.size}x{opts.size}, batch {opts.batch_size}, {opts.steps} timed steps after "
        f"{opts.warmup} warm-up, modes interleaved; seconds per step",
        f"{'mode':<14} {'step med':>9} {'step p90':>9} {'teacher':>8} {'data':>7} {'total':>7} {'x student-only':>15}",
    ]
    for mode, s in stats.items():
        ratio = s["step_median_s"] / base["step_median_s"]
        lines.append(f"{mode:<14} {s['step_median_s']:>9.3f} {s['step_p90_s']:>9.3f} {s['teacher_median_s']:>8.3f} "
                     f"{s['data_median_s']:>7.3f} {s['total_median_s']:>7.3f} {ratio:>14.2f}x")
    if "cwd-cache" in stats:
        ratio = stats["cwd-cache"]["step_median_s"] / base["step_median_s"]
        verdict = "meets" if ratio <= CACHE_GOAL else "MISSES"
        lines.append(f"cache / student-only step time: {ratio:.2f}x ({verdict} the goal <= {CACHE_GOAL}x)")
    return "\n".join(lines)


def timings_json(timings: list[ModeTiming], opts: BenchOptions) -> dict[str, Any]:
    """What `distill bench-steps --json` writes and `crackedge bench-report --bench-steps` reads:
    the run's settings, the machine, and per mode the step statistics (seconds)."""
    from crackedge.machine import machine_info

    return {
        "student": opts.student, "size": opts.size, "batch_size": opts.batch_size, "steps": opts.steps,
        "warmup": opts.warmup, "device": opts.device, "threads": opts.threads,
        "teacher": str(opts.teacher_cache or opts.teacher_checkpoint),
        "machine": machine_info(),
        "modes": {t.mode: t.stats() for t in timings},
    }
