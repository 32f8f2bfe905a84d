"""Dataset item names: colliding names from different splits are prefixed by their split.

Published sets reuse names across splits (a common DeepCrack copy has ten names in both train and
test with different pictures). The rule, applied by `NameRegistry.claim`:

- a name not seen before is kept as is;
- the same name with the same content (image bytes and mask) is one item: it is kept once, in the
  evaluation split when the copies differ in split (test before val before train), and reported;
- the same name with different content in another split: every copy is renamed `SPLIT_NAME`
  (`train_11289-1`, `test_11289-1`) and the renaming is reported;
- the same name with different content in the same split cannot be told apart: the later item is
  skipped with a reason that says to rename one of the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SPLIT_PRIORITY = {"test": 0, "val": 1, "train": 2}  # which copy of a duplicate is kept


@dataclass
class Entry:
    name: str  # the name in the output
    split: str
    fingerprint: str
    source: str


@dataclass
class Claim:
    """What the writer must do for one claimed name.

    kind: "new" (write it as `name`), "duplicate" (write nothing; `moved_to` is a new split for the
    existing item `name`, or None), "clash" (skip it: `reason`).
    renames: existing items to rename first, (old name, new name).
    """

    kind: str
    name: str = ""
    renames: list[tuple[str, str]] = field(default_factory=list)
    moved_to: str | None = None
    reason: str = ""


class NameRegistry:
    """Decides the output name of each item; records renames and duplicates for dataset.yaml."""

    def __init__(self) -> None:
        self._by_base: dict[str, list[Entry]] = {}
        self._taken: set[str] = set()
        self.renamed: dict[str, dict[str, str]] = {}  # base name -> {split: new name}
        self.duplicates: list[dict[str, str]] = []

    def claim(self, base: str, split: str, fingerprint: str, source: str) -> Claim:
        entries = self._by_base.get(base)
        if not entries:
            if base in self._taken:
                return Claim("clash", reason=f"its name {base!r} is already used by a split-prefixed item; rename the file")
            entry = Entry(base, split, fingerprint, source)
            self._by_base[base] = [entry]
            self._taken.add(base)
            return Claim("new", base)
        for e in entries:
            if e.fingerprint == fingerprint:
                return self._duplicate(base, e, split, source)
        same_split = [e for e in entries if e.split == split]
        if same_split:
            return Claim("clash", reason=(
                f"another {split} item already has the name {base!r} ({same_split[0].source}) with different "
                "content; rename one of the two files"))
        first = entries[0] if len(entries) == 1 and entries[0].name == base else None  # prefix it too
        name = f"{split}_{base}"
        for wanted in [name] + ([f"{first.split}_{base}"] if first else []):
            if wanted in self._taken:
                return Claim("clash", reason=f"cannot prefix {base!r}: the name {wanted!r} is already used; rename the file")
        renames = []
        if first is not None:
            new = f"{first.split}_{base}"
            renames.append((first.name, new))
            self._taken.discard(first.name)
            self._taken.add(new)
            first.name = new
            self.renamed.setdefault(base, {})[first.split] = new
        entries.append(Entry(name, split, fingerprint, source))
        self._taken.add(name)
        self.renamed.setdefault(base, {})[split] = name
        return Claim("new", name, renames=renames)

    def _duplicate(self, base: str, e: Entry, split: str, source: str) -> Claim:
        moved_to = None
        if e.name == base and split != e.split and SPLIT_PRIORITY.get(split, 3) < SPLIT_PRIORITY.get(e.split, 3):
            moved_to = split
        kept_in = moved_to or e.split
        dropped = e.split if moved_to else split
        self.duplicates.append({"name": e.name, "kept_in": kept_in, "dropped_from": dropped,
                                "kept": e.source if not moved_to else source,
                                "dropped": source if not moved_to else e.source})
        if moved_to:
            e.split, e.source = moved_to, source
        return Claim("duplicate", e.name, moved_to=moved_to)
