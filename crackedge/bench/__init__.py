"""Benchmark helpers: timing statistics, machine/version capture, markdown tables (torch-free)."""
