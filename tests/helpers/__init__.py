"""Helpers shared by several test modules (never test modules themselves: no test module imports another)."""
