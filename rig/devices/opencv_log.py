"""OpenCV's own log (``[ WARN:0@0.014] global cap_v4l.cpp ... can't open camera by index``).

OpenCV prints straight to stderr from C++, around our own message that already says what
went wrong in plain words ("camera 0: cannot be opened (not connected or in use)"). The
entry points (CLI, GUI) quieten it; ``-vv`` keeps it for debugging. A user's own
``OPENCV_LOG_LEVEL`` wins.
"""

from __future__ import annotations

import os
import sys

#: OPENCV_LOG_LEVEL names, by our verbosity (0: default, 1: -v, 2: -vv).
_LEVELS = ("SILENT", "SILENT", "INFO")


def quiet_opencv_log(verbosity: int = 0) -> None:
    """Set OpenCV's log level for this process (before or after ``import cv2``)."""
    name = _LEVELS[min(max(verbosity, 0), len(_LEVELS) - 1)]
    user = os.environ.get("OPENCV_LOG_LEVEL")
    if user:
        name = user
    else:
        os.environ["OPENCV_LOG_LEVEL"] = name  # read when cv2 is first imported
    cv2 = sys.modules.get("cv2")
    if cv2 is None:
        return
    levels = {
        "SILENT": 0, "FATAL": 1, "ERROR": 2, "WARNING": 3, "WARN": 3, "INFO": 4, "DEBUG": 5,
        "VERBOSE": 6,
    }
    try:
        cv2.utils.logging.setLogLevel(levels.get(name.upper(), 0))
    except AttributeError:  # an OpenCV build without the utils.logging binding
        pass
