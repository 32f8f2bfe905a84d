"""TeacherTrainConfig: the model union (cracksam | parnet), PARNet presets, per-model optimiser defaults,
sections that belong to one model, mixed precision on by default."""

from __future__ import annotations

import pytest

from crackedge.config import dump_config, load_config, parse_config
from crackedge.errors import ConfigError
from teacher.train_config import OPTIM_DEFAULTS, TeacherTrainConfig

DATA = {"root": "data"}


def test_cracksam_is_the_default_and_keeps_its_settings():
    cfg = parse_config({"data": DATA}, TeacherTrainConfig)
    assert cfg.model.model == "cracksam" and cfg.model.img_size == 448
    assert (cfg.optim.lr, cfg.optim.warmup_steps, cfg.optim.power) == (4e-4, 300, 6.0)
    assert cfg.optim.weight_decay == 0.01 and cfg.optim.amp is True and cfg.parnet_loss is None
    # a config written before PARNet existed: model without a `model` key is CrackSAM
    old = parse_config({"data": DATA, "model": {"backbone": "tiny", "img_size": 64}}, TeacherTrainConfig)
    assert old.model.model == "cracksam" and old.model.backbone == "tiny"


def test_parnet_preset_overrides_and_defaults(tmp_path):
    cfg = parse_config({"data": DATA, "model": {"model": "parnet", "preset": "small", "img_size": 256,
                                                 "swin": {"checkpoint": "swin.pth"}}, "optim": {"lr": 1e-3}},
                       TeacherTrainConfig)
    assert cfg.model.cnn_widths == (8, 16, 24, 32, 48, 64) and cfg.model.swin.embed_dim == 48
    assert cfg.model.swin.checkpoint == "swin.pth" and cfg.model.swin.depths == (1, 1, 1, 1)  # merged key by key
    assert cfg.optim.lr == 1e-3 and cfg.optim.warmup_steps == OPTIM_DEFAULTS["parnet"]["warmup_steps"]
    assert cfg.optim.power == OPTIM_DEFAULTS["parnet"]["power"] and cfg.optim.weight_decay == 0.01
    assert cfg.parnet_loss is not None and cfg.parnet_loss.kind == "ce_dice"  # the train default
    path = tmp_path / "config.yaml"
    dump_config(cfg, path)
    assert load_config(path, TeacherTrainConfig) == cfg  # the written config reads back to the same
    paper = parse_config({"data": DATA, "model": {"model": "parnet"}}, TeacherTrainConfig)
    assert paper.model.preset == "paper" and paper.model.swin.embed_dim == 96


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": {"model": "parnet", "cnn_width": [1] * 6}}, "model.parnet.cnn_width: unknown key"),
        ({"model": {"model": "parnet", "swin": {"depth": [1, 1, 1, 1]}}}, "model.parnet.swin.depth: unknown key"),
        ({"model": {"backbone": "tiny", "preset": "small"}}, "model.cracksam.preset: unknown key"),
        ({"model": {"model": "parnet", "preset": "huge"}}, "model.parnet.preset: Input should be 'paper' or 'small'"),
        ({"model": {"model": "unet"}}, "does not match any of the expected tags: 'cracksam', 'parnet'"),
        ({"model": {"model": "parnet"}, "sam_checkpoint": "sam.pth"}, "PARNet's pretrained Swin weights go in model.swin.checkpoint"),
        ({"parnet_loss": {"kind": "bce"}}, "parnet_loss applies to model parnet only"),
        ({"model": {"model": "parnet"}, "parnet_loss": {"knd": "bce"}}, "parnet_loss.knd: unknown key"),
        ({"optim": {"lr": 1e-3, "momentum": 0.9}}, "optim.momentum: unknown key"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match="cfg.yaml") as err:
        parse_config({"data": DATA, **data}, TeacherTrainConfig, source="cfg.yaml")
    assert message in str(err.value)


def test_loop_settings_follow_the_config(tmp_path):
    pytest.importorskip("torch")
    from teacher.train import loop_config

    cfg = parse_config({"data": DATA, "model": {"model": "parnet"}, "optim": {"amp": False, "grad_clip": 1.0}},
                       TeacherTrainConfig)
    loop = loop_config(cfg, tmp_path, 10, "parnet", resume=False, progress=False)
    assert loop.amp is False and loop.grad_clip == 1.0 and loop.lr == 3e-4 and loop.betas == (0.9, 0.999)
    assert loop_config(parse_config({"data": DATA}, TeacherTrainConfig), tmp_path, 10, "x", False, False).amp is True


def test_command_line_options_map_to_the_config(tmp_path):
    from teacher.cli import build_parser, train_config_from_args

    def parse(*argv):
        return train_config_from_args(build_parser().parse_args(["train", "--data", "d", "--out", str(tmp_path), *argv]))

    cfg = parse("--model", "parnet", "--preset", "small", "--size", "256", "--power", "2", "--no-amp",
                "--swin-checkpoint", "swin.pth", "--lr", "1e-3")
    assert cfg.model.model == "parnet" and cfg.model.preset == "small" and cfg.model.img_size == 256
    assert cfg.model.swin.checkpoint == "swin.pth" and cfg.model.swin.embed_dim == 48
    assert cfg.optim.power == 2.0 and cfg.optim.amp is False and cfg.optim.lr == 1e-3 and cfg.optim.warmup_steps == 100
    default = parse("--backbone", "tiny", "--train-encoder")
    assert default.model.model == "cracksam" and default.optim.amp is True and default.model.freeze_image_encoder is False
    # a YAML file gives the base; options win; the preset fills what neither sets
    yaml_file = tmp_path / "train.yaml"
    yaml_file.write_text("model:\n  model: parnet\n  preset: small\n  decoder_widths: [8, 8, 8, 8]\n"
                         "parnet_loss:\n  kind: bce\n  pos_weight: 10\noptim:\n  batch_size: 2\n")
    cfg = parse("--config", str(yaml_file), "--batch-size", "3")
    assert cfg.model.decoder_widths == (8, 8, 8, 8) and cfg.model.cnn_widths == (8, 16, 24, 32, 48, 64)
    assert cfg.parnet_loss.kind == "bce" and cfg.parnet_loss.pos_weight == 10 and cfg.optim.batch_size == 3


def test_crop_is_checked_against_the_input_and_the_model(tmp_path):
    from teacher.cli import build_parser, train_config_from_args
    from teacher.train import check_train_config

    def parse(*argv):
        return train_config_from_args(build_parser().parse_args(["train", "--data", "d", "--out", str(tmp_path), *argv]))

    cfg = parse("--model", "parnet", "--preset", "small", "--size", "256", "--crop", "160")
    assert cfg.data.crop == 160
    check_train_config(cfg)
    with pytest.raises(ConfigError, match=r"--crop 288 is larger than the training input --size 256"):
        check_train_config(parse("--model", "parnet", "--preset", "small", "--size", "256", "--crop", "288"))
    with pytest.raises(ConfigError, match=r"--crop 64: CrackSAM's image encoder takes whole 128x128 inputs"):
        check_train_config(parse("--backbone", "tiny", "--train-encoder", "--size", "128", "--crop", "64"))


def test_a_parnet_step_with_a_crop_sees_the_same_window_of_image_and_mask():
    torch = pytest.importorskip("torch")
    from teacher.tasks import ParnetTask

    seen = []

    class Probe(torch.nn.Module):  # records what the training forward gets; the loss sees its target
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            seen.append(x)
            logits = torch.stack([-x[:, 0], x[:, 0]], dim=1) + self.w
            return {"logits": logits, "aux": [logits] * 4}

    task = ParnetTask(Probe(), torch.device("cpu"), crop=32, seed=5)
    mask = (torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0)) > 0.8).long()
    task.set_step(7)
    loss, _ = task.train_step({"image": mask[:, None].float().repeat(1, 3, 1, 1), "mask": mask})
    assert seen[-1].shape == (3, 3, 32, 32)
    assert torch.isfinite(loss)
    from crackedge.training.batch_crop import crop_offsets

    for i, (top, left) in enumerate(crop_offsets(3, 64, 64, 32, 5, 7)):
        assert torch.equal(seen[-1][i, 0].long(), mask[i, top:top + 32, left:left + 32])


def test_the_medium_parnet_example_config_parses_and_builds_its_6_9_m_parameters(tmp_path):
    """teacher/examples/parnet-medium.yaml (the E1 teacher of docs/distill.md) with --data on the command line."""
    from pathlib import Path

    from teacher.cli import build_parser, train_config_from_args
    from teacher.models.parnet import build_parnet

    example = Path(__file__).resolve().parents[1] / "teacher" / "examples" / "parnet-medium.yaml"
    args = build_parser().parse_args(["train", "--config", str(example), "--data", "d", "--out", str(tmp_path),
                                      "--photometric", "0.3"])
    cfg = train_config_from_args(args)
    assert cfg.model.model == "parnet" and cfg.model.cnn_widths == (16, 32, 48, 64, 96, 128)
    assert cfg.model.swin.embed_dim == 64 and cfg.data.root == "d" and cfg.data.photometric == 0.3
    assert cfg.optim.lr == 3e-4  # PARNet's default until --lr says otherwise
    n_params = sum(p.numel() for p in build_parnet(cfg.model).parameters())
    assert n_params == 6_885_411
