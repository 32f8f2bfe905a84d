"""`teacher export`: a CrackSAM or PARNet checkpoint -> the model bundle students are exported to.

The paper's server deployment (CrackSAM, section on deployment strategies): the full model exported
to ONNX in inference mode with constant folding, converted to an OpenVINO IR with FP16 weights and
served on a CPU. Here it becomes the same bundle `distill export` writes (crackedge.runtime.metadata,
`model: {name, kind: teacher}`), so `crackedge serve` and `edge run` run it like a student.

What is exported (`TeacherProbabilityHead`): x float32 N x 3 x S x S normalised -> crack probability
N x 1 x h x w = sigmoid(l_crack - l_background) (= softmax(logits)[:, 1]), no threshold inside:
- CrackSAM, `output="native"` (default): the mask decoder's own resolution (stride 4: S/4 x S/4,
  `logits_low`); the host upsamples to the frame anyway, and 16x less data leaves the server.
  `output="full"`: the S x S map the model's forward returns (its bilinear upsampling of the same
  logits, inside the graph).
- PARNet: its fused full-resolution logits (0, z): stride 1.

Deltas: LoRA updates are linear and are merged into the weights they modify (W + (alpha/r) B A on
the fused qkv and on attn.proj), so the graph has no LoRA branch. Adapters are non-linear
(Linear-GELU-Linear beside the MLP and after the attention) and cannot be folded into a weight;
they are exported as ordinary layers of the one merged graph. Either way the bundle holds one
self-contained set of weights: the SAM base checkpoint is not needed to run it. The merge is
checked numerically against the unmerged model before export (`notes.deltas`).

The export uses opset 17 by default: SAM's attention uses Einsum (opset 12+) and LayerNorm exports
as one op from 17 on. A teacher bundle is for a server or a CPU, never for the NCS2 (whose
OpenVINO 2022.3 reads ONNX up to about opset 16 and which could not hold it anyway).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch
from torch import nn

from crackedge.export.bundle import (
    IR_FP16_NAME,
    ONNX_NAME,
    BundleExportOptions,
    check_out_dir,
    float_parity,
    judge_parity,
    log_summary,
    parity_set,
    precision_notes,
    finish_bundle,
    staged_bundle,
)
from crackedge.export.errors import ExportError
from crackedge.fileio import sha256_file
from crackedge.runtime.metadata import (
    MODEL_IR_FP16,
    MODEL_ONNX,
    BundleMetadata,
    ModelIdentity,
    OutputSpec,
)

log = logging.getLogger(__name__)

TEACHER_OPSET = 17
OutputMode = Literal["native", "full"]


class TeacherProbabilityHead(nn.Module):
    """forward(x: N x 3 x S x S) -> N x 1 x h x w crack probability from the teacher's `key` logits."""

    def __init__(self, teacher: nn.Module, key: str = "logits") -> None:
        super().__init__()
        self.teacher = teacher
        self.key = key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.teacher(x)[self.key]
        return torch.sigmoid(logits[:, 1:2] - logits[:, 0:1])


def merge_lora(model: nn.Module) -> int:
    """Replace every LoRA-wrapped Linear of `model` by one plain Linear with the update folded in
    (W' = W + scaling * B A per targeted chunk), in place. Returns how many were merged."""
    from teacher.models.deltas import LoRALinear, LoRAQKV

    merged = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRAQKV):
                base = child.base
                weight = base.weight.detach().clone()
                for i, chunk in enumerate(child.CHUNKS):
                    if chunk in child.lora:
                        pair = child.lora[chunk]
                        rows = slice(i * child.dim, (i + 1) * child.dim)
                        weight[rows] += child.scaling * (pair.b.weight @ pair.a.weight)
                setattr(parent, name, _linear_like(base, weight))
                merged += 1
            elif isinstance(child, LoRALinear):
                weight = child.base.weight.detach() + child.scaling * (child.lora.b.weight @ child.lora.a.weight)
                setattr(parent, name, _linear_like(child.base, weight))
                merged += 1
    return merged


def _linear_like(base: nn.Linear, weight: torch.Tensor) -> nn.Linear:
    out = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None)
    with torch.no_grad():
        out.weight.copy_(weight)
        if base.bias is not None:
            out.bias.copy_(base.bias.detach())
    return out.to(weight.device, weight.dtype)


def count_adapters(model: nn.Module) -> int:
    from teacher.models.deltas import Adapter

    return sum(isinstance(m, Adapter) for m in model.modules())


def export_head(model: nn.Module, output: OutputMode = "native") -> tuple[TeacherProbabilityHead, int]:
    """The export wrapper for a loaded teacher and its output stride."""
    from teacher.models.cracksam import CrackSAM

    if isinstance(model, CrackSAM):
        if output == "native":
            return TeacherProbabilityHead(model, "logits_low").eval(), 4
        return TeacherProbabilityHead(model, "logits").eval(), 1
    if output == "native":
        log.info("%s has no reduced-resolution output; exporting its full-resolution map", type(model).__name__)
    return TeacherProbabilityHead(model, "logits").eval(), 1


@dataclass
class TeacherExportOptions(BundleExportOptions):
    """`teacher export` options (the shared ones: crackedge.export.bundle.BundleExportOptions)."""

    output: OutputMode = "native"
    opset: int = TEACHER_OPSET
    precisions: Optional[list[str]] = None  # IR precisions to measure (None: every one the CPU offers)
    sam_checkpoint: Optional[Path] = None


def merge_deltas(model: nn.Module, size: int, notes: dict[str, str]) -> None:
    """Merge LoRA into the weights, check the merged model against the original on a random input."""
    adapters = count_adapters(model)
    probe = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(probe)["logits"]
    merged = merge_lora(model)
    if not merged:
        notes["deltas"] = f"no LoRA to merge; {adapters} adapter layers exported as part of the graph"
        return
    with torch.no_grad():
        diff = float((model(probe)["logits"] - before).abs().max())
    if not diff <= 1e-3:
        raise ExportError(f"merging {merged} LoRA layers changed the logits by {diff:.2e}: the merge is wrong")
    notes["deltas"] = (f"{merged} LoRA layers merged into their weights (max logit change {diff:.1e}); "
                       f"{adapters} adapter layers exported as part of the graph")
    log.info("%s", notes["deltas"])


def export_teacher(checkpoint: Path, out_dir: Path, opts: TeacherExportOptions = TeacherExportOptions()) -> BundleMetadata:
    """Export the teacher in `checkpoint` (+ its SAM base for a delta checkpoint) to a bundle folder."""
    from crackedge.export.onnx_export import export_onnx
    from crackedge.export.openvino_ir import save_ir_fp16
    from crackedge.runtime.preprocess import default_input_spec
    from teacher.api import load_teacher, teacher_name
    from teacher.inference import input_size

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    if opts.target != "cpu":
        raise ExportError("a teacher bundle is for a CPU or a server (--target cpu); the NCS2 cannot hold a teacher")
    check_out_dir(out_dir, opts.force)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    model = load_teacher(checkpoint, opts.sam_checkpoint, "cpu")
    side = input_size(model)
    if opts.input_size is not None and tuple(opts.input_size) != (side, side):
        raise ExportError(f"{teacher_name(model)} was built for {side}x{side} input; it cannot be exported at "
                          f"{opts.input_size[0]}x{opts.input_size[1]} (drop --size or rebuild the teacher)")
    size = (side, side)
    notes: dict[str, str] = {}
    name = teacher_name(model)
    merge_deltas(model, side, notes)
    wrapper, stride = export_head(model, opts.output)
    input_spec = default_input_spec(*size)
    output_spec = OutputSpec(kind="probabilities", channels=1, crack_channel=0, stride=stride)

    with staged_bundle(out_dir, opts.force, 4, "teacher export", opts.progress) as (staging, steps):
        steps.set_postfix_str(f"ONNX opset {opts.opset}")
        onnx_path = export_onnx(wrapper, staging / ONNX_NAME, size, opts.opset)
        steps.update()
        steps.set_postfix_str("OpenVINO IR FP16")
        files = [onnx_path, *save_ir_fp16(onnx_path, staging / IR_FP16_NAME)]
        steps.update()
        steps.set_postfix_str("parity vs torch")
        ps = parity_set(wrapper, input_spec, output_spec, size, opts, notes)
        runs, records, declared = float_parity(onnx_path, staging / IR_FP16_NAME, ps, opts, opts.precisions)
        judge_parity(records, declared, opts, notes)
        steps.update()
        precision_notes(notes, [ps.reference, *runs], declared, opts)
        notes["checkpoint"] = f"{checkpoint.name} sha256 {sha256_file(checkpoint)}"
        if opts.sam_checkpoint is not None:
            notes["sam_checkpoint"] = f"{Path(opts.sam_checkpoint).name} sha256 {sha256_file(Path(opts.sam_checkpoint))}"
        notes["export"] = (f"inference mode (eval, no grad), TorchScript exporter, opset {opts.opset}, constant "
                           f"folding; output {opts.output} (stride {stride})")
        meta = BundleMetadata(
            model=ModelIdentity(name=name, kind="teacher"),
            target="cpu",
            input=input_spec,
            output=output_spec,
            threshold=opts.threshold,
            opset=opts.opset,
            models={MODEL_ONNX: ONNX_NAME, MODEL_IR_FP16: IR_FP16_NAME},
            inference_precision=declared,
            parity_min_mask_iou=opts.min_mask_iou,
            parity=records,
            notes=notes,
        )
        finish_bundle(staging, out_dir, meta, files)
        steps.update()
    log_summary(out_dir, meta)
    return meta
