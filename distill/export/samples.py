"""Moved to crackedge.export.samples (shared with `teacher export`); kept so old imports work."""

from crackedge.export.samples import (  # noqa: F401
    IMAGE_SUFFIXES,
    Sample,
    is_canonical_dataset,
    load_samples,
    synthetic_samples,
)
