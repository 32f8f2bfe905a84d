"""crackedge.data.names: the rule that resolves colliding item names."""

from __future__ import annotations

from crackedge.data.names import NameRegistry


def test_first_collision_prefixes_both_copies_and_a_third_split_follows():
    reg = NameRegistry()
    assert reg.claim("a", "train", "f1", "train/a.jpg").name == "a"
    second = reg.claim("a", "test", "f2", "test/a.jpg")
    assert (second.kind, second.name, second.renames) == ("new", "test_a", [("a", "train_a")])
    third = reg.claim("a", "val", "f3", "val/a.jpg")
    assert (third.kind, third.name, third.renames) == ("new", "val_a", [])
    assert reg.renamed == {"a": {"train": "train_a", "test": "test_a", "val": "val_a"}}


def test_identical_content_is_one_item_kept_in_the_evaluation_split():
    reg = NameRegistry()
    reg.claim("a", "train", "same", "train/a.jpg")
    dup = reg.claim("a", "test", "same", "test/a.jpg")
    assert (dup.kind, dup.name, dup.moved_to) == ("duplicate", "a", "test")
    again = reg.claim("a", "val", "same", "val/a.jpg")  # test outranks val: stays in test
    assert (again.kind, again.moved_to) == ("duplicate", None)
    assert [(d["kept_in"], d["dropped_from"]) for d in reg.duplicates] == [("test", "train"), ("test", "val")]


def test_same_split_different_content_and_taken_prefixed_names_are_clashes():
    reg = NameRegistry()
    reg.claim("a", "train", "f1", "x/a.jpg")
    clash = reg.claim("a", "train", "f2", "y/a.png")
    assert clash.kind == "clash" and "another train item already has the name 'a' (x/a.jpg)" in clash.reason
    reg.claim("test_b", "test", "f3", "test_b.jpg")  # a genuine name that a prefix would produce
    reg.claim("b", "train", "f4", "b.jpg")
    taken = reg.claim("b", "test", "f5", "test/b.jpg")
    assert taken.kind == "clash" and "the name 'test_b' is already used" in taken.reason
    assert reg.claim("b", "train", "f4", "b.jpg").name == "b" and reg.renamed == {}  # nothing was renamed
