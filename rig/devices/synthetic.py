"""SyntheticArena: a rendered two-compartment arena with a walking mouse and known truth.

Production code: the simulated session (``rig demo``, ``rig run --simulate``) and the
tracker tests run on it. Frames are rendered at the calibration's camera resolution:
bright floor inside the arena corners, darker walls outside, an optional divider with a
doorway, and a dark mouse (body ellipse 8 x 3.5 cm, head, tapering tail) that moves with
plausible statistics:

- bouts of walking (10-25 cm/s, 1.5-6 s) separated by pauses (0.3-2.5 s);
- smooth heading changes (turn rate limited, with a little noise);
- thigmotaxis: most goals are the next stretch of wall (walking along the walls), some
  are random points anywhere, so the animal crosses between the compartments several
  times a minute; with a divider, paths between compartments go through the doorway.

Each frame carries ``truth``: the centroid of the drawn body (trunk + head, not the tail),
in px and cm; ``None`` while the animal is hidden (``hidden_s``). Rendering is cheap: the
static background is rendered once, the animal is drawn into a copy, and noise comes from
a pre-generated buffer read at a random offset. Deterministic per ``seed``. Never sleeps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.calibration import ArenaCalibration, CameraResolution, PixelMapper
from rig.devices.frames import Frame, GroundTruth, SourceKind
from rig.devices.lifecycle import OpenedByWith

_SHIFT = 4  # fractional bits for sub-pixel drawing
_SCALE = 1 << _SHIFT

FLOOR_GREY = 200
WALL_GREY = 95
OUTSIDE_GREY = 55
MOUSE_GREY = 45

BODY_LENGTH_CM = 8.0
BODY_WIDTH_CM = 3.5
WALL_MARGIN_CM = 2.5  # closest the body centre gets to a wall
NOSE_CM = 5.6  # nose tip ahead of the body centre
DOOR_HALF_CM = 4.0  # half the doorway width in the divider


#: Where the synthetic camera shows the sync LED: (x, y, width, height) px, the image's
#: top-left corner, outside the arena (the tracker's mask excludes it).
DEFAULT_LED_ROI = (6, 6, 20, 20)
LED_OFF_GREY = 70
LED_ON_GREY = 250


class SyncLedView(Protocol):
    """What the synthetic camera needs from a board to show its sync LED (MockBoard)."""

    def sync_led_lit(self, start_ns: int, end_ns: int) -> bool: ...


def synthetic_calibration(
    width_px: int = 640,
    height_px: int = 480,
    width_cm: float = 60.0,
    length_cm: float = 30.0,
    border_frac: float = 0.06,
) -> ArenaCalibration:
    """A calibration for a synthetic camera: the arena centred, filling most of the image."""
    usable_w = width_px * (1 - 2 * border_frac)
    usable_h = height_px * (1 - 2 * border_frac)
    px_per_cm = min(usable_w / width_cm, usable_h / length_cm)
    arena_w, arena_h = width_cm * px_per_cm, length_cm * px_per_cm
    x0, y0 = (width_px - arena_w) / 2, (height_px - arena_h) / 2
    corners = [(x0, y0), (x0 + arena_w, y0), (x0 + arena_w, y0 + arena_h), (x0, y0 + arena_h)]
    return ArenaCalibration(
        schema_version=1,
        kind="arena",
        name=f"synthetic-{width_px}x{height_px}",
        camera=CameraResolution(width_px=width_px, height_px=height_px),
        corners_px=[(round(x, 2), round(y, 2)) for x, y in corners],
        width_cm=width_cm,
        length_cm=length_cm,
    )


class _Walker:
    """The animal's motion in arena cm (origin top-left, x right, y down)."""

    def __init__(
        self,
        width_cm: float,
        length_cm: float,
        divider: bool,
        rng: np.random.Generator,
        round_floor: bool = False,
    ) -> None:
        self.width_cm = width_cm
        self.length_cm = length_cm
        self.divider = divider
        self.rng = rng
        #: A round open field inscribed in the arena's rectangle (centre, radius in cm).
        self.round_floor = round_floor
        self.cx, self.cy = width_cm / 2, length_cm / 2
        self.radius = min(width_cm, length_cm) / 2
        m = WALL_MARGIN_CM
        self.x_min, self.x_max = m, width_cm - m
        self.y_min, self.y_max = m, length_cm - m
        # Start in the left compartment (placed there by the experimenter).
        self.x = float(rng.uniform(self.x_min + 3.0, width_cm / 2 - 6.0))
        self.y = float(rng.uniform(self.y_min + 3.0, self.y_max - 3.0))
        self.heading = float(rng.uniform(-math.pi, math.pi))
        self.speed = 0.0
        self.target_speed = 0.0
        self.walking = False
        self.mode_left_s = float(rng.uniform(0.2, 1.0))
        self.turn_noise = 0.0
        self.clockwise = bool(rng.random() < 0.5)
        self.waypoints: list[tuple[float, float]] = []
        self.best_distance = math.inf
        self.blocked_s = 0.0
        self.tail_phase = 0.0
        if round_floor:
            self.x, self.y = self.cx - self.radius / 2, self.cy

    # --------------------------------------------------------------- planning
    def _side(self, x: float) -> int:
        return -1 if x < self.width_cm / 2 else 1

    def _route(self, start: tuple[float, float], goal: tuple[float, float]) -> list[tuple[float, float]]:
        if not self.divider:
            return [goal]
        mid, door_y = self.width_cm / 2, self.length_cm / 2
        clearance = BODY_WIDTH_CM / 2 + 1.0
        if abs(goal[0] - mid) < clearance:  # no goal inside the divider wall
            goal = (mid + clearance * self._side(goal[0]), goal[1])
        if self._side(start[0]) != self._side(goal[0]):
            s = self._side(start[0])
            return [(mid + 3.0 * s, door_y), (mid - 3.0 * s, door_y), goal]
        return [goal]

    def _perimeter_goal(self) -> list[tuple[float, float]]:
        """Waypoints along the inset rectangle (the wall) for 10-50 cm from the nearest wall point."""
        x0, x1, y0, y1 = self.x_min, self.x_max, self.y_min, self.y_max
        w, h = x1 - x0, y1 - y0
        perimeter = 2 * (w + h)
        # Parameter s along the perimeter, clockwise in image coordinates from top-left.
        x, y = min(max(self.x, x0), x1), min(max(self.y, y0), y1)
        d = {"top": y - y0, "right": x1 - x, "bottom": y1 - y, "left": x - x0}
        nearest = min(d, key=d.__getitem__)
        if nearest == "top":
            s = x - x0
        elif nearest == "right":
            s = w + (y - y0)
        elif nearest == "bottom":
            s = w + h + (x1 - x)
        else:
            s = 2 * w + h + (y1 - y)

        def point(t: float) -> tuple[float, float]:
            t %= perimeter
            if t < w:
                return (x0 + t, y0)
            if t < w + h:
                return (x1, y0 + t - w)
            if t < 2 * w + h:
                return (x1 - (t - w - h), y1)
            return (x0, y1 - (t - 2 * w - h))

        if self.rng.random() < 0.2:
            self.clockwise = not self.clockwise
        direction = 1.0 if self.clockwise else -1.0
        distance = float(self.rng.uniform(10.0, 50.0))
        corners = [0.0, w, w + h, 2 * w + h]
        points: list[tuple[float, float]] = []
        step = 0.0
        # Include the corners passed on the way so the path hugs the walls.
        candidates = []
        for c in corners:
            for k in (-1, 0, 1):
                rel = (c + k * perimeter - s) * direction
                if 0 < rel < distance:
                    candidates.append(rel)
        for rel in sorted(candidates) + [distance]:
            if rel > step:
                points.append(point(s + direction * rel))
                step = rel
        return points

    def _round_goals(self) -> list[tuple[float, float]]:
        """Along the round wall (70 %) or to a random point of the field."""
        r_walk = self.radius - WALL_MARGIN_CM - NOSE_CM
        if self.rng.random() < 0.7:
            a0 = math.atan2(self.y - self.cy, self.x - self.cx)
            sweep = float(self.rng.uniform(0.5, 2.0)) * (1 if self.clockwise else -1)
            return [
                (self.cx + r_walk * math.cos(a0 + sweep * k / 4), self.cy + r_walk * math.sin(a0 + sweep * k / 4))
                for k in range(1, 5)
            ]
        a = float(self.rng.uniform(-math.pi, math.pi))
        r = r_walk * math.sqrt(float(self.rng.uniform(0.0, 1.0)))
        return [(self.cx + r * math.cos(a), self.cy + r * math.sin(a))]

    def _plan(self) -> None:
        if self.round_floor:
            self.waypoints = self._round_goals()
            return
        if self.rng.random() < 0.7:
            goals = self._perimeter_goal()
        else:
            goals = [
                (
                    float(self.rng.uniform(self.x_min, self.x_max)),
                    float(self.rng.uniform(self.y_min, self.y_max)),
                )
            ]
        start = (self.x, self.y)
        waypoints: list[tuple[float, float]] = []
        for goal in goals:
            waypoints.extend(self._route(start, goal))
            start = goal
        self.waypoints = waypoints

    # --------------------------------------------------------------- stepping
    def step(self, dt_s: float) -> None:
        rng = self.rng
        self.mode_left_s -= dt_s
        if self.mode_left_s <= 0:
            self.walking = not self.walking
            if self.walking:
                self.target_speed = float(rng.uniform(10.0, 25.0))
                self.mode_left_s = float(rng.uniform(1.5, 6.0))
            else:
                self.target_speed = 0.0
                self.mode_left_s = float(rng.uniform(0.3, 2.5))
        if not self.waypoints:
            self._plan()
        tx, ty = self.waypoints[0]
        distance = math.hypot(tx - self.x, ty - self.y)
        if distance < self.best_distance - 0.5:
            self.best_distance = distance
            self.blocked_s = 0.0
        elif self.walking:
            self.blocked_s += dt_s
        # Reached, or blocked for 1 s (a waypoint the nose cannot reach in a corner).
        if distance < 1.5 or self.blocked_s > 1.0:
            self.waypoints.pop(0)
            if not self.waypoints:
                self._plan()
            tx, ty = self.waypoints[0]
            self.best_distance = math.inf
            self.blocked_s = 0.0
        desired = math.atan2(ty - self.y, tx - self.x)
        error = (desired - self.heading + math.pi) % (2 * math.pi) - math.pi
        # Turn-rate noise: Ornstein-Uhlenbeck, so heading changes stay smooth.
        self.turn_noise += -self.turn_noise * 2.0 * dt_s + 1.5 * math.sqrt(dt_s) * rng.normal()
        max_turn = 5.0 * dt_s  # rad per step (5 rad/s)
        if self.speed > 0.5 or self.walking:
            turn = max(-max_turn, min(max_turn, (12.0 * error + self.turn_noise) * dt_s))
            self.heading = (self.heading + turn + math.pi) % (2 * math.pi) - math.pi
        # Slow down for sharp turns, accelerate/decelerate smoothly.
        target = self.target_speed * max(0.2, math.cos(min(abs(error), math.pi / 2)))
        accel = 60.0 * dt_s
        self.speed += max(-accel, min(accel, target - self.speed))
        self.x += self.speed * math.cos(self.heading) * dt_s
        self.y += self.speed * math.sin(self.heading) * dt_s
        self._keep_inside()
        self.tail_phase += dt_s * (2.0 + 0.3 * self.speed)

    def _keep_inside(self) -> None:
        """Keep the whole animal (nose to tail base) inside the walls and off the divider."""
        if self.round_floor:
            cos_h, sin_h = math.cos(self.heading), math.sin(self.heading)
            limit = self.radius - 0.4
            for reach_cm in (0.0, NOSE_CM, -BODY_LENGTH_CM / 2):
                px, py = self.x + reach_cm * cos_h, self.y + reach_cm * sin_h
                d = math.hypot(px - self.cx, py - self.cy)
                allowed = limit - (WALL_MARGIN_CM if reach_cm == 0.0 else 0.0)
                if d > allowed:
                    self.x -= (px - self.cx) / d * (d - allowed)
                    self.y -= (py - self.cy) / d * (d - allowed)
            return
        self.x = min(max(self.x, self.x_min), self.x_max)
        self.y = min(max(self.y, self.y_min), self.y_max)
        cos_h, sin_h = math.cos(self.heading), math.sin(self.heading)
        gap = 0.4  # cm between the body outline and a wall
        for reach_cm in (NOSE_CM, -BODY_LENGTH_CM / 2):
            px, py = self.x + reach_cm * cos_h, self.y + reach_cm * sin_h
            self.x += max(0.0, gap - px) - max(0.0, px - (self.width_cm - gap))
            self.y += max(0.0, gap - py) - max(0.0, py - (self.length_cm - gap))
        if self.divider:
            mid = self.width_cm / 2
            side = 1.0 if self.x >= mid else -1.0
            for reach_cm in (0.0, NOSE_CM, -BODY_LENGTH_CM / 2):
                px, py = self.x + reach_cm * cos_h, self.y + reach_cm * sin_h
                clearance = BODY_WIDTH_CM / 2 + 0.5 if reach_cm == 0.0 else gap + 0.3
                if abs(py - self.length_cm / 2) > DOOR_HALF_CM - 1.0:
                    # Outside the doorway the divider is a wall: stay on the current side.
                    overlap = clearance - (px - mid) * side
                    if overlap > 0:
                        self.x += overlap * side


class SyntheticArena(OpenedByWith):
    """Synthetic camera (FrameSource): frames of a mouse in a two-compartment arena.

    ``noise``: sensor noise sigma in grey levels. ``flicker``: relative lighting
    fluctuation amplitude (0.05 = +-5 %). ``tether``: draw a thin cable from the head to
    the top image edge. ``divider``: draw a divider wall with a doorway between the
    compartments. ``hidden_s``: time intervals (start_s, end_s) during which the animal
    is not drawn (absent / hidden); their frames carry ``truth=None``. ``round_floor``: a
    round open field (the disc inscribed in the calibrated rectangle) instead of a box.

    ``sync_led``: a board whose sync LED the camera sees (``MockBoard.sync_led_lit``),
    drawn in ``led_roi`` (x, y, w, h px). ``camera_delay_s``: the frame with time ``t``
    shows the scene of ``t - camera_delay_s`` (exposure, read-out, transfer), exposed over
    ``exposure_s`` (default one frame period) before that. The LED is bright enough to
    saturate the pixels however short its overlap with the exposure. The frame's time is
    the board's clock time: the runner advances the media clock, which the mock board
    runs on, to each frame's time (seconds since the source's first frame).
    """

    def __init__(
        self,
        calibration: ArenaCalibration,
        fps: float = 30.0,
        duration_s: float | None = None,
        seed: int = 0,
        noise: float = 2.0,
        flicker: float = 0.0,
        tether: bool = False,
        divider: bool = False,
        hidden_s: Sequence[tuple[float, float]] = (),
        round_floor: bool = False,
        sync_led: SyncLedView | None = None,
        led_roi: tuple[int, int, int, int] = DEFAULT_LED_ROI,
        camera_delay_s: float = 0.0,
        exposure_s: float | None = None,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps: must be > 0, got {fps}")
        if camera_delay_s < 0:
            raise ValueError(f"camera_delay_s: must be >= 0, got {camera_delay_s}")
        self._sync_led = sync_led
        self._led_roi = (int(led_roi[0]), int(led_roi[1]), int(led_roi[2]), int(led_roi[3]))
        self._camera_delay_s = float(camera_delay_s)
        self._exposure_s = float(exposure_s) if exposure_s is not None else 1.0 / fps
        self._calibration = calibration
        self._mapper = PixelMapper(calibration)
        self._fps = float(fps)
        self._duration_s = duration_s
        self._seed = seed
        self._noise = float(noise)
        self._flicker = float(flicker)
        self._tether = tether
        self._divider = divider
        self._round_floor = round_floor
        self._hidden_s = tuple((float(a), float(b)) for a, b in hidden_s)
        self._size = (calibration.camera.width_px, calibration.camera.height_px)
        self._background: NDArray[np.uint8] | None = None
        self._is_open = False
        self._index = 0
        self._n_frames = None if duration_s is None else int(round(duration_s * fps))

    def show_sync_led(
        self,
        board: SyncLedView,
        led_roi: tuple[int, int, int, int] = DEFAULT_LED_ROI,
        camera_delay_s: float = 0.0,
    ) -> None:
        """Show ``board``'s sync LED in ``led_roi`` from now on (call before ``open()``)."""
        if camera_delay_s < 0:
            raise ValueError(f"camera_delay_s: must be >= 0, got {camera_delay_s}")
        self._sync_led = board
        self._led_roi = (int(led_roi[0]), int(led_roi[1]), int(led_roi[2]), int(led_roi[3]))
        self._camera_delay_s = float(camera_delay_s)
        self._background = None

    # ------------------------------------------------------------- FrameSource
    @property
    def name(self) -> str:
        return f"synthetic(seed={self._seed})"

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    @property
    def is_live(self) -> bool:
        return False

    @property
    def kind(self) -> SourceKind:
        return SourceKind.SYNTHETIC

    @property
    def calibration(self) -> ArenaCalibration:
        return self._calibration

    def open(self) -> None:
        rng = np.random.default_rng(self._seed)
        self._rng = rng
        self._walker = _Walker(
            self._calibration.width_cm, self._calibration.length_cm, self._divider, rng,
            self._round_floor,
        )
        self.empty_arena()
        width_px, height_px = self._size
        pad = 64
        noise_rng = np.random.default_rng(self._seed + 1_000_003)
        if self._noise > 0:
            noise = noise_rng.normal(0.0, self._noise, size=(height_px + pad, width_px + pad))
            noise = np.rint(noise)
            self._noise_pos = np.clip(noise, 0, 255).astype(np.uint8)
            self._noise_neg = np.clip(-noise, 0, 255).astype(np.uint8)
        self._pad = pad
        self._index = 0
        self._is_open = True

    def close(self) -> None:
        self._is_open = False


    # ------------------------------------------------------------- rendering
    def empty_arena(self) -> NDArray[np.uint8]:
        """The static background (no animal, no noise, no flicker). Returns a copy."""
        if self._background is None:
            self._background = self._render_background()
        return self._background.copy()

    def _render_background(self) -> NDArray[np.uint8]:
        width_px, height_px = self._size
        mapper = self._mapper
        cal = self._calibration
        image = np.full((height_px, width_px), OUTSIDE_GREY, dtype=np.uint8)
        wall_cm = 2.0
        wall = [
            mapper.to_px(-wall_cm, -wall_cm),
            mapper.to_px(cal.width_cm + wall_cm, -wall_cm),
            mapper.to_px(cal.width_cm + wall_cm, cal.length_cm + wall_cm),
            mapper.to_px(-wall_cm, cal.length_cm + wall_cm),
        ]
        cv2.fillPoly(image, [_fixed(wall)], WALL_GREY, cv2.LINE_AA, _SHIFT)
        # Floor with a gentle vignette (brighter in the middle, as under one lamp).
        floor = np.zeros_like(image)
        if self._round_floor:
            # A round open field: the disc inscribed in the calibrated square, walls around.
            r_cm = min(cal.width_cm, cal.length_cm) / 2
            circle = [
                mapper.to_px(cal.width_cm / 2 + r_cm * math.cos(a), cal.length_cm / 2 + r_cm * math.sin(a))
                for a in np.linspace(0, 2 * math.pi, 180, endpoint=False)
            ]
            cv2.fillPoly(floor, [_fixed(circle)], 255, cv2.LINE_AA, _SHIFT)
        else:
            cv2.fillPoly(floor, [_fixed(cal.corners_px)], 255, cv2.LINE_AA, _SHIFT)
        ys, xs = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
        cx, cy = width_px / 2, height_px / 2
        r2 = ((xs - cx) / cx) ** 2 + ((ys - cy) / cy) ** 2
        shade = (FLOOR_GREY - 25.0 * r2 / 2.0).astype(np.float32)
        alpha = floor.astype(np.float32) / 255.0
        blended = image.astype(np.float32) * (1 - alpha) + shade * alpha
        image = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        if self._divider:
            mid = cal.width_cm / 2
            door_half = DOOR_HALF_CM
            thickness = max(1, int(round(0.6 * mapper.px_per_cm)))
            for y_from, y_to in ((0.0, cal.length_cm / 2 - door_half), (cal.length_cm / 2 + door_half, cal.length_cm)):
                p0, p1 = mapper.to_px(mid, y_from), mapper.to_px(mid, y_to)
                cv2.line(image, _pt(p0), _pt(p1), WALL_GREY, thickness, cv2.LINE_AA, _SHIFT)
        if self._sync_led is not None:
            self._draw_led(image, LED_OFF_GREY)
        return np.ascontiguousarray(image, dtype=np.uint8)

    def _draw_led(self, image: NDArray[np.uint8], grey: int) -> None:
        x, y, w, h = self._led_roi
        centre = (x + w // 2, y + h // 2)
        cv2.circle(image, centre, max(1, min(w, h) // 2 - 1), grey, cv2.FILLED, cv2.LINE_AA)

    def _led_lit(self, t_s: float) -> bool:
        if self._sync_led is None:
            return False
        end_s = t_s - self._camera_delay_s
        start_s = end_s - self._exposure_s
        return self._sync_led.sync_led_lit(int(round(start_s * 1e9)), int(round(end_s * 1e9)))

    def _hidden(self, t_s: float) -> bool:
        return any(start <= t_s < end for start, end in self._hidden_s)

    def _draw_animal(self, frame: NDArray[np.uint8], t_s: float) -> GroundTruth:
        walker = self._walker
        mapper = self._mapper
        x_cm, y_cm, heading = walker.x, walker.y, walker.heading
        cos_h, sin_h = math.cos(heading), math.sin(heading)

        def at(forward_cm: float, side_cm: float) -> tuple[float, float]:
            return mapper.to_px(
                x_cm + forward_cm * cos_h - side_cm * sin_h,
                y_cm + forward_cm * sin_h + side_cm * cos_h,
            )

        centre = mapper.to_px(x_cm, y_cm)
        front = at(1.0, 0.0)
        px_per_cm = math.hypot(front[0] - centre[0], front[1] - centre[1])
        angle_deg = math.degrees(math.atan2(front[1] - centre[1], front[0] - centre[0]))
        head = at(4.0, 0.0)
        # The body (trunk + head) into a small patch first: its centroid is the truth.
        half = int(math.ceil(6.5 * px_per_cm)) + 2
        ox, oy = int(centre[0]) - half, int(centre[1]) - half
        patch = np.zeros((2 * half, 2 * half), dtype=np.uint8)
        shapes = [
            (centre, (BODY_LENGTH_CM / 2 * px_per_cm, BODY_WIDTH_CM / 2 * px_per_cm)),
            (head, (1.6 * px_per_cm, 1.15 * px_per_cm)),
        ]
        for (cx, cy), (ax, ay) in shapes:
            cv2.ellipse(
                patch,
                _pt((cx - ox, cy - oy)),
                (int(round(ax * _SCALE)), int(round(ay * _SCALE))),
                angle_deg, 0, 360, 255, cv2.FILLED, cv2.LINE_AA, _SHIFT,
            )
        moments = cv2.moments(patch)
        truth_x = moments["m10"] / moments["m00"] + ox
        truth_y = moments["m01"] / moments["m00"] + oy
        # Composite the patch onto the frame (alpha = patch / 255), clipped to the image.
        height_px, width_px = frame.shape
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + 2 * half, width_px), min(oy + 2 * half, height_px)
        if x1 > x0 and y1 > y0:
            region = frame[y0:y1, x0:x1]
            alpha = patch[y0 - oy : y1 - oy, x0 - ox : x1 - ox].astype(np.float32) * (1 / 255)
            region[...] = (region * (1 - alpha) + MOUSE_GREY * alpha).astype(np.uint8)
        # Tail: a tapering wagging line behind the body (2 segments of falling width).
        wag = 0.6 * math.sin(walker.tail_phase)
        points = [at(-BODY_LENGTH_CM / 2 + 0.3, 0.0)]
        for k in range(1, 5):
            forward = -BODY_LENGTH_CM / 2 - 2.0 * k
            points.append(at(forward, wag * k * k / 4))
        for k in range(4):
            width_cm = 0.45 - 0.08 * k
            thickness = max(1, int(round(width_cm * px_per_cm)))
            cv2.line(frame, _pt(points[k]), _pt(points[k + 1]), MOUSE_GREY + 10, thickness, cv2.LINE_AA, _SHIFT)
        if self._tether:
            thickness = max(1, int(round(0.25 * px_per_cm)))
            top = (width_px / 2 + 0.3 * (head[0] - width_px / 2), 0.0)
            cv2.line(frame, _pt(head), _pt(top), MOUSE_GREY + 15, thickness, cv2.LINE_AA, _SHIFT)
        tx_cm, ty_cm = mapper.to_cm(truth_x, truth_y)
        return GroundTruth(truth_x, truth_y, tx_cm, ty_cm)

    def read(self) -> Frame | None:
        """Render the next frame (``None`` after ``duration_s``)."""
        if not self._is_open:
            raise RuntimeError("SyntheticArena.read() before open()")
        index = self._index
        if self._n_frames is not None and index >= self._n_frames:
            return None
        self._index += 1
        t_s = index / self._fps
        if index > 0:
            self._walker.step(1.0 / self._fps)
        assert self._background is not None
        frame = self._background.copy()
        truth = None if self._hidden(t_s) else self._draw_animal(frame, t_s)
        if self._led_lit(t_s):
            self._draw_led(frame, LED_ON_GREY)
        rng = self._rng
        if self._flicker > 0:
            gain = 1.0 + self._flicker * (
                0.7 * math.sin(2 * math.pi * 0.4 * t_s) + 0.3 * float(rng.uniform(-1, 1))
            )
            cv2.convertScaleAbs(frame, dst=frame, alpha=gain)
        if self._noise > 0:
            height_px, width_px = frame.shape
            dy, dx = (int(v) for v in rng.integers(0, self._pad, size=2))
            cv2.add(frame, self._noise_pos[dy : dy + height_px, dx : dx + width_px], dst=frame)
            dy2, dx2 = (int(v) for v in rng.integers(0, self._pad, size=2))
            cv2.subtract(frame, self._noise_neg[dy2 : dy2 + height_px, dx2 : dx2 + width_px], dst=frame)
        return Frame(
            index=index,
            t_s=t_s,
            captured_ns=time.perf_counter_ns(),
            image=frame,
            truth=truth,
        )


def _pt(point: tuple[float, float]) -> tuple[int, int]:
    return (int(round(point[0] * _SCALE)), int(round(point[1] * _SCALE)))


def _fixed(points: Sequence[tuple[float, float]]) -> NDArray[np.int32]:
    return np.array([_pt(p) for p in points], dtype=np.int32).reshape(-1, 1, 2)
