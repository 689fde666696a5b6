"""Re-scoring recorded sessions at scale (``rig rescore``).

A re-score runs a recorded session again through the one engine (``SessionRunner``) with a
new protocol or zone geometry, and writes a NEW session folder linked to the original
(never overwriting it). What is fed to the engine:

- ``video``: the session's saved video (the original video file of a replay, or the
  ``video.avi`` the session recorded), exactly as ``rig replay`` does;
- ``positions``: the positions already in the original ``frames.csv`` (no tracking);
- ``pose``: imported DeepLabCut / SLEAP pose tracks (``rig.rescore.pose``).

Modules: ``model`` (tasks, options, results: plain picklable values), ``positions`` (a
frame source and tracker that replay known positions), ``pose`` (pose-track import),
``engine`` (one re-score; runs in a worker process), ``batch`` (local processes or Dask).
Nothing here imports Qt: a worker installs plain ``optorig``.
"""
