"""GenICam cameras of any vendor through harvesters and a GenTL producer: ``genicam:SERIAL``.

Install with ``pip install optorig[genicam]``. harvesters needs the vendor's GenTL producer
(a ``.cti`` file: FLIR Spinnaker, IDS peak, Allied Vision Vimba, MATRIX VISION mvIMPACT,
Basler pylon...). optorig looks for producers in the ``GENICAM_GENTL64_PATH`` environment
variable (set by the vendor's installer) and in ``OPTORIG_GENTL`` (a list of .cti files or
folders, ``:``-separated). The ``genicam`` wheel ships a toy producer (``viky.cti``: three
400x400 colour test cameras, no exposure or trigger features); it is used only when
``OPTORIG_GENTL=viky``, which is how CI tests this backend without hardware.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from rig.devices.camera_settings import (
    GENICAM_PIXEL_FORMATS,
    AppliedCameraSettings,
    CameraSettings,
    TriggerEdge,
    TriggerMode,
)
from rig.devices.lab_camera import RawFrame, to_grey8
from rig.errors import CameraLost, ConfigError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "GenICam cameras need the harvesters package: pip install 'optorig[genicam]' "
    "(or pip install harvesters), plus your camera vendor's GenTL producer (.cti)"
)


def import_harvester() -> Any:
    try:
        from harvesters.core import Harvester
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return Harvester


def producer_files() -> list[Path]:
    """GenTL producers (.cti) from GENICAM_GENTL64_PATH and OPTORIG_GENTL."""
    entries: list[str] = []
    for var in ("OPTORIG_GENTL", "GENICAM_GENTL64_PATH"):
        entries += [e for e in os.environ.get(var, "").split(os.pathsep) if e]
    files: list[Path] = []
    for entry in entries:
        if entry == "viky":
            try:
                import genicam
            except ImportError:
                continue
            files.append(Path(genicam.__file__).parent / "viky.cti")
            continue
        path = Path(entry)
        if path.is_dir():
            files += sorted(path.glob("*.cti"))
        elif path.suffix == ".cti" and path.is_file():
            files.append(path)
    return list(dict.fromkeys(files))  # de-duplicated, in order


def _harvester() -> Any:
    harvester_cls = import_harvester()
    ctis = producer_files()
    if not ctis:
        raise ConfigError(
            "GenICam: no GenTL producer (.cti) found; install your camera vendor's SDK "
            "(it sets GENICAM_GENTL64_PATH) or set OPTORIG_GENTL=/path/to/producer.cti"
        )
    harvester = harvester_cls()
    for cti in ctis:
        harvester.add_file(str(cti))
    harvester.update()
    return harvester


def list_genicam_cameras() -> list[dict[str, str]]:
    harvester = _harvester()
    try:
        return [
            {
                "backend": "genicam",
                "source": f"genicam:{info.serial_number}",
                "serial": str(info.serial_number),
                "model": str(info.model),
                "name": str(info.display_name),
                "transport": str(info.tl_type),
            }
            for info in harvester.device_info_list
        ]
    finally:
        harvester.reset()


def _feature(node_map: Any, name: str) -> Any | None:
    try:
        node = getattr(node_map, name)
    except Exception:
        return None
    return node


def _set(node_map: Any, name: str, value: object, notes: list[str], required: bool = False) -> bool:
    node = _feature(node_map, name)
    if node is None:
        if required:
            raise CameraLost(f"GenICam camera: has no {name} feature")
        notes.append(f"{name}: not available on this camera")
        return False
    try:
        node.value = value
    except Exception as err:
        if required:
            raise CameraLost(f"GenICam camera: cannot set {name} to {value!r} ({err})") from err
        notes.append(f"{name}: could not be set to {value!r} ({err})")
        return False
    return True


def _get(node_map: Any, name: str) -> Any:
    node = _feature(node_map, name)
    if node is None:
        return None
    try:
        return node.value
    except Exception:
        return None


class GenICamDriver:
    """One GenICam camera by serial number (``None``: the first found)."""

    def __init__(self, serial: str | None = None) -> None:
        self._serial = serial
        self._harvester: Any = None
        self._acquirer: Any = None
        self._pixel_format = "Mono8"
        self._tick_hz = 1e9

    @property
    def description(self) -> str:
        return f"genicam({self._serial or 'first'})"

    def open(self, settings: CameraSettings) -> AppliedCameraSettings:
        self._harvester = _harvester()
        infos = self._harvester.device_info_list
        match = [i for i in infos if self._serial is None or str(i.serial_number) == self._serial]
        if not match:
            found = [str(i.serial_number) for i in infos]
            self.close()
            raise CameraLost(f"GenICam camera {self._serial}: not found; connected: {found or 'none'}")
        try:
            self._acquirer = self._harvester.create({"serial_number": match[0].serial_number})
            applied = self._apply(settings, match[0])
            self._acquirer.start()
        except BaseException:
            self.close()
            raise
        return applied

    def _apply(self, s: CameraSettings, info: Any) -> AppliedCameraSettings:
        nm = self._acquirer.remote_device.node_map
        notes: list[str] = []
        # Auto exposure/gain off when the camera has them: a camera that cannot turn them
        # off must not run a session (the read-back says so and the session refuses).
        if _feature(nm, "ExposureAuto") is not None:
            _set(nm, "ExposureAuto", "Off", notes, required=True)
        if _feature(nm, "GainAuto") is not None:
            _set(nm, "GainAuto", "Off", notes)
        _set(nm, "PixelFormat", GENICAM_PIXEL_FORMATS[s.pixel_format], notes)
        self._pixel_format = str(_get(nm, "PixelFormat") or "Mono8")
        if s.width is not None:
            _set(nm, "Width", s.width, notes, required=True)
        if s.height is not None:
            _set(nm, "Height", s.height, notes, required=True)
        if s.offset_x:
            _set(nm, "OffsetX", s.offset_x, notes, required=True)
        if s.offset_y:
            _set(nm, "OffsetY", s.offset_y, notes, required=True)
        _set(nm, "ExposureTime", float(s.exposure_us), notes)
        _set(nm, "Gain", float(s.gain_db), notes)
        if _feature(nm, "AcquisitionFrameRateEnable") is not None:
            _set(nm, "AcquisitionFrameRateEnable", True, notes)
        _set(nm, "AcquisitionFrameRate", float(s.fps), notes)
        if s.trigger is TriggerMode.FREE_RUN:
            if _feature(nm, "TriggerMode") is not None:
                _set(nm, "TriggerMode", "Off", notes, required=True)
        else:
            _set(nm, "TriggerSelector", "FrameStart", notes)
            source = "Software" if s.trigger is TriggerMode.SOFTWARE else s.trigger_line
            _set(nm, "TriggerSource", source, notes, required=True)
            if s.trigger is TriggerMode.HARDWARE:
                edge = "RisingEdge" if s.trigger_edge is TriggerEdge.RISING else "FallingEdge"
                _set(nm, "TriggerActivation", edge, notes)
            _set(nm, "TriggerMode", "On", notes, required=True)
        if s.strobe_line is not None:
            _set(nm, "LineSelector", s.strobe_line, notes, required=True)
            _set(nm, "LineMode", "Output", notes)
            _set(nm, "LineSource", "ExposureActive", notes, required=True)
        tick = _get(nm, "GevTimestampTickFrequency")
        self._tick_hz = float(tick) if tick else 1e9
        exposure = _get(nm, "ExposureTime")
        gain = _get(nm, "Gain")
        fps = _get(nm, "ResultingFrameRate") or _get(nm, "AcquisitionFrameRate")
        return AppliedCameraSettings(
            backend="genicam",
            model=str(info.model),
            serial=str(info.serial_number),
            width=int(_get(nm, "Width") or 0),
            height=int(_get(nm, "Height") or 0),
            offset_x=int(_get(nm, "OffsetX") or 0),
            offset_y=int(_get(nm, "OffsetY") or 0),
            fps=None if fps is None else float(fps),
            exposure_us=None if exposure is None else float(exposure),
            exposure_auto=None if _get(nm, "ExposureAuto") is None else str(_get(nm, "ExposureAuto")),
            gain_db=None if gain is None else float(gain),
            gain_auto=None if _get(nm, "GainAuto") is None else str(_get(nm, "GainAuto")),
            pixel_format=self._pixel_format,
            trigger=s.trigger if _get(nm, "TriggerMode") == "On" else TriggerMode.FREE_RUN,
            trigger_line=None if s.trigger is TriggerMode.FREE_RUN else str(_get(nm, "TriggerSource")),
            strobe_line=s.strobe_line,
            timestamp_source="camera",
            notes=tuple(notes),
        )

    def software_trigger(self) -> None:
        nm = self._acquirer.remote_device.node_map
        nm.TriggerSoftware.execute()

    def retrieve(self, timeout_s: float) -> RawFrame | None:
        if self._acquirer is None:
            raise CameraLost(f"{self.description}: not open")
        from genicam.gentl import TimeoutException

        try:
            buffer = self._acquirer.fetch(timeout=timeout_s)
        except TimeoutException:
            return None
        with buffer:
            component = buffer.payload.components[0]
            data = component.data
            height, width = int(component.height), int(component.width)
            channels = max(1, data.size // (height * width))
            array = data.reshape(height, width, channels) if channels > 1 else data.reshape(height, width)
            fmt = str(component.data_format)
            if channels == 4:  # RGBa8 / BGRa8: drop alpha
                array = np.ascontiguousarray(array[:, :, :3])
            image = to_grey8(array, fmt)
            try:
                stamp = int(buffer.timestamp_ns)
                cam_t: float | None = stamp / 1e9 if stamp else None
            except Exception:  # the producer has no timestamps (viky)
                cam_t = None
            return RawFrame(image=image, frame_id=int(buffer.frame_id), cam_t_s=cam_t)

    def close(self) -> None:
        acquirer, self._acquirer = self._acquirer, None
        harvester, self._harvester = self._harvester, None
        try:
            if acquirer is not None:
                acquirer.stop()
                acquirer.destroy()
        finally:
            if harvester is not None:
                harvester.reset()
