"""What the report's renderers share: the command, section titles, how to measure a missing section,
the goals, and small readers of result dicts."""

from __future__ import annotations

from typing import Any, Optional

CMD = "crackedge bench-report"
PIPELINE_GOAL = 0.95  # issue 16
MEMORY_GOAL_MB = 300.0  # the running daemon with the HRNet-W18 IR (FP16 and INT8), issue 16
MEMORY_GOAL_STUDENT = "hrnet_w18"
CACHE_GOAL = 1.2
SERVE_GOAL = 0.8  # served throughput >= this x benchmark_app throughput, at the most clients (section 7)
SOAK_COMMAND = "edge soak BUNDLE --out DIR --duration 1800 --json benchmarks/results/edge_soak.json"
SERVE_COMMAND = "python -m workflows.serve.bench BUNDLE... --seconds 20"
SECTION_TITLES = {
    "inference": "1. Inference: students",
    "teachers": "1b. Inference: teachers, for scale",
    "edge": "2. Edge pipeline efficiency",
    "distill": "3. Distillation cost per training step",
    "accuracy": "4. Accuracy under a fixed CPU budget",
    "soak": "6. Edge soak: 30 minutes against a hostile camera and a filling disk",
    "serve": "7. Serving: bundles under Triton, 1-16 simulated vehicles, beside benchmark_app",
}
HOW_TO_MEASURE = {
    "inference": f"{CMD} --only inference",
    "teachers": f"{CMD} --only teachers",
    "edge": f"{CMD} --only inference,edge",
    "distill": (f"distill bench-steps --data DATA --teacher-checkpoint TEACHER.pt --json benchmarks/bench_steps.json "
                f"&& {CMD} --only distill --bench-steps benchmarks/bench_steps.json"),
    "accuracy": (f"distill compare --data DATA --teacher-checkpoint TEACHER.pt --steps N --seeds 0 1 2 --out runs/compare "
                 f"&& {CMD} --only accuracy --compare runs/compare"),
    "soak": f"{SOAK_COMMAND} && {CMD} --only soak",
    "serve": (f"{SERVE_COMMAND} --wire-bundle TRAINED_BUNDLE --wire-images IMAGES --json benchmarks/results/serve.json "
              f"&& {CMD} --only serve"),
}


def ms(timing: Optional[dict[str, Any]], key: str = "median_ms") -> Optional[float]:
    return None if not timing else timing.get(key)


def daemon_rss(bench: dict[str, Any]) -> Optional[float]:
    daemon = bench.get("daemon") or {}
    return None if "error" in daemon else daemon.get("rss_peak_mb")

