"""Running a loaded teacher: batched crack probabilities and logits under optional autocast."""

from __future__ import annotations

from typing import Any, Dict, Sequence

DEFAULT_INPUT_SIZE = 448


def input_size(model: Any) -> int:
    """The square input side a teacher was built/trained for: `img_size` of its config (CrackSAM:
    `model.config`, PARNet: `model.cfg`), else the protocol's 448."""
    config = getattr(model, "config", None) or getattr(model, "cfg", None)
    return int(getattr(config, "img_size", DEFAULT_INPUT_SIZE))


def default_cache_channels(model: Any) -> int:
    """Channels `teacher cache-logits` stores by default: 1 (the crack margin z) for teachers whose
    logits are (0, z) (`margin_logits = True`, PARNet), else 2 (both logits, CrackSAM)."""
    return 1 if getattr(model, "margin_logits", False) else 2


def run_teacher(model: Any, images: Any, device: Any, amp: bool = False) -> Dict[str, Any]:
    """images: float32 N x 3 x S x S normalised (any device) -> the teacher's output dict, float32,
    computed without gradients (mixed precision on CUDA when `amp`)."""
    import torch

    from crackedge.training.runtime import autocast

    device = torch.device(device)  # also accepts "cpu" / "cuda:0"
    with torch.no_grad(), autocast(device, amp):
        out = model(images.to(device, non_blocking=True))
    return {k: v.float() for k, v in out.items() if isinstance(v, torch.Tensor)}


def crack_probability(logits: Any) -> Any:
    """N x 2 x H x W logits -> N x H x W crack probability (softmax channel 1)."""
    import torch

    return torch.softmax(logits.float(), dim=1)[:, 1]


#: the eight symmetries of the square: (k quarter-turns, horizontal flip)
DIHEDRAL = tuple((k, flip) for flip in (False, True) for k in range(4))


def _view(x: Any, k: int, flip: bool) -> Any:
    import torch

    x = torch.flip(x, dims=(-1,)) if flip else x
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


def _unview(y: Any, k: int, flip: bool) -> Any:
    import torch

    y = torch.rot90(y, -k, dims=(-2, -1)) if k else y
    return torch.flip(y, dims=(-1,)) if flip else y


def run_teacher_tta(model: Any, images: Any, device: Any, amp: bool = False, views: int = 8) -> Dict[str, Any]:
    """Test-time augmentation: the teacher's outputs averaged over the first `views` dihedral views of
    `images` (float32 N x 3 x S x S, square), each output transformed back before averaging.
    Logits are averaged (not probabilities), so the result is a logit map like a single run's."""
    if not 1 <= views <= len(DIHEDRAL):
        raise ValueError(f"TTA views must be between 1 and {len(DIHEDRAL)}, got {views}")
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"TTA needs square inputs (rotations), got {tuple(images.shape[-2:])}")
    total: Dict[str, Any] = {}
    for k, flip in DIHEDRAL[:views]:
        out = run_teacher(model, _view(images, k, flip), device, amp)
        for key, value in out.items():
            if value.ndim == 4:  # spatial maps only; vectors (e.g. IoU predictions) are left out
                total[key] = total.get(key, 0) + _unview(value, k, flip)
    return {key: value / views for key, value in total.items()}


def ensemble_name(names: Sequence[str]) -> str:
    """'parnet' for one teacher; 'ensemble-3 (parnet, parnet, cracksam-tiny-none)' for several."""
    return names[0] if len(names) == 1 else f"ensemble-{len(names)} ({', '.join(names)})"


def teacher_logits(models: Sequence[Any], images: Any, device: Any, amp: bool, tta_views: int,
                   full: bool = False) -> Any:
    """float32 logits N x C x h x w: one teacher without TTA -> its native logits (its full-resolution
    ones when `full`); else the averaged crack margin N x 1 x S x S over teachers and views.

    images: float32 N x 3 x S x S, normalised, at the largest input size of the teachers (`ensemble_size`).
    A teacher built for a smaller side s sees them resized to s x s (bilinear, antialiased), and its margin
    is resized back to S x S (bilinear) before the average: teachers of several sizes form one ensemble.
    """
    import torch.nn.functional as F

    if len(models) == 1 and tta_views == 1:
        out = run_teacher(models[0], images, device, amp)
        return out["logits"] if full else out.get("logits_low", out["logits"])
    side = tuple(images.shape[-2:])
    total = 0
    for model in models:
        s = input_size(model)
        x = images if side == (s, s) else F.interpolate(images, size=(s, s), mode="bilinear", align_corners=False,
                                                        antialias=True)
        out = run_teacher_tta(model, x, device, amp, views=tta_views) if tta_views > 1 else \
            run_teacher(model, x, device, amp)
        logits = out["logits"]
        margin = logits[:, 1:2] - logits[:, 0:1]
        if tuple(margin.shape[-2:]) != side:
            margin = F.interpolate(margin, size=side, mode="bilinear", align_corners=False)
        total = total + margin
    return total / len(models)


def ensemble_size(models: Sequence[Any]) -> int:
    """The input side an ensemble's images are prepared at: the largest of its teachers' sides."""
    return max(input_size(m) for m in models)
