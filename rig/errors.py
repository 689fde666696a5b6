"""One error hierarchy for everything a user can get wrong or a device can lose.

The CLI prints a ``RigError`` as one line (no traceback) and exits non-zero; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class RigError(Exception):
    """Base of every error the rig reports to a user in words."""

    exit_code: int = 1


class ProtocolError(RigError):
    """A protocol file is missing, unreadable or invalid. Message names file:line field: reason."""

    exit_code = 2


class ConfigError(RigError):
    """A rig configuration or command-line choice is invalid."""

    exit_code = 2


class CalibrationError(RigError):
    """An arena or laser-power calibration file is missing or invalid."""

    exit_code = 2


class DeviceError(RigError):
    """A camera or board failed."""

    exit_code = 3


class CameraLost(DeviceError):
    """No frame arrived within the camera timeout, or reads kept failing."""


class BoardLost(DeviceError):
    """The serial link to the laser board failed or the board stopped answering."""


class BoardFault(DeviceError):
    """The board reported a fault (watchdog trip, reset, refused gate-open); never re-armed silently."""


class InterlockOpen(DeviceError):
    """The door interlock is open (at Start, or tripped with ``on_trip: stop_session``)."""

    exit_code = 9


class LoopStalled(RigError):
    """The control loop completed no frame within ``loop_stall_ms``."""

    exit_code = 8


class FirmwareMismatch(DeviceError):
    """The board runs firmware this host cannot drive safely."""


class SafetyLimitReached(RigError):
    """A protocol safety limit ended the session (when the protocol says to stop)."""

    exit_code = 4


class RecorderFault(RigError):
    """The session writer could not keep up or could not write; the session was stopped."""

    exit_code = 5
