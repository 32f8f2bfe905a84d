"""`crackedge bench-report`: measures every part of the product and renders BENCHMARKS.md."""
