"""PARNet: a dual-encoder crack segmentation network (a DeepCrack-style residual CNN and a Swin Transformer
run in parallel on the same image, aligned per scale by DFA, fused by RFF, decoded with four deeply
supervised side outputs and a learned fusion).

    x (N x 3 x H x W, normalised) -- zero-pad to a multiple of 32 (the ImageNet mean colour)
      |-> CNN stages 0..5 (strides 1..32)          [independent: nothing crosses between the branches
      |-> Swin stages 0..3 (strides 4..32)           until both have finished encoding]
    per scale s in (4, 8, 16, 32):  F_s = RFF(cnn_s, DFA(swin_s, cnn_s))
    decoder: D16 = dec(F32, F16), D8 = dec(D16, F8), D4 = dec(D8, F4), D1 = dec(dec(D4, cnn_2), cnn_1)
    side logits z_k = 1x1 conv(D_k), upsampled to H x W; fused z = 1x1 conv over the four; crop to H x W

Output (teacher protocol): {"logits": N x 2 x H x W = (0, z_fused)} and, in training mode,
"aux": four N x 2 x H x W side logits (0, z_k), ordered finest first (strides 1, 4, 8, 16).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from teacher.models.parnet_blocks import DFA, RFF, DecoderStage, SideFusion, SideHead, two_channel_logits
from teacher.models.parnet_cnn import DeepCrackEncoder
from teacher.models.parnet_config import ParnetConfig
from teacher.models.swin_encoder import SwinEncoder

PAD_MULTIPLE = 32  # Swin: patch 4 x three 2x merges; CNN: five 2x poolings
N_SIDES = 4


class ParnetDecoder(nn.Module):
    """fused: four N x C_s x H/s x W/s maps (s = 4, 8, 16, 32), cnn0: N x C x H x W, cnn1: N x C x H/2 x W/2
    -> four side logits [N x 1 x H x W, N x 1 x H/4 x W/4, N x 1 x H/8 x W/8, N x 1 x H/16 x W/16].
    """

    def __init__(self, fused_ch: tuple[int, ...], cnn0_ch: int, cnn1_ch: int, widths: tuple[int, ...]):
        super().__init__()
        f4, f8, f16, f32 = fused_ch
        w16, w8, w4, w1 = widths
        self.dec16 = DecoderStage(f32, f16, w16)
        self.dec8 = DecoderStage(w16, f8, w8)
        self.dec4 = DecoderStage(w8, f4, w4)
        self.dec2 = DecoderStage(w4, cnn1_ch, w1)
        self.dec1 = DecoderStage(w1, cnn0_ch, w1)
        self.heads = nn.ModuleList(SideHead(w) for w in (w1, w4, w8, w16))

    def forward(self, fused: list[torch.Tensor], cnn0: torch.Tensor, cnn1: torch.Tensor) -> list[torch.Tensor]:
        f4, f8, f16, f32 = fused
        d16 = self.dec16(f32, f16)
        d8 = self.dec8(d16, f8)
        d4 = self.dec4(d8, f4)
        d1 = self.dec1(self.dec2(d4, cnn1), cnn0)
        return [head(d) for head, d in zip(self.heads, (d1, d4, d8, d16))]


class PARNet(nn.Module):
    """The PARNet teacher; see the module docstring for the data flow and output format."""

    teacher_name = "parnet"
    margin_logits = True  # logits are (0, z): the crack margin z carries everything (1-channel caches)

    def __init__(self, cfg: ParnetConfig):
        super().__init__()
        self.cfg = cfg
        self.cnn = DeepCrackEncoder(cfg.cnn_widths, cfg.cnn_convs)
        self.swin = SwinEncoder(cfg.swin)
        fused_ch = self.cnn.out_channels[2:]
        self.dfa = nn.ModuleList(
            DFA(s_ch, c_ch, f_ch, cfg.se_reduction)
            for s_ch, c_ch, f_ch in zip(self.swin.out_channels, fused_ch, cfg.fusion_widths)
        )
        self.rff = nn.ModuleList(RFF(c_ch, f_ch, f_ch) for c_ch, f_ch in zip(fused_ch, cfg.fusion_widths))
        self.decoder = ParnetDecoder(fused_ch, self.cnn.out_channels[0], self.cnn.out_channels[1], cfg.decoder_widths)
        self.fuse = SideFusion(N_SIDES)

    @property
    def config(self) -> ParnetConfig:
        """The same as `cfg` (CrackSAM's name for it; code that reads `model.config.img_size` works on both)."""
        return self.cfg

    def config_for_checkpoint(self) -> ParnetConfig:
        """The config a teacher checkpoint stores: `swin.checkpoint` set to null. A PARNet checkpoint is
        full (it holds the trained Swin weights), so rebuilding it on another machine must not look for
        the file the Swin was initialised from."""
        return self.cfg.model_copy(update={"swin": self.cfg.swin.model_copy(update={"checkpoint": None})})

    def encode(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Run both encoders on the same padded input, independently.

        x: N x 3 x Hp x Wp (multiples of 32) -> (six CNN maps at strides 1..32, four Swin maps at 4..32).
        """
        return self.cnn(x), self.swin(x)

    def fuse_scales(self, cnn: list[torch.Tensor], swin: list[torch.Tensor]) -> list[torch.Tensor]:
        """DFA + RFF per scale: four maps N x cnn_widths[i] x Hp/s x Wp/s for s = 4, 8, 16, 32."""
        return [rff(c, dfa(s, c)) for dfa, rff, c, s in zip(self.dfa, self.rff, cnn[2:], swin)]

    def forward(self, x: torch.Tensor) -> dict[str, object]:
        """x: N x 3 x H x W normalised -> {"logits": N x 2 x H x W, "aux" (training only): 4 x N x 2 x H x W}."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"PARNet expects an N x 3 x H x W image batch, got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        pad_h = (-height) % PAD_MULTIPLE
        pad_w = (-width) % PAD_MULTIPLE
        xp = F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x
        cnn, swin = self.encode(xp)
        sides = self.decoder(self.fuse_scales(cnn, swin), cnn[0], cnn[1])
        size = xp.shape[-2:]
        sides = [z if z.shape[-2:] == size else F.interpolate(z, size=size, mode="bilinear", align_corners=False)
                 for z in sides]
        fused = self.fuse(torch.cat(sides, dim=1))
        out: dict[str, object] = {"logits": two_channel_logits(fused[..., :height, :width])}
        if self.training:
            out["aux"] = [two_channel_logits(z[..., :height, :width]) for z in sides]
        return out


def build_parnet(cfg: ParnetConfig | None = None) -> PARNet:
    """Build PARNet from `cfg` (default: the paper preset). Loads `cfg.swin.checkpoint` when set."""
    return PARNet(cfg if cfg is not None else ParnetConfig())
