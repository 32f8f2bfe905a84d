"""Which masks a model trained on, and whether a teacher saw masks a student run treats as hidden.

`teacher train --labeled-fraction F` and `distill train --labeled-fraction F` keep the masks of the
same seeded share of a split (`labeled_subset`). A semi-supervised claim ("20 % of the labels, the
rest unlabeled") holds only when the teacher, too, never trained on the hidden masks: a teacher
trained on every mask turns the "unlabeled" images back into labeled ones through its soft targets.

A teacher checkpoint therefore records its training labels (`label_record`: the split, a SHA-256 of
its item names, the labeled fraction and seed, and the records of the teachers whose pseudo-labels it
trained on); `teacher cache-logits` copies them into the cache; `hidden_masks_seen` compares them with
a student run's own labeled subset. No torch here: the records are plain dicts in YAML and checkpoints.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np


def labeled_subset(names: list[str], fraction: float, seed: int) -> set[str]:
    """The names that keep their masks when only `fraction` of a split is labeled: a seeded choice of
    round(fraction * len(names)) names (at least one), the same for the teacher and the student runs."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"the labeled fraction must lie in (0, 1], got {fraction}")
    if fraction >= 1.0:
        return set(names)
    k = max(1, int(round(fraction * len(names))))
    order = np.random.default_rng([int(seed), 7_919]).permutation(len(names))
    return {names[i] for i in sorted(order[:k])}


def names_digest(names: Sequence[str]) -> str:
    """SHA-256 of a split's item names in order (the same split on another machine gives the same digest)."""
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()


def label_record(names: Sequence[str], split: str, fraction: float, seed: int,
                 pseudo_from: Optional[list[Optional[dict[str, Any]]]] = None) -> dict[str, Any]:
    """What a model trained on: `fraction` of split `split` (items `names`) with their masks, chosen with
    `seed`; `pseudo_from`: the records of the teachers whose pseudo-labels it trained on (self-training)."""
    record: dict[str, Any] = {"split": split, "items": len(names), "names_sha256": names_digest(names),
                              "labeled_fraction": float(fraction), "seed": int(seed)}
    if pseudo_from is not None:
        record["pseudo_labels_from"] = list(pseudo_from)
    return record


@dataclass(frozen=True)
class HiddenMaskCheck:
    """The answer of `hidden_masks_seen`.

    status: "ok" (the teacher trained on none of the hidden masks), "seen" (it trained on `seen` of
    them), "other-data" (it trained on another split: no overlap to count) or "unknown" (its checkpoint
    or cache predates the record)."""

    status: str
    seen: int = 0
    hidden: int = 0

    def text(self, teacher: str) -> str:
        if self.status == "seen":
            return (f"teacher {teacher} trained on the masks of {self.seen} of the {self.hidden} items this run "
                    "treats as unlabeled: it is not a semi-supervised result (train the teacher with the same "
                    "--labeled-fraction and seed)")
        if self.status == "unknown":
            return (f"cannot tell whether teacher {teacher} trained on the {self.hidden} masks this run hides: its "
                    "checkpoint (or logit cache) predates the record of its training labels")
        if self.status == "other-data":
            return f"teacher {teacher} trained on another split than this run's (no hidden mask of it seen)"
        return f"teacher {teacher} trained on none of the {self.hidden} masks this run hides"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "hidden_masks_seen": self.seen, "hidden_masks": self.hidden}


def _masks_used(record: dict[str, Any], names: Sequence[str]) -> Optional[set[str]]:
    """The names of `names` whose masks the model of `record` (or a teacher it learned from) trained on;
    None when any record in the chain is missing."""
    used = labeled_subset(list(names), float(record["labeled_fraction"]), int(record["seed"]))
    for source in record.get("pseudo_labels_from") or []:
        if source is None:
            return None
        if source.get("names_sha256") != record.get("names_sha256"):
            continue  # pseudo-labels of a teacher trained elsewhere: none of these masks
        more = _masks_used(source, names)
        if more is None:
            return None
        used |= more
    return used


def hidden_masks_seen(records: Sequence[Optional[dict[str, Any]]], names: Sequence[str], fraction: float,
                      seed: int) -> HiddenMaskCheck:
    """Did the teacher(s) of `records` train on masks of split `names` that a run keeping `fraction`
    (seed `seed`) of them treats as unlabeled? One record per ensemble member; None: not recorded."""
    hidden = set(names) - labeled_subset(list(names), fraction, seed)
    if not hidden:
        return HiddenMaskCheck("ok", 0, 0)
    if not records or any(r is None for r in records):
        return HiddenMaskCheck("unknown", 0, len(hidden))
    digest = names_digest(names)
    seen: set[str] = set()
    same_split = False
    for record in records:
        if record.get("names_sha256") != digest:
            continue
        same_split = True
        used = _masks_used(record, names)
        if used is None:
            return HiddenMaskCheck("unknown", 0, len(hidden))
        seen |= used & hidden
    if not same_split:
        return HiddenMaskCheck("other-data", 0, len(hidden))
    return HiddenMaskCheck("seen" if seen else "ok", len(seen), len(hidden))
