"""Data files shipped with optorig (the synthetic arena calibration used by the demo).

``calibration/synthetic_arena.yaml`` in the repository is an identical copy (a test checks).
"""
