"""The technician's GUI (PyQt6 + pyqtgraph): the only package that imports Qt.

It drives the same :class:`rig.session.runner.SessionRunner` as ``rig run``, in a worker
thread; it only reads the engine's state and sends commands (start, stop, emergency stop).
"""
