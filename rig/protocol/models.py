"""The protocol file format (YAML, ``schema_version: 2``) as frozen pydantic models.

A protocol is the science: arena zones in cm, phases, stimulation, decision rules,
safety limits, tracking and recording settings. Every model rejects unknown keys and
every quantity carries its unit in its name. Cross-field rules that need no other file
live here; rules that need the calibration file (zones inside the arena, target power
within the laser calibration) live in ``rig.protocol.load``.

Schema 2 states every decision time in seconds (``debounce_s``,
``tracking_loss_grace_s``) and the tracker's jump limit as a speed (``max_speed_cm_s``), so a
dropped frame cannot stretch them. Schema-1 files (frame counts) still load: ``rig.protocol.load``
converts them with the protocol's ``tracking.camera_fps`` (``rig.protocol.migrate``) and the
conversion is noted in the session record; ``rig migrate FILE`` writes a schema-2 copy.

Coordinates: origin at the arena's top-left corner as seen by the camera, x to the
right, y downward, in cm. The two compartments are called ``left`` and ``right``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rig.devices.limits import FIRMWARE_MAX_FREQUENCY_HZ, FIRMWARE_MIN_PULSE_WIDTH_MS
from rig.zones import CircleCm, PolygonCm

SCHEMA_VERSION = 2

Side = Literal["left", "right"]


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False
    )


class Metadata(_Model):
    """Who wrote the protocol and what it is for."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$")] = Field(
        description="Short identifier used in session folder names (letters, digits, _ . -)."
    )
    description: str = Field("", description="Free text: the question this protocol asks.")
    author: str = Field("", description="Who wrote it.")
    version: str = Field("1", description="The protocol's own version (free text, e.g. 1.2).")


class Rect(_Model):
    """An axis-aligned rectangle in arena cm."""

    x_min_cm: float = Field(description="Left edge (cm from the arena's left wall).")
    x_max_cm: float = Field(description="Right edge (cm).")
    y_min_cm: float = Field(description="Top edge (cm from the arena's top wall).")
    y_max_cm: float = Field(description="Bottom edge (cm).")

    @model_validator(mode="after")
    def _ordered(self) -> Rect:
        if self.x_max_cm <= self.x_min_cm:
            raise ValueError(
                f"x_max_cm: {self.x_max_cm:g} cm must be greater than x_min_cm "
                f"({self.x_min_cm:g} cm)"
            )
        if self.y_max_cm <= self.y_min_cm:
            raise ValueError(
                f"y_max_cm: {self.y_max_cm:g} cm must be greater than y_min_cm "
                f"({self.y_min_cm:g} cm)"
            )
        return self

    def overlaps(self, other: Rect) -> bool:
        return (
            self.x_min_cm < other.x_max_cm
            and other.x_min_cm < self.x_max_cm
            and self.y_min_cm < other.y_max_cm
            and other.y_min_cm < self.y_max_cm
        )


class Compartments(_Model):
    """Explicit compartment rectangles; the space between them is the neutral band."""

    left: Rect = Field(description="The left compartment as seen by the camera.")
    right: Rect = Field(description="The right compartment as seen by the camera.")

    @model_validator(mode="after")
    def _no_overlap(self) -> Compartments:
        if self.left.overlaps(self.right):
            raise ValueError("the left and right compartments overlap")
        return self


class SideAssignment(_Model):
    """Which compartment is stimulated, or the counterbalancing rule that decides it.

    - ``fixed``: always ``side``.
    - ``animal_id``: from the last digit in the animal ID: even -> ``side``, odd -> the
      other side (IDs without a digit are refused at start).
    - ``random``: drawn from ``seed`` and the animal ID (drawn and recorded when empty).
    - ``cohort``: from the animal's row in the cohort file (``--cohort cohort.csv``; fill it
      balanced with ``rig cohort assign``). A cohort file given on the command line always
      decides, whatever the rule.
    The chosen side and the rule are written to ``session.json``. (The schema-1 rule
    ``alternate`` counted earlier sessions in the output folder, so an animal changed side
    between days; it is refused: use a cohort file.)
    """

    rule: Literal["fixed", "animal_id", "random", "cohort"] = Field(
        "fixed", description="How the stimulated side is chosen."
    )
    side: Side = Field(
        "left", description="The stimulated side for `fixed`, and the side for even digits."
    )
    seed: int | None = Field(
        None, ge=0, description="Seed for `random`; when empty one is drawn and recorded."
    )


ZoneName = Annotated[
    str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
]


class ZoneSpec(_Model):
    """A named zone: a polygon (vertices in order) or a circle (centre and radius), in cm."""

    name: ZoneName = Field(description="Zone name (lower case letters, digits, _), e.g. left.")
    shape: Literal["polygon", "circle"] = Field(description="`polygon` or `circle`.")
    points_cm: Annotated[list[tuple[float, float]], Field(min_length=3, max_length=200)] | None = (
        Field(None, description="polygon: vertices [x_cm, y_cm] in order; it closes itself.")
    )
    centre_cm: tuple[float, float] | None = Field(None, description="circle: centre [x_cm, y_cm].")
    radius_cm: float | None = Field(None, gt=0, description="circle: radius.")

    @model_validator(mode="after")
    def _shape_fields(self) -> ZoneSpec:
        if self.shape == "polygon":
            if self.points_cm is None:
                raise ValueError("points_cm: a polygon zone needs its vertices")
            if self.centre_cm is not None or self.radius_cm is not None:
                raise ValueError("centre_cm/radius_cm: only for circle zones")
            from rig.zones_check import polygon_problem

            problem = polygon_problem(self.points_cm)
            if problem:
                raise ValueError(f"points_cm: {problem}")
        else:
            if self.centre_cm is None or self.radius_cm is None:
                raise ValueError("centre_cm and radius_cm: a circle zone needs both")
            if self.points_cm is not None:
                raise ValueError("points_cm: only for polygon zones")
        return self

    def shape_cm(self) -> PolygonCm | CircleCm:
        if self.points_cm is not None:
            return PolygonCm(tuple((float(x), float(y)) for x, y in self.points_cm))
        assert self.centre_cm is not None and self.radius_cm is not None
        return CircleCm(float(self.centre_cm[0]), float(self.centre_cm[1]), self.radius_cm)


class Arena(_Model):
    """The chamber: calibration file, zones (compartments), neutral band, stimulated zones."""

    calibration: str = Field(
        description="Arena calibration file, looked up beside the protocol, then in calibration/."
    )
    neutral_band_cm: float = Field(
        4.0,
        ge=0,
        description="Width of the neutral band centred between the compartments, used when "
        "`compartments` is not given.",
    )
    compartments: Compartments | None = Field(
        None,
        description="Explicit compartment rectangles. When empty, the arena is split at its "
        "middle (x) with `neutral_band_cm` between the halves.",
    )
    stimulated: SideAssignment = Field(
        default_factory=lambda: SideAssignment(),
        description="The stimulated side or the counterbalancing rule.",
    )
    zones: list[ZoneSpec] | None = Field(
        None,
        description="Named polygon and circle zones (any layout: 3 chambers, open field ...). "
        "A point on an edge is inside; where zones touch or overlap the zone listed first "
        "wins; outside every zone is neutral. Replaces `compartments` and the split layout.",
    )
    overlaps: list[tuple[ZoneName, ZoneName]] = Field(
        default_factory=list,
        description="Pairs of zones allowed to overlap (e.g. [inner, outer] in an open "
        "field); any other overlap is an error.",
    )
    stimulated_zones: list[ZoneName] | None = Field(
        None,
        description="Zones that get light in closed-loop phases. When empty, the zone named "
        "like the stimulated side (`left` or `right`) gets light.",
    )
    min_neutral_band_cm: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Smallest gap required between a zone that gets light and one that does "
        "not (checked by `rig validate`; 0 lets them touch).",
    )

    @model_validator(mode="after")
    def _zones_consistent(self) -> Arena:
        if self.zones is None:
            if self.stimulated_zones is not None or self.overlaps:
                raise ValueError("stimulated_zones and overlaps need named `zones`")
            return self
        if self.compartments is not None:
            raise ValueError("give either `zones` or `compartments`, not both")
        names = [z.name for z in self.zones]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"zones: zone names must be unique, repeated: {', '.join(repeated)}")
        reserved = sorted(set(names) & {"neutral", "lost"})
        if reserved:
            raise ValueError(f"zones: {', '.join(reserved)} is reserved (outside every zone)")
        known = set(names)
        for a, b in self.overlaps:
            for n in (a, b):
                if n not in known:
                    raise ValueError(f"overlaps: no zone named {n!r}")
        if self.stimulated_zones is not None:
            for n in self.stimulated_zones:
                if n not in known:
                    raise ValueError(f"stimulated_zones: no zone named {n!r}")
        elif not {"left", "right"} <= known:
            raise ValueError(
                "stimulated_zones: name the zones that get light, or call two zones `left` "
                "and `right` so the stimulated side chooses"
            )
        return self

    def light_zones(self, stim_side: str) -> frozenset[str]:
        """Names of the zones that get light for a stimulated side (closed loop)."""
        if self.zones is None or self.stimulated_zones is None:
            return frozenset({stim_side})
        return frozenset(self.stimulated_zones)


class OpenLoopSchedule(_Model):
    """Light on/off cycles regardless of position (e.g. 3 min on / 3 min off)."""

    on_s: float = Field(gt=0, description="Light-on period of each cycle.")
    off_s: float = Field(gt=0, description="Light-off period of each cycle.")
    start_on: bool = Field(True, description="Whether the phase starts with the on period.")


class Phase(_Model):
    """One phase of the session, run in order."""

    name: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        description="Name shown and recorded (e.g. baseline, test, reversal)."
    )
    duration_s: float = Field(gt=0, description="Length of the phase.")
    mode: Literal["off", "closed_loop", "open_loop"] = Field(
        "off",
        description="off: light never on. closed_loop: light follows the animal's compartment. "
        "open_loop: light on for the whole phase or on `schedule`, wherever the animal is.",
    )
    swap_sides: bool = Field(
        False, description="Swap the stimulated side for this phase (a reversal phase)."
    )
    schedule: OpenLoopSchedule | None = Field(
        None, description="open_loop only: on/off cycles; empty means on for the whole phase."
    )

    @model_validator(mode="after")
    def _schedule_only_open_loop(self) -> Phase:
        if self.schedule is not None and self.mode != "open_loop":
            raise ValueError(
                f"schedule: a schedule is only used in open_loop phases, not in {self.mode!r}"
            )
        return self


class ZoneStimulation(_Model):
    """Pulse-train settings of one zone, overriding `stimulation`'s (per-zone light)."""

    frequency_hz: float | None = Field(None, gt=0, description="Pulse frequency in this zone.")
    pulse_width_ms: float | None = Field(None, gt=0, description="Pulse width in this zone.")
    target_power_mw: float | None = Field(
        None,
        gt=0,
        description="Not supported: optorig's boards switch the laser by TTL and cannot set "
        "its power per zone; set the power at the laser driver.",
    )

    @model_validator(mode="after")
    def _no_power(self) -> ZoneStimulation:
        if self.target_power_mw is not None:
            raise ValueError(
                "target_power_mw: the board switches the laser on and off (TTL) and cannot "
                "change its power per zone; set the power at the laser driver and use one "
                "stimulation.target_power_mw"
            )
        return self


class Stimulation(_Model):
    """What the board does while the laser gate is open."""

    wavelength_nm: float = Field(473.0, gt=200, lt=1200, description="Laser wavelength.")
    mode: Literal["continuous", "pulse_train"] = Field(
        "pulse_train", description="continuous light, or a device-timed pulse train."
    )
    frequency_hz: float = Field(
        20.0,
        gt=0,
        description=f"Pulse frequency (pulse_train). The firmware generates at most "
        f"{FIRMWARE_MAX_FREQUENCY_HZ:g} Hz.",
    )
    pulse_width_ms: float = Field(
        15.0,
        gt=0,
        description=f"Pulse width (pulse_train); at least {FIRMWARE_MIN_PULSE_WIDTH_MS:g} ms "
        "and shorter than the period.",
    )
    ramp_down_ms: float = Field(
        0.0,
        ge=0,
        le=10000,
        description="continuous only: linear ramp-down of an analog-modulated driver at gate "
        "close, to avoid rebound excitation (0 = step off).",
    )
    target_power_mw: float | None = Field(
        None,
        gt=0,
        description="Intended power at the fibre tip (informational; checked against the laser "
        "power calibration when one is given).",
    )
    power_calibration: str | None = Field(
        None, description="Laser power calibration file (beside the protocol or in calibration/)."
    )
    zones: dict[ZoneName, ZoneStimulation] = Field(
        default_factory=dict,
        description="Per-zone pulse trains, e.g. {inner: {frequency_hz: 40}}: when the light "
        "comes on in that zone the board is reconfigured (gate closed) and the configuration "
        "it acknowledged is recorded (`laser_config` event). Zones not listed use the "
        "settings above.",
    )

    def for_zone(self, name: str) -> Stimulation:
        """The stimulation in zone ``name`` (this one when the zone has no override)."""
        override = self.zones.get(name)
        if override is None:
            return self
        data = self.model_dump()
        data["zones"] = {}
        for key in ("frequency_hz", "pulse_width_ms"):
            value = getattr(override, key)
            if value is not None:
                data[key] = value
        return Stimulation.model_validate(data)

    @property
    def period_ms(self) -> float:
        return 1000.0 / self.frequency_hz

    @property
    def duty_cycle(self) -> float:
        """Fraction of gate-open time the light is on."""
        if self.mode == "continuous":
            return 1.0
        return self.pulse_width_ms / self.period_ms

    @model_validator(mode="after")
    def _train_fits(self) -> Stimulation:
        if self.mode == "pulse_train":
            if self.frequency_hz > FIRMWARE_MAX_FREQUENCY_HZ:
                raise ValueError(
                    f"frequency_hz: {self.frequency_hz:g} Hz is above what the firmware can "
                    f"generate ({FIRMWARE_MAX_FREQUENCY_HZ:g} Hz)"
                )
            if self.pulse_width_ms < FIRMWARE_MIN_PULSE_WIDTH_MS:
                raise ValueError(
                    f"pulse_width_ms: {self.pulse_width_ms:g} ms is shorter than the firmware's "
                    f"shortest pulse ({FIRMWARE_MIN_PULSE_WIDTH_MS:g} ms)"
                )
            if self.pulse_width_ms >= self.period_ms:
                raise ValueError(
                    f"pulse_width_ms: {self.pulse_width_ms:g} ms pulses do not fit a "
                    f"{self.frequency_hz:g} Hz period ({self.period_ms:g} ms)"
                )
            if self.ramp_down_ms > 0:
                raise ValueError("ramp_down_ms: a ramp-down is only used with continuous light")
        elif self.zones:
            raise ValueError("zones: per-zone trains need mode pulse_train")
        for name in self.zones:
            try:
                self.for_zone(name)
            except ValueError as err:
                raise ValueError(f"zones.{name}: {_first_error(err)}") from None
        return self


def _first_error(err: ValueError) -> str:
    errors = getattr(err, "errors", None)
    if callable(errors):
        first = errors()[0]
        return str(first.get("msg", err)).removeprefix("Value error, ")
    return str(err)


class Decision(_Model):
    """How a tracked position becomes a laser decision (times in seconds, not frames)."""

    debounce_s: float = Field(
        0.066666,
        ge=0,
        le=10,
        description="A new compartment counts once the animal has been seen in it continuously "
        "for this long (from its first frame there); 0 = at once. The default is schema 1's "
        "3 frames at 30 fps.",
    )
    neutral_band: Literal["hold", "off"] = Field(
        "hold",
        description="In the neutral band: hold the last compartment's state, or turn light off.",
    )
    tracking_loss_grace_s: float = Field(
        0.166666,
        ge=0,
        le=60,
        description="Time without a position during which the last state is held; "
        "then the light goes off until the animal is found again (0 = off at once).",
    )


class Safety(_Model):
    """Limits enforced by the host policy (and again by the firmware)."""

    max_continuous_on_s: float = Field(
        30.0, gt=0, le=3600, description="Longest uninterrupted gate-open time."
    )
    forced_off_s: float = Field(
        5.0, gt=0, le=3600, description="Light-off period forced after the continuous limit."
    )
    max_total_on_s: float = Field(
        1800.0, gt=0, description="Most gate-open time in the whole session."
    )
    max_duty_cycle: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Largest allowed light-on fraction of a pulse train "
        "(pulse_width_ms x frequency_hz); continuous light has a duty cycle of 1.",
    )
    on_total_limit: Literal["continue_without_light", "stop_session"] = Field(
        "continue_without_light",
        description="What happens when max_total_on_s is reached.",
    )


class Background(_Model):
    """Where the tracker's empty-arena background comes from."""

    source: Literal["first_frames", "image", "median"] = Field(
        "median",
        description="first_frames: median of frames over the first `duration_s` (arena empty "
        "then); image: a saved image; median: per-pixel median of `n_frames` frames sampled "
        "over `duration_s` (works with the animal present, as long as it moves).",
    )
    duration_s: float = Field(10.0, gt=0, description="Time span sampled for the background.")
    n_frames: int = Field(60, ge=3, le=1000, description="Frames in the median.")
    image: str | None = Field(None, description="Background image file (source: image).")

    @model_validator(mode="after")
    def _image_given(self) -> Background:
        if self.source == "image" and not self.image:
            raise ValueError("image: a background image file is required when source is 'image'")
        return self


class Tracking(_Model):
    """Settings of the background-subtraction tracker."""

    animal: Literal["dark", "light"] = Field(
        "dark", description="Whether the animal is darker or lighter than the floor."
    )
    threshold: Literal["auto"] | Annotated[int, Field(ge=1, le=254)] = Field(
        "auto", description="Grey-level difference threshold (1-254), or auto (Otsu)."
    )
    min_area_cm2: float = Field(2.0, gt=0, description="Smallest plausible animal blob.")
    max_area_cm2: float = Field(80.0, gt=0, description="Largest plausible animal blob.")
    max_speed_cm_s: float = Field(
        450.0,
        gt=0,
        description="Faster apparent moves count as lost tracking (the jump allowed between "
        "frames is this speed x the camera's frame interval, 1 / camera_fps).",
    )
    tether_removal_cm: float = Field(
        0.5, ge=0, description="Morphological opening size that erases a thin tether cable."
    )
    camera_fps: float = Field(30.0, gt=0, le=500, description="Frame rate expected from the camera.")
    background: Background = Field(default_factory=lambda: Background())

    @property
    def max_jump_cm(self) -> float:
        """Largest move allowed between two frames at the expected frame rate."""
        return self.max_speed_cm_s / self.camera_fps

    @model_validator(mode="after")
    def _areas(self) -> Tracking:
        if self.max_area_cm2 <= self.min_area_cm2:
            raise ValueError(
                f"max_area_cm2: {self.max_area_cm2:g} cm2 must be greater than "
                f"min_area_cm2 ({self.min_area_cm2:g} cm2)"
            )
        return self


#: Video codecs the recorder can write (rig.session.video.CODECS; a test keeps them equal).
VIDEO_CODECS = ("MJPG", "FFV1", "H264", "MP4V")


class Recording(_Model):
    """What is saved besides frames.csv and events.csv."""

    save_video: bool = Field(False, description="Save the raw video next to the record.")
    codec: str = Field(
        "MJPG",
        description="Codec of the saved video: MJPG (video.avi, default), FFV1 (video.mkv, "
        "lossless, for re-scoring), H264 (video.mp4, near-lossless), MP4V (video.mp4).",
    )
    output_dir: str = Field(
        "sessions/{date}_{time}_{animal}_{protocol}",
        description="Session folder pattern; fields {date} {time} {animal} {protocol}. "
        "An existing folder is never reused.",
    )

    @field_validator("codec")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        if value.upper() not in VIDEO_CODECS:
            raise ValueError(f"must be one of {', '.join(VIDEO_CODECS)}, got {value!r}")
        return value.upper()

    @field_validator("output_dir")
    @classmethod
    def _relative_folder(cls, value: str) -> str:
        parts = value.replace("\\", "/").split("/")
        if not value.strip() or all(part in ("", ".") for part in parts):
            raise ValueError(
                f"must name a folder inside --out (e.g. sessions/{{date}}_{{time}}_{{animal}}), got {value!r}"
            )
        if value.startswith(("/", "\\")) or ".." in parts or (len(value) > 1 and value[1] == ":"):
            raise ValueError(f"must be a relative path inside --out without '..', got {value!r}")
        return value


class Analysis(_Model):
    """The primary endpoint, declared before any data exist (read by ``rig group``)."""

    primary_endpoint: Literal["difference_score", "stim_pct"] = Field(
        "difference_score",
        description="difference_score: % time on the stimulated side in `primary_phase` minus "
        "`baseline_phase`; stim_pct: % time on the stimulated side in `primary_phase`. "
        "Compared between groups (Welch t-test; Welch ANOVA for more than two groups).",
    )
    primary_phase: str | None = Field(
        None, description="The test phase of the primary endpoint (default: first closed_loop phase)."
    )
    baseline_phase: str | None = Field(
        None, description="The baseline phase (default: first off phase)."
    )


class Protocol(_Model):
    """A complete place-preference protocol."""

    schema_version: Literal[2] = Field(
        description="Format version of this file: 2 (schema-1 files are converted on loading)."
    )
    metadata: Metadata
    arena: Arena
    phases: list[Phase] = Field(min_length=1, description="Phases, run in order.")
    stimulation: Stimulation = Field(default_factory=lambda: Stimulation())
    decision: Decision = Field(default_factory=lambda: Decision())
    safety: Safety = Field(default_factory=lambda: Safety())
    tracking: Tracking = Field(default_factory=lambda: Tracking())
    recording: Recording = Field(default_factory=lambda: Recording())
    analysis: Analysis = Field(default_factory=lambda: Analysis())

    @property
    def duration_s(self) -> float:
        return sum(p.duration_s for p in self.phases)

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        names = [p.name for p in self.phases]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"phases: phase names must be unique, repeated: {', '.join(duplicated)}")
        frame_s = 1.0 / self.tracking.camera_fps
        for index, phase in enumerate(self.phases):
            if phase.duration_s < frame_s:
                raise ValueError(
                    f"phases[{index}].duration_s: {phase.duration_s:g} s is shorter than one "
                    f"camera frame ({frame_s:.4g} s at tracking.camera_fps "
                    f"{self.tracking.camera_fps:g})"
                )
        zone_names = (
            {z.name for z in self.arena.zones} if self.arena.zones is not None else {"left", "right"}
        )
        for name in self.stimulation.zones:
            if name not in zone_names:
                raise ValueError(
                    f"stimulation.zones: no zone named {name!r} in the arena "
                    f"(zones: {', '.join(sorted(zone_names))})"
                )
            duty = self.stimulation.for_zone(name).duty_cycle
            if duty > self.safety.max_duty_cycle + 1e-9:
                raise ValueError(
                    f"stimulation.zones.{name}: duty cycle {duty:.0%} exceeds "
                    f"safety.max_duty_cycle {self.safety.max_duty_cycle:.0%}"
                )
        for key in ("primary_phase", "baseline_phase"):
            named = getattr(self.analysis, key)
            if named is not None and named not in names:
                raise ValueError(
                    f"analysis.{key}: {named!r} is not a phase (phases: {', '.join(names)})"
                )
        if self.stimulation.duty_cycle > self.safety.max_duty_cycle + 1e-9:
            raise ValueError(
                f"stimulation: duty cycle {self.stimulation.duty_cycle:.0%} exceeds "
                f"safety.max_duty_cycle {self.safety.max_duty_cycle:.0%}; shorten "
                "pulse_width_ms, lower frequency_hz or raise safety.max_duty_cycle"
            )
        return self
