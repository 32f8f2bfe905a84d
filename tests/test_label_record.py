"""Which masks a model trained on (crackedge.data.label_record): the teacher / student overlap check."""

from __future__ import annotations

import pytest

from crackedge.data.label_record import hidden_masks_seen, label_record, labeled_subset, names_digest

NAMES = [f"img{i:02d}" for i in range(10)]


def test_labeled_subset_is_seeded_and_sized():
    a = labeled_subset(NAMES, 0.2, 0)
    assert len(a) == 2 and a == labeled_subset(NAMES, 0.2, 0) and a <= set(NAMES)
    assert labeled_subset(NAMES, 1.0, 3) == set(NAMES)
    assert any(labeled_subset(NAMES, 0.2, s) != a for s in range(1, 6))
    with pytest.raises(ValueError, match=r"labeled fraction must lie in \(0, 1\], got 0"):
        labeled_subset(NAMES, 0, 0)


def test_a_teacher_on_every_mask_saw_every_hidden_one():
    check = hidden_masks_seen([label_record(NAMES, "train", 1.0, 0)], NAMES, 0.2, 0)
    assert (check.status, check.seen, check.hidden) == ("seen", 8, 8)
    assert check.text("parnet").startswith("teacher parnet trained on the masks of 8 of the 8 items")


def test_a_teacher_on_the_same_share_saw_none_and_another_seed_some():
    assert hidden_masks_seen([label_record(NAMES, "train", 0.2, 0)], NAMES, 0.2, 0).status == "ok"
    other = next(s for s in range(1, 20) if labeled_subset(NAMES, 0.2, s) != labeled_subset(NAMES, 0.2, 0))
    check = hidden_masks_seen([label_record(NAMES, "train", 0.2, other)], NAMES, 0.2, 0)
    expected = len(labeled_subset(NAMES, 0.2, other) - labeled_subset(NAMES, 0.2, 0))
    assert check.status == "seen" and check.seen == expected >= 1


def test_self_training_inherits_what_its_pseudo_label_teacher_saw():
    full = label_record(NAMES, "train", 1.0, 0)
    fair = label_record(NAMES, "train", 0.2, 0)
    assert hidden_masks_seen([label_record(NAMES, "train", 0.2, 0, [fair])], NAMES, 0.2, 0).status == "ok"
    assert hidden_masks_seen([label_record(NAMES, "train", 0.2, 0, [full])], NAMES, 0.2, 0).seen == 8
    assert hidden_masks_seen([label_record(NAMES, "train", 0.2, 0, [None])], NAMES, 0.2, 0).status == "unknown"


def test_ensembles_unknown_records_and_other_data():
    fair, full = label_record(NAMES, "train", 0.2, 0), label_record(NAMES, "train", 1.0, 0)
    assert hidden_masks_seen([fair, full], NAMES, 0.2, 0).seen == 8  # one member saw them
    unknown = hidden_masks_seen([fair, None], NAMES, 0.2, 0)
    assert unknown.status == "unknown" and "predates the record" in unknown.text("ensemble")
    elsewhere = label_record(["a", "b"], "train", 1.0, 0)
    assert elsewhere["names_sha256"] == names_digest(["a", "b"]) != names_digest(NAMES)
    assert hidden_masks_seen([elsewhere], NAMES, 0.2, 0).status == "other-data"
    assert hidden_masks_seen([full], NAMES, 1.0, 0).as_dict() == {"status": "ok", "hidden_masks_seen": 0,
                                                                  "hidden_masks": 0}
