"""Load a published SAM checkpoint (1024x1024, 4 mask tokens) into a CrackSAM-shaped `Sam`.

`adapt_sam_state_dict` is the ONE place where keys are resized, sliced, re-initialised or
dropped; every such key is logged by name and recorded in the returned `LoadReport`. Anything
else that does not fit (unexpected key, missing key, another shape mismatch, a checkpoint of a
different backbone) is a `SamCheckpointError` naming the keys and the likely cause.

Surgery, for a checkpoint trained at 1024 (64x64 grid) loaded at 448 (28x28 grid):
- `image_encoder.pos_embed` 1x64x64xC -> 1x28x28xC: bilinear, align_corners=False (as SAMed and
  CrackSAM). Bilinear at this ratio only ever blends the two nearest source rows/columns, so a
  constant or linear field stays exactly constant or linear (bicubic would bend it at the borders).
- `image_encoder.blocks.<global>.attn.rel_pos_{h,w}` (2*64-1)xD -> (2*28-1)xD: 1-D linear,
  align_corners=False, exactly what upstream `get_rel_pos` computes on the fly when the table and
  the grid disagree, so the resized table gives the same attention as the original one.
  Windowed blocks (14x14 windows, tables 27xD) keep theirs.
- decoder heads (SAM: 4 mask tokens; CrackSAM: 2 = background, crack): `mask_decoder.mask_tokens`,
  `output_hypernetworks_mlps.*`, `iou_prediction_head.*` are either re-initialised
  (`decoder_heads="reinit"`, CrackSAM/SAMed: the model's fresh init is kept) or sliced
  (`"slice"`: tokens 0 and 1, hypernetwork MLPs 0 and 1, the first 2 rows of the IoU head's last
  layer; MLPs 2 and 3 are dropped).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Tuple

from crackedge.errors import CrackedgeError
from teacher.models.sam_config import MASK_TOKENS, PATCH_SIZE, SAM_ARCHS, WINDOW_SIZE, SamArch

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from segment_anything.modeling import Sam

log = logging.getLogger(__name__)

SAM_FILES = {
    "vit_b": "sam_vit_b_01ec64.pth",
    "vit_l": "sam_vit_l_0b3195.pth",
    "vit_h": "sam_vit_h_4b8939.pth",
}
_HEAD_PREFIXES = (
    "mask_decoder.mask_tokens.",
    "mask_decoder.output_hypernetworks_mlps.",
    "mask_decoder.iou_prediction_head.",
)
_REL_POS = re.compile(r"^image_encoder\.blocks\.(\d+)\.attn\.rel_pos_[hw]$")
_BLOCK = re.compile(r"^image_encoder\.blocks\.(\d+)\.")
_HYPER = re.compile(r"^mask_decoder\.output_hypernetworks_mlps\.(\d+)\.")


class SamCheckpointError(CrackedgeError):
    """A SAM checkpoint is missing, unreadable or does not fit the requested model."""


@dataclass(frozen=True)
class KeyChange:
    """One state-dict key that was not copied as is."""

    name: str
    action: str  # "resized" | "sliced" | "reinitialised" | "dropped"
    from_shape: Tuple[int, ...]
    to_shape: Optional[Tuple[int, ...]]
    how: str

    def format(self) -> str:
        to = "-" if self.to_shape is None else "x".join(map(str, self.to_shape))
        return f"{self.action:13s} {self.name}: {'x'.join(map(str, self.from_shape))} -> {to} ({self.how})"


@dataclass
class LoadReport:
    """What `adapt_sam_state_dict` did: the backbone it recognised and every key it changed."""

    source: str
    backbone: str
    sha256: Optional[str] = None
    changes: List[KeyChange] = field(default_factory=list)

    def file_sha256(self) -> str:
        """SHA-256 of the source file, computed once (a delta checkpoint records it)."""
        if self.sha256 is None:
            from crackedge.fileio import sha256_file

            self.sha256 = sha256_file(Path(self.source))
        return self.sha256

    def names(self, action: Optional[str] = None) -> List[str]:
        return [c.name for c in self.changes if action is None or c.action == action]

    def format(self) -> str:
        lines = [f"SAM checkpoint {self.source} ({self.backbone}): {len(self.changes)} key(s) not copied as is"]
        lines += ["  " + c.format() for c in self.changes]
        return "\n".join(lines)


def _shape(t: "torch.Tensor") -> Tuple[int, ...]:
    return tuple(int(s) for s in t.shape)


def _few(keys: List[str], n: int = 8) -> str:
    more = f" ... and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def detect_backbone(state: Mapping[str, "torch.Tensor"], source: str = "<state dict>") -> str:
    """Name of the SAM_ARCHS entry whose embed dim and depth match a SAM state dict."""
    key = "image_encoder.patch_embed.proj.weight"
    if key not in state:
        prefixes = sorted({k.split(".")[0] for k in state})
        hint = ""
        if any(k.startswith(("module.", "sam.")) for k in state):
            hint = " The keys carry a 'module.'/'sam.' prefix: this looks like a wrapped training checkpoint."
        raise SamCheckpointError(
            f"{source}: not a SAM state dict (no key '{key}'; top-level key prefixes: {_few(prefixes)}).{hint} "
            f"Pass an original SAM checkpoint such as {SAM_FILES['vit_h']}."
        )
    embed_dim = int(state[key].shape[0])
    depth = len({int(m.group(1)) for k in state if (m := _BLOCK.match(k))})
    for name, arch in SAM_ARCHS.items():
        if arch.embed_dim == embed_dim and arch.depth == depth:
            return name
    raise SamCheckpointError(
        f"{source}: image encoder with embed dim {embed_dim} and {depth} blocks matches no known backbone "
        f"({', '.join(f'{n}: {a.embed_dim}/{a.depth}' for n, a in SAM_ARCHS.items())})"
    )


def _check_backbone(state: Mapping[str, "torch.Tensor"], arch: SamArch, source: str) -> str:
    found = detect_backbone(state, source)
    if found != arch.name:
        other = SAM_ARCHS[found]
        raise SamCheckpointError(
            f"{source}: this looks like a {found} checkpoint (embed dim {other.embed_dim}, {other.depth} blocks), "
            f"but backbone {arch.name} was requested (embed dim {arch.embed_dim}, {arch.depth} blocks); "
            f"pass --backbone {found}"
        )
    windowed_len = 2 * WINDOW_SIZE - 1
    global_in_file = sorted(
        {int(m.group(1)) for k, v in state.items() if (m := _REL_POS.match(k)) and v.shape[0] != windowed_len}
    )
    if global_in_file != sorted(arch.global_attn_indexes):
        raise SamCheckpointError(
            f"{source}: global-attention blocks in the checkpoint are {global_in_file} (relative-position tables "
            f"longer than {windowed_len}), backbone {arch.name} expects {list(arch.global_attn_indexes)}"
        )
    return found


def _resize_pos_embed(t: "torch.Tensor", grid: int) -> "torch.Tensor":
    """1 x g0 x g0 x C -> 1 x grid x grid x C, bilinear, align_corners=False."""
    import torch.nn.functional as F

    x = t.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(grid, grid), mode="bilinear", align_corners=False, antialias=False)
    return x.permute(0, 2, 3, 1).contiguous().to(t.dtype)


def _resize_rel_pos(t: "torch.Tensor", length: int) -> "torch.Tensor":
    """L0 x D -> length x D, 1-D linear along L, align_corners=False (as upstream get_rel_pos)."""
    import torch.nn.functional as F

    x = t.float().t().unsqueeze(0)  # 1 x D x L0
    x = F.interpolate(x, size=length, mode="linear", align_corners=False)
    return x[0].t().contiguous().to(t.dtype)


def _head_change(
    name: str, src: "torch.Tensor", tgt_shape: Optional[Tuple[int, ...]], policy: str
) -> Tuple[Optional["torch.Tensor"], KeyChange]:
    """Decide what happens to one decoder-head key when the token counts differ."""
    if tgt_shape is None:
        return None, KeyChange(name, "dropped", _shape(src), None, f"no such head in a {MASK_TOKENS}-token decoder")
    if policy == "reinit":
        return None, KeyChange(name, "reinitialised", _shape(src), tgt_shape, "decoder_heads=reinit: fresh init kept")
    if _shape(src) == tgt_shape:
        return src, KeyChange(name, "sliced", _shape(src), tgt_shape, f"head {name} kept (one of the first {MASK_TOKENS})")
    if src.dim() >= 1 and _shape(src)[1:] == tgt_shape[1:] and src.shape[0] > tgt_shape[0]:
        return src[: tgt_shape[0]].clone(), KeyChange(name, "sliced", _shape(src), tgt_shape, f"first {tgt_shape[0]} rows")
    raise SamCheckpointError(f"decoder head {name}: cannot slice {_shape(src)} to {tgt_shape}")


def adapt_sam_state_dict(
    state: Mapping[str, "torch.Tensor"],
    target: Mapping[str, "torch.Tensor"],
    arch: SamArch,
    img_size: int,
    decoder_heads: str = "reinit",
    source: str = "<state dict>",
) -> Tuple[Dict[str, "torch.Tensor"], LoadReport]:
    """Turn a SAM state dict into one that loads strictly into `target` (a plain `Sam` state dict).

    Returns (new_state, report). Keys left out of `new_state` are exactly the re-initialised
    ones (load with `strict=False` and check that only those are missing, as `load_sam_weights`
    does). Raises SamCheckpointError for any mismatch that is not one of the documented changes.
    """
    report = LoadReport(source=source, backbone=_check_backbone(state, arch, source))
    grid = img_size // PATCH_SIZE
    src_tokens = int(state["mask_decoder.mask_tokens.weight"].shape[0]) if "mask_decoder.mask_tokens.weight" in state else None
    heads_differ = src_tokens is not None and src_tokens != MASK_TOKENS
    new_state: Dict[str, "torch.Tensor"] = {}
    unexpected: List[str] = []
    bad_shapes: List[str] = []

    for name, src in state.items():
        tgt = target.get(name)
        tgt_shape = None if tgt is None else _shape(tgt)
        if heads_differ and name.startswith(_HEAD_PREFIXES):
            value, change = _head_change(name, src, tgt_shape, decoder_heads)
            report.changes.append(change)
            if value is not None:
                new_state[name] = value
            continue
        if tgt is None:
            unexpected.append(name)
            continue
        if _shape(src) == tgt_shape:
            new_state[name] = src
            continue
        rel = _REL_POS.match(name)
        if name == "image_encoder.pos_embed" and src.dim() == 4 and src.shape[1] == src.shape[2]:
            new_state[name] = _resize_pos_embed(src, grid)
            how = "bilinear, align_corners=False"
        elif rel and int(rel.group(1)) in arch.global_attn_indexes and src.shape[1] == tgt_shape[1]:
            new_state[name] = _resize_rel_pos(src, tgt_shape[0])
            how = "1-D linear, align_corners=False (as upstream get_rel_pos)"
        else:
            bad_shapes.append(f"{name}: checkpoint {_shape(src)} vs model {tgt_shape}")
            continue
        report.changes.append(KeyChange(name, "resized", _shape(src), tgt_shape, how))

    missing = [k for k in target if k not in state]
    if unexpected or missing or bad_shapes:
        problems = []
        if unexpected:
            problems.append(f"unexpected keys (not in a {arch.name} CrackSAM): {_few(unexpected)}")
        if missing:
            problems.append(f"missing keys: {_few(missing)}")
        if bad_shapes:
            problems.append(f"shape mismatches: {_few(bad_shapes, 5)}")
        raise SamCheckpointError(
            f"{source} does not fit a {arch.name} CrackSAM at {img_size}x{img_size}: " + "; ".join(problems)
            + ". Likely cause: not an original SAM checkpoint of this backbone, or a modified/truncated file."
        )
    for change in report.changes:
        log.info("SAM checkpoint key %s", change.format())
    return new_state, report


def read_sam_state_dict(path: Path) -> Dict[str, "torch.Tensor"]:
    """Read a plain SAM state dict (`torch.save(sam.state_dict())`) from `path`, tensors on CPU."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise SamCheckpointError(
            f"SAM checkpoint not found: {path}. Pass the original SAM weights file with --sam-checkpoint "
            f"({', '.join(f'{k}: {v}' for k, v in SAM_FILES.items())})."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        try:  # legacy (non-zip) serialisation cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise SamCheckpointError(f"{path}: cannot read it as a torch checkpoint ({err})") from None
    except Exception as err:
        raise SamCheckpointError(f"{path}: cannot read it as a torch checkpoint ({err})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = list(state)[:8] if isinstance(state, dict) else type(state).__name__
        hint = " This is a crackedge teacher checkpoint: pass it as the teacher CHECKPOINT, not as the SAM checkpoint." if (
            isinstance(state, dict) and "kind" in state and "config" in state
        ) else ""
        raise SamCheckpointError(f"{path}: expected a plain SAM state dict of tensors, got {keys}.{hint}")
    return state


def load_sam_weights(sam: "Sam", path: Path, arch: SamArch, img_size: int, decoder_heads: str = "reinit") -> LoadReport:
    """Load a SAM checkpoint file into a freshly built plain `Sam` (before deltas); returns the report."""
    path = Path(path)
    state = read_sam_state_dict(path)
    new_state, report = adapt_sam_state_dict(state, sam.state_dict(), arch, img_size, decoder_heads, source=str(path))
    result = sam.load_state_dict(new_state, strict=False)
    left_out = set(report.names("reinitialised"))
    if set(result.missing_keys) != left_out or result.unexpected_keys:  # guarded above; a bug if it happens
        raise AssertionError(f"state dict surgery out of sync: {result}")
    return report
