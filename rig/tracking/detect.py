"""Background-subtraction tracker: grey image -> ``TrackResult`` (one animal, one blob).

Pipeline per frame (all on the arena's bounding box, into preallocated buffers):

1. lighting compensation: the median grey-level shift between frame and background,
   measured on a sparse grid of arena pixels, is removed (lamp flicker, camera gain);
2. difference to the background in the animal's direction (``background - image`` for a
   dark animal, ``image - background`` for a light one; saturating, so the other sign is 0);
   pixels outside the arena mask never count;
3. box blur (``blur_px``), then a threshold: fixed, or automatic (Otsu, never below
   ``AUTO_THRESHOLD_FLOOR`` so sensor noise alone never makes a blob);
4. morphological opening with a square of side ``open_kernel_px`` (erases a thin tether
   cable in any direction; a square is separable, so fast at any size);
5. the largest connected blob is the animal; its area must lie in
   ``[min_area_px, max_area_px]``;
6. tail removal: inside the blob's bounding box the blob is opened again with a disc whose
   diameter is ``tail_open_fraction`` x the body width (twice the largest distance from the
   blob's inside to its edge), computed with two distance transforms so the cost does not
   grow with the disc. The tail, much thinner than the body, vanishes and the
   reported position is the centroid of the remaining body (head + trunk);
7. the jump check (see ``Tracker``).

Tracking code does no I/O and no logging per frame. No Qt, no OpenCV GUI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from rig.calibration import ArenaCalibration, PixelMapper
    from rig.protocol.models import Tracking

#: Lowest threshold the automatic (Otsu) threshold may choose, in grey levels. Sensor noise
#: after a 5 px blur is a few grey levels; a mouse on its floor differs by 40-150.
AUTO_THRESHOLD_FLOOR = 20

#: Grid step (px) of the sparse sample used to measure a global lighting shift.
_LIGHTING_SAMPLE_STEP_PX = 8

REASONS = ("no_blob", "too_small", "too_large", "jump", "no_background")


@dataclass(frozen=True, slots=True)
class TrackResult:
    """Where the animal is in one image (image pixels), or why it was not found.

    ``reason`` is "" when found, else one of ``no_blob``, ``too_small``, ``too_large``,
    ``jump``, ``no_background``. A rejected blob's position is never reported.
    """

    found: bool
    x_px: float
    y_px: float
    area_px: float
    reason: str = ""
    contour: NDArray[np.int32] | None = None

    @staticmethod
    def lost(reason: str, area_px: float = 0.0) -> TrackResult:
        return TrackResult(False, math.nan, math.nan, area_px, reason, None)


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    """Tracker settings in image pixels (``from_protocol`` converts the protocol's cm).

    ``threshold`` None means automatic (Otsu, floored at ``AUTO_THRESHOLD_FLOOR``).
    ``max_jump_px`` is the largest plausible move between consecutive frames (``inf``
    disables the check). ``open_kernel_px`` is the side of the square opening that erases
    thin structures such as a tether cable (0 or 1: none). ``tail_open_fraction`` sizes the
    tail-removing opening relative to the body width (0 disables it).
    ``jump_confirm_frames``: a far blob seen this many consecutive frames at a consistent
    place is accepted (re-lock). ``compensate_lighting`` removes global brightness shifts.
    """

    animal_dark: bool
    threshold: int | None
    min_area_px: float
    max_area_px: float
    max_jump_px: float
    open_kernel_px: int
    blur_px: int = 5
    tail_open_fraction: float = 0.5
    jump_confirm_frames: int = 3
    compensate_lighting: bool = True

    def __post_init__(self) -> None:
        if self.threshold is not None and not 1 <= self.threshold <= 254:
            raise ValueError(f"threshold: must be 1-254 or None (auto), got {self.threshold}")
        if not 0 <= self.min_area_px < self.max_area_px:
            raise ValueError(
                f"min_area_px/max_area_px: need 0 <= min < max, got {self.min_area_px:g}, "
                f"{self.max_area_px:g}"
            )
        if not self.max_jump_px > 0:
            raise ValueError(f"max_jump_px: must be > 0, got {self.max_jump_px:g}")
        if self.open_kernel_px < 0 or self.blur_px < 0:
            raise ValueError("open_kernel_px and blur_px must be >= 0")
        if not 0 <= self.tail_open_fraction < 1:
            raise ValueError(
                f"tail_open_fraction: must be in [0, 1), got {self.tail_open_fraction:g}"
            )
        if self.jump_confirm_frames < 1:
            raise ValueError(f"jump_confirm_frames: must be >= 1, got {self.jump_confirm_frames}")

    @classmethod
    def from_protocol(cls, tracking: Tracking, mapper: PixelMapper) -> TrackerSettings:
        """Convert the protocol's tracking section (cm, cm²) to pixels through the calibration."""
        px_per_cm = mapper.px_per_cm
        blur_px = max(3, int(round(0.4 * px_per_cm)) | 1)  # ~4 mm, odd, at least 3 px
        return cls(
            animal_dark=tracking.animal == "dark",
            threshold=None if tracking.threshold == "auto" else int(tracking.threshold),
            min_area_px=mapper.area_cm2_to_px(tracking.min_area_cm2),
            max_area_px=mapper.area_cm2_to_px(tracking.max_area_cm2),
            max_jump_px=mapper.length_cm_to_px(tracking.max_jump_cm),
            open_kernel_px=int(round(mapper.length_cm_to_px(tracking.tether_removal_cm))),
            blur_px=blur_px,
        )


def arena_mask(calibration: ArenaCalibration, frame_size: tuple[int, int]) -> NDArray[np.uint8]:
    """Mask (255 inside the arena polygon, 0 outside) for frames of ``frame_size`` (w, h).

    The calibration's polygon is scaled when the frames have another resolution than the
    calibration image (same camera, other capture size).
    """
    width_px, height_px = frame_size
    scale_x = width_px / calibration.camera.width_px
    scale_y = height_px / calibration.camera.height_px
    polygon = np.array(
        [[x * scale_x, y * scale_y] for x, y in calibration.mask_polygon_px()], dtype=np.float64
    )
    mask = np.zeros((height_px, width_px), dtype=np.uint8)
    shift = 4  # sub-pixel precision for the polygon corners
    points = np.round(polygon * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(mask, [points], 255, lineType=cv2.LINE_8, shift=shift)
    return mask


class Tracker:
    """Tracks one animal against a background image. Not thread-safe: one thread calls it.

    Jump rule: a blob farther than ``max_jump_px x (1 + frames since the last accepted
    position)`` from the last accepted position is rejected (``reason="jump"``), so a
    reflection or a hand is not taken for the animal. The allowance grows while the
    animal is lost (it moves while hidden). If the far blob persists, i.e. the same far
    position (each within ``max_jump_px`` of the previous candidate) is seen
    ``jump_confirm_frames`` frames in a row, it is accepted and becomes the new anchor,
    so the tracker can never stay locked on a stale position.
    """

    def __init__(self, settings: TrackerSettings, mask: NDArray[np.uint8] | None = None) -> None:
        self.settings = settings
        self._mask = None if mask is None else np.ascontiguousarray(mask, dtype=np.uint8)
        # A square (separable, fast) erases every line thinner than its side, any direction.
        self._open_kernel = (
            cv2.getStructuringElement(cv2.MORPH_RECT, (settings.open_kernel_px,) * 2)
            if settings.open_kernel_px >= 2
            else None
        )
        self._background: NDArray[np.uint8] | None = None
        self._bbox = (0, 0, 0, 0)  # x0, y0, x1, y1 of the arena region
        self._sample_index: NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self._sample_background: NDArray[np.int16] = np.zeros(0, dtype=np.int16)
        self._adjusted: NDArray[np.uint8] | None = None
        self._diff: NDArray[np.uint8] | None = None
        self._binary: NDArray[np.uint8] | None = None
        self._blur_size = (settings.blur_px, settings.blur_px)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the last position (not the background)."""
        self._anchor: tuple[float, float] | None = None
        self._frames_since_accept = 0
        self._pending: tuple[float, float] | None = None
        self._pending_count = 0

    @property
    def has_background(self) -> bool:
        return self._background is not None

    @property
    def background(self) -> NDArray[np.uint8] | None:
        return self._background

    def set_background(self, image: NDArray[np.uint8]) -> None:
        """Use ``image`` (2-D uint8, empty arena or a median) as the background."""
        if image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError(f"background must be a 2-D uint8 image, got {image.dtype} {image.shape}")
        height_px, width_px = image.shape
        background = image.copy()
        if self._mask is not None:
            if self._mask.shape != image.shape:
                raise ValueError(
                    f"mask shape {self._mask.shape} does not match the background {image.shape}"
                )
            ys, xs = np.nonzero(self._mask)
            if len(xs) == 0:
                raise ValueError("the arena mask is empty")
            x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
            # Outside the arena the background is set so the saturating difference is 0.
            background[self._mask == 0] = 0 if self.settings.animal_dark else 255
        else:
            x0, y0, x1, y1 = 0, 0, width_px, height_px
        self._bbox = (x0, y0, x1, y1)
        self._background = background
        roi_shape = (y1 - y0, x1 - x0)
        self._adjusted = np.empty(roi_shape, dtype=np.uint8)
        self._diff = np.empty(roi_shape, dtype=np.uint8)
        self._binary = np.empty(roi_shape, dtype=np.uint8)
        # Sparse grid of arena pixels (flat indices into the full image) for the lighting shift.
        step = _LIGHTING_SAMPLE_STEP_PX
        grid_y, grid_x = np.mgrid[y0:y1:step, x0:x1:step]
        flat = (grid_y * width_px + grid_x).ravel()
        if self._mask is not None:
            flat = flat[self._mask.ravel()[flat] > 0]
        self._sample_index = flat.astype(np.intp)
        self._sample_background = image.ravel()[flat].astype(np.int16)

    # ------------------------------------------------------------------ per frame
    def _lighting_shift(self, image: NDArray[np.uint8]) -> int:
        """Median grey-level shift (frame - background) over the sparse arena sample."""
        if len(self._sample_index) < 16:
            return 0
        shift = image.ravel()[self._sample_index].astype(np.int16)
        shift -= self._sample_background
        # np.median's result, by one partition (np.median's Python-level overhead was a
        # third of the tracker's time with several arenas' threads contending for the GIL).
        n = len(shift)
        half = n // 2
        if n % 2:
            return int(np.partition(shift, half)[half])
        middle = np.partition(shift, (half - 1, half))
        return int((int(middle[half - 1]) + int(middle[half])) / 2)

    def track(self, image: NDArray[np.uint8]) -> TrackResult:
        """Find the animal in ``image`` (2-D uint8, the background's size)."""
        background = self._background
        if background is None:
            return TrackResult.lost("no_background")
        if image.shape != background.shape:
            raise ValueError(f"image shape {image.shape} differs from background {background.shape}")
        assert self._adjusted is not None and self._diff is not None and self._binary is not None
        settings = self.settings
        x0, y0, x1, y1 = self._bbox
        roi = image[y0:y1, x0:x1]
        background_roi = background[y0:y1, x0:x1]

        source = roi
        if settings.compensate_lighting:
            shift = self._lighting_shift(image)
            if shift > 0:
                cv2.subtract(roi, (float(shift), 0.0, 0.0, 0.0), dst=self._adjusted)  # type: ignore[call-overload]
                source = self._adjusted
            elif shift < 0:
                cv2.add(roi, (float(-shift), 0.0, 0.0, 0.0), dst=self._adjusted)  # type: ignore[call-overload]
                source = self._adjusted
        diff = self._diff
        if settings.animal_dark:
            cv2.subtract(background_roi, source, dst=diff)
        else:
            cv2.subtract(source, background_roi, dst=diff)
        if settings.blur_px >= 2:
            cv2.blur(diff, self._blur_size, dst=diff)

        binary = self._binary
        if settings.threshold is None:
            otsu, _ = cv2.threshold(diff, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU, dst=binary)
            if otsu < AUTO_THRESHOLD_FLOOR:
                cv2.threshold(diff, AUTO_THRESHOLD_FLOOR, 255, cv2.THRESH_BINARY, dst=binary)
        else:
            cv2.threshold(diff, settings.threshold, 255, cv2.THRESH_BINARY, dst=binary)
        if self._open_kernel is not None:
            cv2.morphologyEx(binary, cv2.MORPH_OPEN, self._open_kernel, dst=binary)

        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return self._reject("no_blob")
        best = max(contours, key=cv2.contourArea)
        area_px = float(cv2.contourArea(best)) + 0.5 * float(cv2.arcLength(best, True))
        if area_px < settings.min_area_px:
            return self._reject("too_small", area_px)
        if area_px > settings.max_area_px:
            return self._reject("too_large", area_px)

        centre = self._body_centre(best)
        if centre is None:
            return self._reject("too_small", area_px)
        x_px, y_px = centre[0] + x0, centre[1] + y0
        if not self._accept_position(x_px, y_px):
            return self._reject("jump", area_px, count_missed=False)
        contour = best + np.array([x0, y0], dtype=np.int32)
        return TrackResult(True, x_px, y_px, area_px, "", contour.astype(np.int32, copy=False))

    def _body_centre(self, contour: NDArray[Any]) -> tuple[float, float] | None:
        """Centroid (ROI coordinates) of the blob with its tail opened away."""
        bx, by, bw, bh = cv2.boundingRect(contour)
        pad = 1
        blob = np.zeros((bh + 2 * pad, bw + 2 * pad), dtype=np.uint8)
        cv2.drawContours(blob, [contour], 0, 1, thickness=cv2.FILLED, offset=(pad - bx, pad - by))
        fraction = self.settings.tail_open_fraction
        if fraction > 0:
            # Opening by a disc of radius r through two distance transforms (cost independent
            # of r): erosion keeps pixels deeper than r, dilation grows them back by r.
            distance = cv2.distanceTransform(blob, cv2.DIST_L2, cv2.DIST_MASK_5)
            radius_px = fraction * float(distance.max())  # fraction x half the body width
            if radius_px >= 1.0:
                outside_core = np.where(distance > radius_px, 0, 1).astype(np.uint8)
                to_core = cv2.distanceTransform(outside_core, cv2.DIST_L2, cv2.DIST_MASK_5)
                opened = ((to_core <= radius_px) & (blob > 0)).astype(np.uint8)
                if cv2.countNonZero(opened) > 0:
                    blob = opened
        moments = cv2.moments(blob, binaryImage=True)
        if moments["m00"] <= 0:
            return None
        return (
            moments["m10"] / moments["m00"] + bx - pad,
            moments["m01"] / moments["m00"] + by - pad,
        )

    def _reject(self, reason: str, area_px: float = 0.0, count_missed: bool = True) -> TrackResult:
        if count_missed:
            self._frames_since_accept += 1
        return TrackResult.lost(reason, area_px)

    def _accept_position(self, x_px: float, y_px: float) -> bool:
        """Apply the jump rule; update the anchor when the position is accepted."""
        settings = self.settings
        anchor = self._anchor
        if anchor is not None and math.isfinite(settings.max_jump_px):
            allowed_px = settings.max_jump_px * (1 + self._frames_since_accept)
            if math.hypot(x_px - anchor[0], y_px - anchor[1]) > allowed_px:
                pending = self._pending
                if pending is not None and (
                    math.hypot(x_px - pending[0], y_px - pending[1]) <= settings.max_jump_px
                ):
                    self._pending_count += 1
                else:
                    self._pending_count = 1
                self._pending = (x_px, y_px)
                if self._pending_count < settings.jump_confirm_frames:
                    self._frames_since_accept += 1
                    return False
        self._anchor = (x_px, y_px)
        self._frames_since_accept = 0
        self._pending = None
        self._pending_count = 0
        return True
