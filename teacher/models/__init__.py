"""Teacher networks: CrackSAM (Segment Anything + adapter/LoRA deltas) and PARNet.

Nothing heavy is imported here. Entry points:
- `teacher.models.registry`: which teacher model names exist and how to build them from a config
  (the `model` field of a teacher checkpoint's config).
- `teacher.models.cracksam.build_cracksam`: the prompt-free SAM teacher.
"""
