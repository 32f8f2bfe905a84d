"""Did the teacher train on the masks a `--labeled-fraction` run hides? (`crackedge.data.label_record`)

`distill train` logs the answer (a WARNING when it saw them or cannot tell) and `distill compare`
writes it into compare.yaml / compare.md: with such a teacher, "20 % of the labels" is not what the
student's result measures.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from crackedge.data.label_record import HiddenMaskCheck, hidden_masks_seen

if TYPE_CHECKING:
    from distill.train_config import DistillTrainConfig

log = logging.getLogger(__name__)


def teacher_label_records(cfg: "DistillTrainConfig") -> list[Optional[dict[str, Any]]]:
    """The training-label records of the run's teacher(s): from the logit cache, else the checkpoint;
    [None] where they were not recorded."""
    t = cfg.teacher
    if t.cache is not None:
        from crackedge.data.logit_cache import cached_teacher_labels

        return cached_teacher_labels(t.cache)
    if t.checkpoint is not None:
        from teacher.checkpoints import peek_training_labels

        return [peek_training_labels(Path(t.checkpoint))]
    return []


def check_teacher_labels(cfg: "DistillTrainConfig", names: Sequence[str]) -> Optional[HiddenMaskCheck]:
    """None when the run hides no masks of its split `names` or has no teacher; else whether the teacher
    trained on the hidden ones."""
    if cfg.data.labeled_fraction >= 1 or cfg.teacher.kind == "none" or (cfg.teacher.cache is None
                                                                         and cfg.teacher.checkpoint is None):
        return None
    return hidden_masks_seen(teacher_label_records(cfg), names, cfg.data.labeled_fraction, cfg.data.seed)


def log_teacher_labels(check: Optional[HiddenMaskCheck], teacher: str) -> None:
    """One log line: a WARNING when the teacher saw hidden masks or cannot be checked."""
    if check is None:
        return
    if check.status in ("seen", "unknown"):
        log.warning("!!! %s", check.text(teacher))
    else:
        log.info("%s", check.text(teacher))
