"""Procedural synthetic crack images (seeded) with exact masks and realistic distractors."""

from crackedge.synth.generator import SynthConfig, generate_sample, write_synthetic_dataset

__all__ = ["SynthConfig", "generate_sample", "write_synthetic_dataset"]
