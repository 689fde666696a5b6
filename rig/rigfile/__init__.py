"""The rig hardware file (``rig.yaml``): board, laser output, interlock, sync, camera,
liveness limits and calibration files of one physical rig.

A protocol says what the experiment does; a rig file says what the hardware is. The two
are validated separately and together (``rig.rigfile.load.check_protocol_on_rig``).
"""

from rig.rigfile.load import (
    LoadedRig,
    RigFileError,
    check_protocol_on_rig,
    default_rig_path,
    load_default_rig,
    load_rig,
)
from rig.rigfile.models import RigConfig

__all__ = [
    "LoadedRig",
    "RigConfig",
    "RigFileError",
    "check_protocol_on_rig",
    "default_rig_path",
    "load_default_rig",
    "load_rig",
]
