"""teacher: CrackSAM (Segment Anything + adapter/LoRA deltas, prompt-free, 448x448) and PARNet.

Fine-tunes, evaluates and runs the large teacher models, and caches their logits for distillation.
"""
