"""Remembered set-up choices (QSettings), so a technician's last session is pre-filled.

Tests move QSettings into ``tmp_path`` with :func:`use_settings_dir`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PyQt6.QtCore import QSettings

ORGANIZATION = "optorig"
APPLICATION = "rig-gui"


def use_settings_dir(path: Path) -> None:
    """Store settings as INI files under ``path`` (tests; portable installs)."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(path))


def open_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


@dataclass(frozen=True, slots=True)
class SetupChoices:
    """Everything the set-up panel asks for (strings, as typed or picked)."""

    protocol_path: str = ""
    animal_id: str = ""
    experimenter: str = ""
    notes: str = ""
    #: "protocol" (the protocol's side or counterbalancing rule), "left" or "right".
    stim_side: str = "protocol"
    #: "synthetic", "video" or "camera".
    source_kind: str = "synthetic"
    video_path: str = ""
    camera_index: int = 0
    #: "mock" or a serial port name.
    board: str = "mock"
    #: The rig hardware file (docs/rig.md); empty: default pins, no interlock, no PWM.
    rig_path: str = ""
    output_dir: str = ""
    #: Playback speed of simulated sources: "1", "2", "10" or "max".
    speed: str = "1"
    #: Arena calibration chosen in the editor, used instead of the protocol's ("" = none).
    calibration_path: str = ""
    #: Cohort file (animal_id, group, ..., stim_side): the animal's side comes from it ("" = none).
    cohort_path: str = ""

    def source_spec(self) -> str:
        """The registry spec of the chosen source (``synthetic``, ``video:PATH``, ``camera:N``)."""
        if self.source_kind == "video":
            return f"video:{self.video_path}"
        if self.source_kind == "camera":
            return f"camera:{self.camera_index}"
        return "synthetic"

    def board_spec(self) -> str:
        return "mock" if self.board == "mock" else f"firmata:{self.board}"

    def speed_value(self) -> float | None:
        """Speed for the runner: a factor, or None for as fast as possible."""
        return None if self.speed == "max" else float(self.speed)

    @property
    def simulated(self) -> bool:
        return self.source_kind != "camera" or self.board == "mock"


def load_choices(settings: QSettings | None = None) -> SetupChoices:
    """The last saved choices (defaults where nothing was saved or a value is unreadable)."""
    settings = settings or open_settings()
    values: dict[str, object] = {}
    defaults = SetupChoices()
    for field in fields(SetupChoices):
        default = getattr(defaults, field.name)
        raw = settings.value(f"setup/{field.name}", default)
        try:
            values[field.name] = type(default)(raw)
        except (TypeError, ValueError):
            values[field.name] = default
    return SetupChoices(**values)  # type: ignore[arg-type]


def save_choices(choices: SetupChoices, settings: QSettings | None = None) -> None:
    settings = settings or open_settings()
    for name, value in asdict(choices).items():
        settings.setValue(f"setup/{name}", value)
    settings.sync()
