"""Camera settings (what the rig file asks for) and their read-back (what the camera runs at).

``CameraSettings`` is a frozen pydantic model that the rig file's ``camera`` section embeds.
Every field is a request: a backend applies them all before the session and reads every
one back into ``AppliedCameraSettings``, which goes into session.json, so the record says
what the camera actually ran at (a camera rounds width to its increment, clamps fps to what
the exposure and the link allow, and so on).

Exposure is always fixed: there is no "auto" value. Auto-exposure lengthens the exposure in
dim light and silently halves the frame rate (DeepLabCut-live-GUI #30), and it changes the
image the background was built from, so a backend switches ``ExposureAuto`` and ``GainAuto``
off and a session refuses a camera whose read-back says otherwise.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TriggerMode(StrEnum):
    """How frames are started."""

    FREE_RUN = "free_run"  # the camera's own clock at ``fps``
    HARDWARE = "hardware"  # an edge on ``trigger_line`` (from the board) starts each frame
    SOFTWARE = "software"  # the host sends a trigger command for each frame


class PixelFormat(StrEnum):
    """Pixel formats the engine accepts (it tracks on 8-bit grey; others are converted)."""

    MONO8 = "mono8"
    MONO10 = "mono10"
    MONO12 = "mono12"
    MONO16 = "mono16"
    BGR8 = "bgr8"
    RGB8 = "rgb8"


class TriggerEdge(StrEnum):
    RISING = "rising"
    FALLING = "falling"


#: GenICam SFNC names of the pixel formats (Basler uses the same symbols).
GENICAM_PIXEL_FORMATS: dict[PixelFormat, str] = {
    PixelFormat.MONO8: "Mono8",
    PixelFormat.MONO10: "Mono10",
    PixelFormat.MONO12: "Mono12",
    PixelFormat.MONO16: "Mono16",
    PixelFormat.BGR8: "BGR8Packed",
    PixelFormat.RGB8: "RGB8Packed",
}
#: Some cameras use the newer SFNC names for packed colour.
GENICAM_PIXEL_ALIASES: dict[str, PixelFormat] = {
    **{v: k for k, v in GENICAM_PIXEL_FORMATS.items()},
    "BGR8": PixelFormat.BGR8,
    "RGB8": PixelFormat.RGB8,
}


class CameraSettings(BaseModel):
    """What the rig asks of its camera. ``width``/``height`` ``None`` = the full sensor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int | None = Field(None, ge=16, le=16384, description="ROI width in pixels (None: full sensor)")
    height: int | None = Field(None, ge=16, le=16384, description="ROI height in pixels (None: full sensor)")
    offset_x: int = Field(0, ge=0, description="ROI left edge in pixels")
    offset_y: int = Field(0, ge=0, description="ROI top edge in pixels")
    fps: float = Field(30.0, gt=0, le=1000, description="frames per second (free run); expected rate when triggered")
    exposure_us: float = Field(
        8000.0, gt=0, le=1_000_000, description="fixed exposure time in microseconds (never automatic)"
    )
    gain_db: float = Field(0.0, ge=0, le=48, description="fixed analogue gain in dB (never automatic)")
    pixel_format: PixelFormat = PixelFormat.MONO8
    trigger: TriggerMode = TriggerMode.FREE_RUN
    trigger_line: str = Field("Line1", min_length=1, description="camera input line for a hardware trigger")
    trigger_edge: TriggerEdge = TriggerEdge.RISING
    strobe_line: str | None = Field(
        None, description="camera output line that carries the exposure-active strobe (None: off)"
    )

    @model_validator(mode="after")
    def _exposure_fits_frame(self) -> CameraSettings:
        # A frame cannot be shorter than its exposure: asking for 8 ms at 200 fps would make
        # the camera silently run at 125 fps. Say so before anything opens.
        period_us = 1e6 / self.fps
        if self.exposure_us >= period_us:
            raise ValueError(
                f"exposure_us {self.exposure_us:g} does not fit in one frame at {self.fps:g} fps "
                f"(period {period_us:.0f} us); shorten the exposure or lower fps"
            )
        if self.strobe_line is not None and self.strobe_line == self.trigger_line and (
            self.trigger is TriggerMode.HARDWARE
        ):
            raise ValueError(
                f"strobe_line and trigger_line are both {self.strobe_line!r}; one line cannot be "
                "trigger input and strobe output"
            )
        return self


class AppliedCameraSettings(BaseModel):
    """What the camera reported after the settings were applied (read back, not assumed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    model: str = ""
    serial: str = ""
    width: int
    height: int
    offset_x: int = 0
    offset_y: int = 0
    fps: float | None = Field(None, description="frame rate the camera says it will deliver")
    exposure_us: float | None = None
    exposure_auto: str | None = Field(None, description="the camera's ExposureAuto read back ('Off')")
    gain_db: float | None = None
    gain_auto: str | None = None
    pixel_format: str = ""
    trigger: TriggerMode = TriggerMode.FREE_RUN
    trigger_line: str | None = None
    strobe_line: str | None = None
    timestamp_source: str = Field(
        "host", description="'camera' when cam_t_s is the camera's clock, 'host' when it is arrival time"
    )
    notes: tuple[str, ...] = ()

    def differences(self, requested: CameraSettings) -> list[str]:
        """Human-readable differences between request and read-back (for a warning)."""
        out: list[str] = []
        if requested.width is not None and requested.width != self.width:
            out.append(f"width {requested.width} -> {self.width}")
        if requested.height is not None and requested.height != self.height:
            out.append(f"height {requested.height} -> {self.height}")
        if self.fps is not None and abs(self.fps - requested.fps) > 0.01 * requested.fps:
            out.append(f"fps {requested.fps:g} -> {self.fps:g}")
        if self.exposure_us is not None and abs(self.exposure_us - requested.exposure_us) > max(
            1.0, 0.01 * requested.exposure_us
        ):
            out.append(f"exposure_us {requested.exposure_us:g} -> {self.exposure_us:g}")
        if self.gain_db is not None and abs(self.gain_db - requested.gain_db) > 0.1:
            out.append(f"gain_db {requested.gain_db:g} -> {self.gain_db:g}")
        return out

    def record(self) -> dict[str, Any]:
        """The session.json form."""
        return self.model_dump(mode="json")


def exposure_is_automatic(applied: AppliedCameraSettings) -> bool:
    """True when the read-back says the camera adjusts exposure or gain by itself."""
    return any(
        value is not None and value.lower() not in ("off", "")
        for value in (applied.exposure_auto, applied.gain_auto)
    )
