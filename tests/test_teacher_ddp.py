"""`torchrun --nproc_per_node 2 -m teacher train` for real on CPU (gloo): both processes finish, only rank 0
evaluates and writes best.pt, and the two processes end with bit-identical weights (each prints a SHA-256 of
its parameters, compared here and against rank 0's saved weights)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("segment_anything")

from crackedge.synth import write_synthetic_dataset  # noqa: E402
from teacher.testing import save_sam_checkpoint  # noqa: E402
from teacher.train import parameter_digest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
STEPS = 3


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    write_synthetic_dataset(root / "data", 8, 2, 0, (64, 64), seed=4, progress=False)
    save_sam_checkpoint(root / "sam_tiny.pth", "tiny", seed=0)
    return root


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "teacher", "train", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


# CrackSAM with a frozen encoder on SAM weights (unused IoU head / point embeddings: DDP's static graph),
# and PARNet (BatchNorm buffers, deep-supervision outputs)
MODELS = {
    "cracksam": ["--backbone", "tiny", "--delta", "adapter", "--sam-checkpoint", "{root}/sam_tiny.pth"],
    "parnet": ["--model", "parnet", "--preset", "small"],
}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_two_process_training_keeps_identical_weights(workspace, model):
    from teacher.api import load_teacher

    out = workspace / f"run_{model}"
    args = [a.format(root=workspace) for a in MODELS[model]] + [
        "--data", str(workspace / "data"), "--out", str(out), "--size", "64", "--steps", str(STEPS),
        "--eval-every", "100", "--batch-size", "2", "--warmup-steps", "1", "--lr", "1e-2", "--device", "cpu"]
    proc = _torchrun(args, workspace)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    digests = dict(re.findall(r"rank (\d) of 2: parameter sha256 ([0-9a-f]{64})", log))
    assert set(digests) == {"0", "1"}, log[-3000:]
    assert digests["0"] == digests["1"]
    assert "all 2 processes hold identical weights" in log
    # only rank 0 evaluated (once, at the end) and wrote best.pt
    assert len(re.findall(r"step \d+: val IoU", log)) == 1
    assert log.count("best validation IoU") == 1
    assert (out / "best.pt").is_file() and not list(out.glob(".*.tmp"))
    state = torch.load(out / "last.pt", weights_only=False)
    assert state["step"] == STEPS
    # the digest is of the trained weights: rank 0's saved full model has it (delta: its trainable part)
    teacher = load_teacher(out / "best.pt", sam_checkpoint=workspace / "sam_tiny.pth" if model == "cracksam" else None)
    assert parameter_digest(teacher) == digests["0"]
    perturbed = load_teacher(out / "best.pt", sam_checkpoint=workspace / "sam_tiny.pth" if model == "cracksam" else None)
    with torch.no_grad():
        next(p for p in perturbed.parameters() if p.requires_grad).add_(1.0)
    assert parameter_digest(perturbed) != digests["0"]


def test_time_budget_stops_every_rank_at_the_same_step(workspace):
    """--max-minutes under torchrun: rank 0's clock decides for all, so no rank waits in a collective."""
    out = workspace / "run_budget"
    args = [a.format(root=workspace) for a in MODELS["cracksam"]] + [
        "--data", str(workspace / "data"), "--out", str(out), "--size", "64", "--steps", "50",
        "--eval-every", "100", "--batch-size", "2", "--warmup-steps", "1", "--max-minutes", "0", "--device", "cpu"]
    proc = _torchrun(args, workspace)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    digests = dict(re.findall(r"rank (\d) of 2: parameter sha256 ([0-9a-f]{64})", log))
    assert set(digests) == {"0", "1"} and digests["0"] == digests["1"], log[-3000:]
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 1
