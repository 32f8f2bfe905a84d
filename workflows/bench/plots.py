"""The report's figures (matplotlib, Agg), drawn from the cached section results only.

Every function takes a section's result dict and a PNG path and returns the path, or None when the
section holds nothing to draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def row_label(row: dict[str, Any]) -> str:
    """'OpenVINO CPU FP16 IR bf16' style label of an inference row."""
    if row["runtime"].startswith("torch"):
        return f"torch {row['model'].replace('fp32 ', '')}"
    if row["runtime"].startswith("ONNX"):
        return "ONNX Runtime"
    return f"OV {row['model']} {row.get('precision', '')}".strip()


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return path


def plot_inference(section: Optional[dict[str, Any]], path: Path) -> Optional[Path]:
    """Per student: batch-1 latency of every runtime setting (left) and OpenVINO async throughput (right)."""
    students = [s for s in (section or {}).get("students", []) if any("latency" in r for r in s.get("rows", []))]
    if not students:
        return None
    plt = _plt()
    labels = list(dict.fromkeys(row_label(r) for s in students for r in s["rows"] if "latency" in r))
    fig, (ax_l, ax_t) = plt.subplots(1, 2, figsize=(13, 1.2 + 0.9 * len(students) * max(1, len(labels)) / 4))
    height = 0.8 / len(labels)
    cmap = plt.get_cmap("tab10")
    for i, label in enumerate(labels):
        ys, lat, fps_y, fps = [], [], [], []
        for j, s in enumerate(students):
            row = next((r for r in s["rows"] if row_label(r) == label and "latency" in r), None)
            if row is None:
                continue
            y = j + i * height
            ys.append(y)
            lat.append(row["latency"]["median_ms"])
            if row.get("throughput_fps"):
                fps_y.append(y)
                fps.append(row["throughput_fps"])
        ax_l.barh(ys, lat, height=height, color=cmap(i % 10), label=label)
        if fps:
            ax_t.barh(fps_y, fps, height=height, color=cmap(i % 10), label=label)
    ticks = [j + 0.4 - height / 2 for j in range(len(students))]
    for ax in (ax_l, ax_t):
        ax.set_yticks(ticks, [s["student"] for s in students])
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    size = section["setup"]["size"]
    ax_l.set_xlabel(f"latency, batch 1, {size[0]}x{size[1]} (ms, median; log scale)")
    ax_l.set_xscale("log")
    ax_t.set_xlabel("OpenVINO async throughput (inferences/s)")
    ax_l.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def plot_scale(inference: Optional[dict[str, Any]], teachers: Optional[dict[str, Any]], path: Path) -> Optional[Path]:
    """torch eager fp32 latency against GFLOPs, students and teachers on log-log axes."""
    points = []  # (label, gflops, ms, kind)
    for s in (inference or {}).get("students", []):
        torch_rows = [r for r in s.get("rows", []) if r["runtime"] == "torch eager" and "latency" in r]
        if torch_rows and s.get("gflops"):
            points.append((s["student"], s["gflops"], min(r["latency"]["median_ms"] for r in torch_rows), "student"))
    for t in (teachers or {}).get("teachers", []):
        if "latency" in t and t.get("gflops"):
            points.append((t["title"], t["gflops"], t["latency"]["median_ms"], "teacher"))
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    for kind, color in (("student", "tab:blue"), ("teacher", "tab:red")):
        pts = [p for p in points if p[3] == kind]
        if pts:
            ax.scatter([p[1] for p in pts], [p[2] for p in pts], color=color, label=kind + "s")
            for label, x, y, _ in pts:
                ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 3), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GFLOPs per image (FlopCounterMode, 2 x MACs)")
    ax.set_ylabel("torch eager fp32 latency, batch 1 (ms)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def plot_decode(edge: Optional[dict[str, Any]], path: Path) -> Optional[Path]:
    """JPEG decode (and decode + resize) time of one camera frame for every decoder and scale."""
    entries = ((edge or {}).get("decode") or {}).get("entries") or []
    if not entries:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(entries)))
    labels = [f"{e['library']} 1/{e['scale']} ({e['output'][0]}x{e['output'][1]})" for e in entries]
    ys = list(range(len(entries)))
    ax.barh([y - 0.2 for y in ys], [e["decode"]["median_ms"] for e in entries], height=0.4, label="decode")
    ax.barh([y + 0.2 for y in ys], [e["decode_resize"]["median_ms"] for e in entries], height=0.4,
            label="decode + resize to model input")
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    w, h = edge["decode"]["frame"]
    ax.set_xlabel(f"ms per {w}x{h} JPEG frame (median)")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_distill(distill: Optional[dict[str, Any]], path: Path) -> Optional[Path]:
    """Seconds per training step of each distillation mode."""
    modes = (distill or {}).get("modes") or {}
    if not modes:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.6 * len(modes)))
    names = list(modes)
    ax.barh(names, [modes[m]["step_median"] for m in names], color="tab:purple")
    for y, m in enumerate(names):
        ratio = modes[m].get("ratio_vs_student_only")
        if ratio:
            ax.annotate(f"{ratio:.2f}x", (modes[m]["step_median"], y), textcoords="offset points", xytext=(4, -3), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per training step (median)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_accuracy(accuracy: Optional[dict[str, Any]], path: Path) -> Optional[Path]:
    """Crack IoU (CrackSAM convention) per noise case on the first evaluation set: the teacher, and the distilled
    student and the student alone as mean with sd error bars over the seeds."""
    acc = accuracy or {}
    if "summary" not in acc and acc.get("rows"):
        return _plot_accuracy_old(acc, path)
    sets, summary = acc.get("eval_sets") or [], acc.get("summary") or {}
    first = sets[0].get("name") if sets else None
    cases = [c for c in acc.get("noise") or [] if c in (summary.get(first) or {})]
    if not cases:
        return None
    teacher = (acc.get("teacher_metrics") or {}).get(first) or {}
    n = len((acc.get("budget") or {}).get("seeds") or [])
    bars = []  # (label, means, sds)
    if all(c in teacher for c in cases):
        bars.append((f"teacher {acc.get('teacher')}", [teacher[c].get("iou") or 0 for c in cases], None))
    for run, title in (("kd", "distilled"), ("alone", "alone")):
        spreads = [summary[first][c]["iou"][run] for c in cases]
        bars.append((f"{acc.get('student')} {title}", [s["mean"] for s in spreads],
                     [s["sd"] for s in spreads] if n > 1 else None))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(bars)
    for i, (label, means, sds) in enumerate(bars):
        ax.bar([k + i * width for k in range(len(cases))], means, width=width, yerr=sds, capsize=4 if sds else 0,
               label=label)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(cases))], cases)
    ax.set_ylabel("crack IoU (CrackSAM convention)")
    ax.set_title(f"evaluation set {first} ({sets[0].get('split')}): bars = mean, whiskers = sd over {n} "
                 f"seed{'s' if n != 1 else ''}", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _plot_accuracy_old(accuracy: dict[str, Any], path: Path) -> Optional[Path]:
    """The old single-seed `distill compare` result (render_accuracy_old.py): crack IoU of every compared model
    for every noise case, as drawn before the multi-seed compare."""
    rows = [r for r in accuracy.get("rows", []) if r.get("metrics")]
    if not rows:
        return None
    plt = _plt()
    cases = list(dict.fromkeys(c for r in rows for c in r["metrics"]))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        xs = [k + i * width for k, c in enumerate(cases) if c in r["metrics"]]
        ax.bar(xs, [r["metrics"][c].get("iou") or 0 for c in cases if c in r["metrics"]], width=width, label=r["model"])
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(cases))], cases)
    ax.set_ylabel("crack IoU (CrackSAM convention)")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
