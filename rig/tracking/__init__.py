"""Tracking: background model and blob detection on grey images (pure, no I/O, no Qt)."""
