"""A model bundle opened for inference: metadata read and every model file checked against its SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from crackedge.runtime.metadata import (
    BundleError,
    BundleMetadata,
    load_metadata,
    verify_files,
)


@dataclass
class LoadedBundle:
    path: Path
    meta: BundleMetadata

    @property
    def input_wh(self) -> tuple[int, int]:
        return (self.meta.input.width, self.meta.input.height)

    def model_file(self, key: str) -> Path:
        return self.path / self.meta.models[key]

    def model_sha256(self, key: str) -> Optional[str]:
        entry = self.meta.files.get(self.meta.models[key])
        return entry.sha256 if entry else None

    def model_fingerprint(self, key: str) -> str:
        """16 hex digits naming the content of model `key`: a SHA-256 over the recorded SHA-256 of its file
        and, for an IR, of its weights (.bin); the name of its compiled-model cache folder."""
        name = self.meta.models[key]
        names = [name, str(Path(name).with_suffix(".bin"))] if name.endswith(".xml") else [name]
        digests = [self.meta.files[n].sha256 for n in names if n in self.meta.files]
        return hashlib.sha256(" ".join(digests).encode()).hexdigest()[:16]


def load_bundle(path: Path) -> LoadedBundle:
    """Read metadata.yaml and verify every listed file's SHA-256 (BundleError naming the file)."""
    path = Path(path)
    meta = load_metadata(path)
    verify_files(path, meta)
    for key, name in meta.models.items():
        if name not in meta.files:
            raise BundleError(f"{path / 'metadata.yaml'}: model {key} ({name}) has no recorded SHA-256; re-run `distill export`")
    return LoadedBundle(path, meta)
