"""Imported pose tracks (DeepLabCut CSV/H5, SLEAP) -> one position per frame.

Files are read through the ``movement`` library (``optorig[pose]``), which knows the
formats: DeepLabCut's three header rows (scorer / bodyparts / coords, plus ``individuals``
for multi-animal projects) and H5 tables, SLEAP analysis H5 and ``.slp`` files. Without
``movement``, a DeepLabCut CSV is still read directly (it is plain text); H5 and SLEAP files
then need ``pip install 'optorig[pose]'``.

The position used for the zones is one body part (``snout``, ``tailbase``...), ``centre``
(a keypoint called centre/center/body/bodycentre when there is one, else the midpoint of
the head - mean of nose/snout and ears - and the tail base), or ``mean`` (mean of all
keypoints above the cut-off). A point whose likelihood is below ``min_likelihood`` counts
as not found (the frame is ``lost``, as when the tracker misses the animal).
"""

from __future__ import annotations

import csv
import enum
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rig.errors import ConfigError

CENTRE_NAMES = ("centre", "center", "body", "bodycentre", "bodycenter", "body_centre", "body_center", "centroid")
HEAD_NAMES = ("snout", "nose", "leftear", "rightear", "left_ear", "right_ear", "head")
TAIL_NAMES = ("tailbase", "tail_base", "tail-base", "tailstart")


class PoseFormat(enum.Enum):
    DEEPLABCUT = "DeepLabCut"
    SLEAP = "SLEAP"


@dataclass(frozen=True)
class PoseTracks:
    """Keypoints of one individual: ``xy_px[t, k, 0:2]`` and ``likelihood[t, k]``."""

    path: Path
    format: PoseFormat
    keypoints: tuple[str, ...]
    xy_px: NDArray[np.float64]
    likelihood: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.xy_px.shape[0])


def detect_format(path: Path) -> PoseFormat:
    """By extension; an ``.h5`` is told apart by its content (SLEAP has ``tracks``)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return PoseFormat.DEEPLABCUT
    if suffix == ".slp":
        return PoseFormat.SLEAP
    if suffix in (".h5", ".hdf5"):
        try:
            import h5py
        except ImportError:
            return PoseFormat.DEEPLABCUT
        with h5py.File(path, "r") as handle:
            return PoseFormat.SLEAP if "tracks" in handle else PoseFormat.DEEPLABCUT
    raise ConfigError(
        f"{path}: unknown pose file type {suffix!r} (DeepLabCut .csv/.h5 or SLEAP .h5/.slp)"
    )


def load_pose_tracks(path: Path, individual: str | None = None) -> PoseTracks:
    """Read a pose file (see the module docstring). Errors name the file and the reason."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pose file not found")
    fmt = detect_format(path)
    try:
        import movement.io as movement_io
    except ImportError:
        if fmt is PoseFormat.DEEPLABCUT and path.suffix.lower() == ".csv":
            return _read_dlc_csv(path, individual)
        raise ConfigError(
            f"{path}: reading {fmt.value} files needs the movement library: "
            "pip install 'optorig[pose]'"
        ) from None
    # movement >= 0.14 has load_dataset; older releases only load_poses.from_file.
    load = getattr(movement_io, "load_dataset", None)
    if load is None:
        from movement.io import load_poses

        load = load_poses.from_file
    try:
        ds = load(path, source_software=fmt.value)
    except (ValueError, OSError, KeyError) as err:
        raise ConfigError(f"{path}: not a readable {fmt.value} pose file: {err}") from err
    individuals = [str(v) for v in ds.coords["individuals"].values]
    chosen = individual if individual is not None else individuals[0]
    if chosen not in individuals:
        raise ConfigError(
            f"{path}: individual {chosen!r} not in the file (it has {', '.join(individuals)})"
        )
    position = ds["position"].sel(individuals=chosen).transpose("time", "keypoints", "space")
    xy = np.asarray(position.sel(space=["x", "y"]).values, dtype=np.float64)
    if "confidence" in ds:
        confidence = ds["confidence"].sel(individuals=chosen).transpose("time", "keypoints")
        likelihood = np.asarray(confidence.values, dtype=np.float64)
    else:
        likelihood = np.ones(xy.shape[:2])
    keypoints = tuple(str(v) for v in ds.coords["keypoints"].values)
    return PoseTracks(path, fmt, keypoints, xy, likelihood)


def _read_dlc_csv(path: Path, individual: str | None) -> PoseTracks:
    """DeepLabCut CSV without ``movement``: header rows scorer, [individuals,] bodyparts,
    coords; then one row per frame (index first)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header: dict[str, list[str]] = {}
    body_start = 0
    for i, row in enumerate(rows[:4]):
        if row and row[0].strip().lower() in ("scorer", "individuals", "bodyparts", "coords"):
            header[row[0].strip().lower()] = [c.strip() for c in row[1:]]
            body_start = i + 1
    if "bodyparts" not in header or "coords" not in header:
        raise ConfigError(f"{path}: not a DeepLabCut CSV (no bodyparts/coords header rows)")
    parts = header["bodyparts"]
    coords = header["coords"]
    owners = header.get("individuals", ["individual_0"] * len(parts))
    chosen = individual if individual is not None else owners[0]
    if chosen not in owners:
        raise ConfigError(f"{path}: individual {chosen!r} not in the file")
    keypoints: list[str] = []
    columns: dict[tuple[str, str], int] = {}
    for j, (owner, part, coord) in enumerate(zip(owners, parts, coords)):
        if owner != chosen:
            continue
        if part not in keypoints:
            keypoints.append(part)
        columns[(part, coord)] = j + 1
    body = [r for r in rows[body_start:] if r]
    xy = np.full((len(body), len(keypoints), 2), np.nan)
    likelihood = np.zeros((len(body), len(keypoints)))
    for t, row in enumerate(body):
        for k, part in enumerate(keypoints):
            for c, coord in enumerate(("x", "y")):
                xy[t, k, c] = _number(row[columns[(part, coord)]])
            like = columns.get((part, "likelihood"))
            likelihood[t, k] = 1.0 if like is None else _number(row[like])
    return PoseTracks(path, PoseFormat.DEEPLABCUT, tuple(keypoints), xy, likelihood)


def _number(text: str) -> float:
    try:
        return float(text) if text.strip() else math.nan
    except ValueError:
        return math.nan


def _find(keypoints: tuple[str, ...], names: tuple[str, ...]) -> list[int]:
    lowered = [k.lower() for k in keypoints]
    return [lowered.index(n) for n in names if n in lowered]


def body_position(
    tracks: PoseTracks, bodypart: str, min_likelihood: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """(x_px, y_px, found) per pose row for ``bodypart`` (see the module docstring)."""
    if not 0.0 <= min_likelihood <= 1.0:
        raise ConfigError(f"--min-likelihood: must be between 0 and 1, got {min_likelihood:g}")
    xy = tracks.xy_px
    ok = (tracks.likelihood >= min_likelihood) & np.isfinite(xy).all(axis=2)
    name = bodypart.strip().lower()
    lowered = [k.lower() for k in tracks.keypoints]
    if name in lowered:
        k = lowered.index(name)
        return xy[:, k, 0].copy(), xy[:, k, 1].copy(), ok[:, k].copy()
    if name == "mean":
        masked = np.where(ok[:, :, None], xy, np.nan)
        with np.errstate(invalid="ignore"):
            counts = ok.sum(axis=1)
            mean = np.nansum(masked, axis=1) / np.maximum(counts, 1)[:, None]
        found = counts > 0
        return mean[:, 0], mean[:, 1], found
    if name in ("centre", "center"):
        named = _find(tracks.keypoints, CENTRE_NAMES)
        if named:
            k = named[0]
            return xy[:, k, 0].copy(), xy[:, k, 1].copy(), ok[:, k].copy()
        head = _find(tracks.keypoints, HEAD_NAMES)
        tail = _find(tracks.keypoints, TAIL_NAMES)
        if head and tail:
            head_xy = xy[:, head, :].mean(axis=1)
            centre = (head_xy + xy[:, tail[0], :]) / 2.0
            found = ok[:, head].all(axis=1) & ok[:, tail[0]]
            return centre[:, 0], centre[:, 1], found
        raise ConfigError(
            f"{tracks.path}: --bodypart centre: no centre keypoint and no head + tail base "
            f"to take the midpoint of; keypoints are {', '.join(tracks.keypoints)}"
        )
    raise ConfigError(
        f"{tracks.path}: --bodypart: {bodypart!r} is not a keypoint of this file "
        f"({', '.join(tracks.keypoints)}), 'centre' or 'mean'"
    )
