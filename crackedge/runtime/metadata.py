"""The model bundle: the folder `distill export` (students) and `teacher export` (CrackSAM, PARNet)
write and `edge` / `crackedge serve` load (torch-free). One format for students and teachers:
`model: {name, kind}` says which; bundles written before teachers could be exported carry only
`student: NAME` and still load (as kind student).

    BUNDLE/
      metadata.yaml     this schema (BundleMetadata)
      model.onnx        opset 11, for OpenVINO 2022.3 (NCS2 / MYRIAD) and ONNX Runtime
      model.xml/.bin    OpenVINO IR, FP16 weights, for OpenVINO 2023+ (CPU on x86 and ARM)
      model_int8.xml/.bin   optional INT8 IR (NNCF post-training quantization)

The runtime takes every preprocessing and postprocessing constant from `metadata.yaml`, never
from constants of its own, and checks each model file against the recorded SHA-256 before use.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import Field, model_validator

from crackedge.config import StrictModel, load_config
from crackedge.errors import CrackedgeError
from crackedge.fileio import atomic_write_text, sha256_file

BUNDLE_FORMAT = "crackedge-bundle/1"
METADATA_NAME = "metadata.yaml"

# Keys of `BundleMetadata.models`: which file serves which runtime.
MODEL_ONNX = "onnx"  # opset-11 ONNX, read by OpenVINO 2022.3 / ONNX Runtime
MODEL_IR_FP16 = "ir_fp16"  # OpenVINO 2023+ IR with FP16 weights
MODEL_IR_INT8 = "ir_int8"  # optional

Precision = Literal["f32", "f16", "bf16"]


class BundleError(CrackedgeError):
    """A model bundle is missing, incomplete, corrupted or of an unknown format."""


class InputSpec(StrictModel):
    """How a frame becomes the network input: resize to (height, width), then (x - mean) / std."""

    name: str = "image"
    height: int = Field(gt=0)
    width: int = Field(gt=0)
    color_order: Literal["RGB", "BGR"] = "RGB"
    layout: Literal["NCHW"] = "NCHW"
    dtype: Literal["float32"] = "float32"
    mean: tuple[float, float, float] = Field(description="per channel, in 0-255 pixel units, in color_order")
    std: tuple[float, float, float]
    resize: Literal["linear", "area", "nearest"] = "linear"


class OutputSpec(StrictModel):
    """What the network returns: shape N x channels x (height/stride) x (width/stride)."""

    name: str = "crack"
    kind: Literal["logits", "probabilities"]
    channels: int = Field(ge=1, le=2)
    crack_channel: int = Field(ge=0, le=1, description="index of the crack channel (0 when channels == 1)")
    stride: int = Field(default=1, ge=1, description="output pixel size in input pixels")


class FileEntry(StrictModel):
    sha256: str = Field(min_length=64, max_length=64)
    bytes: int = Field(ge=0)


class ParityRecord(StrictModel):
    """One runtime checked against the torch model on real images at export time."""

    runtime: str  # e.g. "onnxruntime", "openvino:CPU:f32", "openvino-int8:CPU:f32"
    images: int
    max_abs_diff: float  # on crack probability
    mask_iou: float  # IoU between the binarised masks of torch and this runtime (1.0 = identical)
    crack_iou_vs_gt: Optional[float] = None  # when ground truth was available
    crack_pixels: Optional[int] = None  # output pixels this runtime marks as crack over all parity images
    measured: Optional[str] = None  # how: OpenVINO version, CPU, native or emulated precision (openvino:* records)


ModelKind = Literal["student", "teacher"]


class ModelIdentity(StrictModel):
    """Which network a bundle holds: a registered student (distill) or a teacher (CrackSAM, PARNet)."""

    name: str = Field(min_length=1, description="e.g. hrnet_w18, cracksam-vit_b-adapter, parnet")
    kind: ModelKind


class BundleMetadata(StrictModel):
    format: Literal["crackedge-bundle/1"] = BUNDLE_FORMAT
    created: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    crackedge_version: str = "0.1.0"
    model: Optional[ModelIdentity] = None  # filled from `student` for bundles written before it existed
    student: Optional[str] = Field(default=None, description="the student's name (student bundles; legacy key)")
    teacher: Optional[str] = Field(default=None, description="the teacher a student was distilled from")
    training_data: Optional[str] = None
    target: Literal["cpu", "ncs2"] = "cpu"
    input: InputSpec
    output: OutputSpec
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0, description="on crack probability")
    opset: int
    models: dict[str, str] = Field(description="runtime key (onnx, ir_fp16, ir_int8) -> file name")
    files: dict[str, FileEntry] = Field(default_factory=dict)
    inference_precision: Precision = Field(
        default="f32", description="CPU precision declared at export (the export CPU's choice); edge runs the fastest "
        "precision its own CPU offers whose parity record passes (crackedge.runtime.precision)"
    )
    parity: list[ParityRecord] = Field(default_factory=list)
    parity_min_mask_iou: float = Field(
        default=0.99, gt=0, le=1, description="mask IoU vs torch a precision's openvino:CPU:<p> record needs to count as validated"
    )
    validation_metrics: dict[str, float] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _identity(self) -> "BundleMetadata":
        """`model` and the legacy `student` key agree; a bundle with only `student` is a student bundle."""
        if self.model is None:
            if not self.student:
                raise ValueError("model: {name, kind} is missing (a bundle names its network)")
            self.model = ModelIdentity(name=self.student, kind="student")
        elif self.model.kind == "student":
            if self.student is None:
                self.student = self.model.name
            elif self.student != self.model.name:
                raise ValueError(f"student: {self.student} contradicts model.name: {self.model.name}")
        elif self.student is not None:
            raise ValueError(f"a {self.model.kind} bundle ({self.model.name}) has no student key (found {self.student!r})")
        return self

    @property
    def model_name(self) -> str:
        """The network's name, for students and teachers alike."""
        assert self.model is not None  # set by the validator
        return self.model.name


def hash_files(bundle_dir: Path, names: list[str]) -> dict[str, FileEntry]:
    """SHA-256 and size of each named file in `bundle_dir`."""
    out = {}
    for name in names:
        p = Path(bundle_dir) / name
        out[name] = FileEntry(sha256=sha256_file(p), bytes=p.stat().st_size)
    return out


def write_metadata(bundle_dir: Path, meta: BundleMetadata) -> Path:
    """Write `metadata.yaml` atomically and return its path."""
    path = Path(bundle_dir) / METADATA_NAME
    atomic_write_text(path, yaml.safe_dump(meta.model_dump(mode="json"), sort_keys=False))
    return path


def load_metadata(bundle_dir: Path) -> BundleMetadata:
    """Read and validate `BUNDLE/metadata.yaml`; BundleError when absent or invalid."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise BundleError(f"model bundle folder not found: {bundle_dir} (pass the folder written by `distill export`)")
    path = bundle_dir / METADATA_NAME
    if not path.is_file():
        raise BundleError(f"{bundle_dir} is not a model bundle: {METADATA_NAME} is missing (re-run `distill export`)")
    try:
        return load_config(path, BundleMetadata)
    except CrackedgeError as err:
        raise BundleError(str(err)) from None


def verify_files(bundle_dir: Path, meta: BundleMetadata, names: list[str] | None = None) -> None:
    """Check that each model file exists and matches its recorded SHA-256 (all files when names is None).

    Raises BundleError naming the file and what to do.
    """
    bundle_dir = Path(bundle_dir)
    for name in names if names is not None else list(meta.files):
        entry = meta.files.get(name)
        if entry is None:
            raise BundleError(f"{bundle_dir / METADATA_NAME}: no hash recorded for {name}; re-run `distill export`")
        p = bundle_dir / name
        if not p.is_file():
            raise BundleError(f"model bundle {bundle_dir}: file {name} is missing; copy the whole bundle folder again")
        if p.stat().st_size != entry.bytes or sha256_file(p) != entry.sha256:
            raise BundleError(
                f"model bundle {bundle_dir}: {name} does not match the SHA-256 in {METADATA_NAME} "
                f"(corrupted or replaced); copy the bundle again or re-run `distill export`"
            )
