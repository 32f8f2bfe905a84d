"""`distill compare` reuses a run folder only when it was made with the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crackedge.errors import ConfigError
from distill.compare_runs import _check_same_config
from distill.train_config import DistillTrainConfig


def _cfg(**loss) -> DistillTrainConfig:
    return DistillTrainConfig.model_validate({"data": {"root": "data/crack500"},
                                              "teacher": {"kind": "parnet", "cache": "runs/c"}, "loss": loss})


def test_a_setting_added_later_at_its_default_is_the_same_run(tmp_path: Path) -> None:
    saved = _cfg(soft="kl", kl_weight=0.5).model_dump(mode="json")
    del saved["loss"]["pseudo_weight"]  # a run made before the pseudo-label loss existed
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    _check_same_config(tmp_path, _cfg(soft="kl", kl_weight=0.5))
    with pytest.raises(ConfigError, match=r"loss.pseudo_weight: 1.0 there, 2.0 now"):
        _check_same_config(tmp_path, _cfg(soft="kl", kl_weight=0.5, pseudo_weight=2.0))


def test_other_settings_are_named_with_both_values(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_cfg(soft="kl").model_dump(mode="json")), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"loss.soft: 'kl' there, 'kl\+pseudo' now.*pass another --out"):
        _check_same_config(tmp_path, _cfg(soft="kl+pseudo"))


def test_a_key_this_version_does_not_know_is_named(tmp_path: Path) -> None:
    saved = _cfg().model_dump(mode="json")
    saved["loss"]["focal_weight"] = 1.0
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"loss.focal_weight: 1.0 there, None now"):
        _check_same_config(tmp_path, _cfg())
