"""Frozen copy of calib's crack measurement as it was before the speed-up (commit dbc5365).

Used only by tests/test_calib_equivalence.py and benchmarks/calib_speed.py to check that the
current `calib.measure.measure_crack` reports the same length, width and branches (within the
tolerances stated there) and to time old against new. Do not edit: it is the reference. The
modules are verbatim copies except that their imports point at this package.
"""
