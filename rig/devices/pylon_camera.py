"""Basler cameras through pypylon (the vendor's own wheel): ``pylon:SERIAL``.

Install with ``pip install optorig[basler]``. Without a camera, pylon's built-in camera
emulation runs when the environment variable ``PYLON_CAMEMU`` is set to the number of
emulated cameras (serials ``0815-0000``, ``0815-0001``, ...). An emulated camera can play
image files as frames (``ImageFileMode``/``ImageFilename``): ``image_dir`` here, so tests
feed it real mouse images.

Settings are applied through the GenICam SFNC feature names (``Width``, ``ExposureTime``,
``TriggerMode``...), with the older Basler GigE names (``ExposureTimeAbs``, ``GainRaw``,
``AcquisitionFrameRateAbs``) as a fallback, and every one is read back.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

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
    "Basler cameras need the pypylon package: pip install 'optorig[basler]' "
    "(or pip install pypylon)"
)
#: Frame buffers pylon queues for the grab thread; a host stall longer than this many
#: frame periods loses frames (counted from the BlockID gaps).
NUM_BUFFERS = 16


def import_pylon() -> Any:
    """``pypylon.pylon``, or a ConfigError that says how to install it."""
    try:
        from pypylon import pylon
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return pylon


def list_pylon_cameras() -> list[dict[str, str]]:
    """Basler cameras pylon can see (emulated ones too when PYLON_CAMEMU is set)."""
    pylon = import_pylon()
    devices = pylon.TlFactory.GetInstance().EnumerateDevices()
    return [
        {
            "backend": "pylon",
            "source": f"pylon:{d.GetSerialNumber()}",
            "serial": d.GetSerialNumber(),
            "model": d.GetModelName(),
            "name": d.GetFriendlyName(),
            "transport": d.GetDeviceClass(),
        }
        for d in devices
    ]


def _node(camera: Any, *names: str) -> Any | None:
    """The first of ``names`` that the camera implements and can write/read, else None."""
    for name in names:
        try:
            node = getattr(camera, name)
        except Exception:  # pypylon raises for unknown features
            continue
        try:
            if node.IsReadable() or node.IsWritable():
                return node
        except Exception:
            continue
    return None


def _set(camera: Any, value: object, *names: str, required: bool = True) -> bool:
    node = _node(camera, *names)
    if node is None or not node.IsWritable():
        if required:
            raise CameraLost(f"pylon camera: cannot set {names[0]} (feature not writable)")
        return False
    node.Value = value
    return True


def _get(camera: Any, *names: str) -> Any:
    node = _node(camera, *names)
    if node is None:
        return None
    try:
        return node.Value
    except Exception:
        return None


class PylonDriver:
    """One Basler camera by serial (``None``: the first camera pylon finds)."""

    def __init__(self, serial: str | None = None, image_dir: Path | None = None) -> None:
        self._serial = serial
        self._image_dir = image_dir
        self._camera: Any = None
        self._pylon: Any = None
        self._pixel_format = "Mono8"
        self._tick_hz = 1e9
        self._has_timestamp = False

    @property
    def description(self) -> str:
        return f"pylon({self._serial or 'first'})"

    def open(self, settings: CameraSettings) -> AppliedCameraSettings:
        pylon = import_pylon()
        self._pylon = pylon
        factory = pylon.TlFactory.GetInstance()
        devices = factory.EnumerateDevices()
        if self._serial is not None:
            devices = [d for d in devices if d.GetSerialNumber() == self._serial]
        if not devices:
            hint = " (set PYLON_CAMEMU=1 for an emulated camera)" if not os.environ.get("PYLON_CAMEMU") else ""
            raise CameraLost(
                f"pylon camera {self._serial or ''}: not found; connected: "
                f"{[d.GetSerialNumber() for d in factory.EnumerateDevices()] or 'none'}{hint}"
            )
        try:
            camera = pylon.InstantCamera(factory.CreateDevice(devices[0]))
            camera.Open()
        except Exception as err:
            raise CameraLost(f"{self.description}: cannot be opened ({err}); is it in use?") from err
        self._camera = camera
        try:
            applied = self._apply(camera, settings)
            camera.MaxNumBuffer.Value = NUM_BUFFERS
            # LatestImageOnly: if the grab thread falls behind, pylon keeps the newest frame
            # and discards older ones rather than queueing stale frames (latency). Every
            # discarded frame shows as a BlockID gap and is counted as a camera-level drop.
            camera.StartGrabbing(pylon.GrabStrategy_LatestImageOnly)
        except BaseException:
            self.close()
            raise
        return applied

    def _apply(self, camera: Any, s: CameraSettings) -> AppliedCameraSettings:
        emulated = camera.GetDeviceInfo().GetDeviceClass() == "BaslerCamEmu"
        notes: list[str] = []
        # Automatic exposure and gain off first: they would override what follows.
        _set(camera, "Off", "ExposureAuto", required=False)
        _set(camera, "Off", "GainAuto", required=False)
        _set(camera, GENICAM_PIXEL_FORMATS[s.pixel_format], "PixelFormat")
        self._pixel_format = str(_get(camera, "PixelFormat") or "Mono8")
        # ROI: offsets to 0 first so a larger width/height fits, then size, then offsets.
        _set(camera, 0, "OffsetX", required=False)
        _set(camera, 0, "OffsetY", required=False)
        for name, value in (("Width", s.width), ("Height", s.height)):
            node = _node(camera, name)
            if node is None:
                continue
            target = node.Max if value is None else value
            inc = max(1, int(node.Inc))
            node.Value = max(int(node.Min), min(int(node.Max), target - (target - int(node.Min)) % inc))
        _set(camera, s.offset_x, "OffsetX", required=s.offset_x > 0)
        _set(camera, s.offset_y, "OffsetY", required=s.offset_y > 0)
        _set(camera, float(s.exposure_us), "ExposureTime", "ExposureTimeAbs")
        gain_ok = _set(camera, float(s.gain_db), "Gain", required=False)
        if not gain_ok:
            notes.append("gain in dB not settable (GainRaw camera): gain left as is")
        _set(camera, True, "AcquisitionFrameRateEnable", required=False)
        _set(camera, float(s.fps), "AcquisitionFrameRate", "AcquisitionFrameRateAbs")
        # Trigger
        _set(camera, "FrameStart", "TriggerSelector", required=False)
        if s.trigger is TriggerMode.FREE_RUN:
            _set(camera, "Off", "TriggerMode")
        else:
            source = "Software" if s.trigger is TriggerMode.SOFTWARE else s.trigger_line
            _set(camera, source, "TriggerSource")
            if s.trigger is TriggerMode.HARDWARE:
                edge = "RisingEdge" if s.trigger_edge is TriggerEdge.RISING else "FallingEdge"
                _set(camera, edge, "TriggerActivation", required=False)
            _set(camera, "On", "TriggerMode")
        if s.strobe_line is not None:
            _set(camera, s.strobe_line, "LineSelector")
            _set(camera, "Output", "LineMode", required=False)
            _set(camera, "ExposureActive", "LineSource")
        if emulated and self._image_dir is not None:
            _set(camera, "Off", "TestImageSelector", required=False)
            _set(camera, str(self._image_dir), "ImageFilename")
            _set(camera, "On", "ImageFileMode")
            notes.append(f"emulated camera playing images from {self._image_dir}")
        # Camera clock: USB3 ace counts ns; GigE reports its tick frequency.
        tick = _get(camera, "GevTimestampTickFrequency")
        self._tick_hz = float(tick) if tick else 1e9
        fps = _get(camera, "ResultingFrameRate", "ResultingFrameRateAbs")
        info = camera.GetDeviceInfo()
        return AppliedCameraSettings(
            backend="pylon",
            model=info.GetModelName(),
            serial=info.GetSerialNumber(),
            width=int(_get(camera, "Width")),
            height=int(_get(camera, "Height")),
            offset_x=int(_get(camera, "OffsetX") or 0),
            offset_y=int(_get(camera, "OffsetY") or 0),
            fps=None if fps is None else float(fps),
            exposure_us=_float(_get(camera, "ExposureTime", "ExposureTimeAbs")),
            exposure_auto=_str(_get(camera, "ExposureAuto")),
            gain_db=_float(_get(camera, "Gain")),
            gain_auto=_str(_get(camera, "GainAuto")),
            pixel_format=self._pixel_format,
            trigger=s.trigger if _get(camera, "TriggerMode") == "On" else TriggerMode.FREE_RUN,
            trigger_line=_str(_get(camera, "TriggerSource")) if s.trigger is not TriggerMode.FREE_RUN else None,
            strobe_line=s.strobe_line,
            timestamp_source="host" if emulated else "camera",
            notes=tuple(notes + (["emulated camera: no camera clock, cam_t_s is arrival time"] if emulated else [])),
        )

    def software_trigger(self) -> None:
        camera = self._camera
        if camera is None:
            return
        if camera.WaitForFrameTriggerReady(1000, self._pylon.TimeoutHandling_Return):
            camera.ExecuteSoftwareTrigger()

    def retrieve(self, timeout_s: float) -> RawFrame | None:
        camera, pylon = self._camera, self._pylon
        if camera is None or not camera.IsGrabbing():
            raise CameraLost(f"{self.description}: not grabbing")
        result = camera.RetrieveResult(max(1, int(timeout_s * 1000)), pylon.TimeoutHandling_Return)
        if result is None or not result.IsValid():
            return None
        try:
            if not result.GrabSucceeded():
                log.debug("%s: failed grab %s", self.description, result.GetErrorDescription())
                return RawFrame(image=_EMPTY, frame_id=None, cam_t_s=None, ok=False)
            image = to_grey8(result.GetArray(), self._pixel_format)
            stamp = int(result.GetTimeStamp())
            return RawFrame(
                image=image,
                frame_id=int(result.GetBlockID()),
                cam_t_s=stamp / self._tick_hz if stamp else None,
            )
        finally:
            result.Release()

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            if camera.IsGrabbing():
                camera.StopGrabbing()
        finally:
            camera.Close()


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


import numpy as np  # noqa: E402  (only for the placeholder below)

_EMPTY = np.zeros((1, 1), dtype=np.uint8)
