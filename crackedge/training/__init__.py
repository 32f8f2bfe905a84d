"""Training utilities shared by `teacher` and `distill` (imports torch)."""
