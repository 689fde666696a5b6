"""The arenas of a multi-box rig file turned into ``ArenaSpec``s for ``MultiArenaRunner``.

Who is in which box is given on the command line as ``--arena NAME=ANIMAL`` or
``--arena NAME=ANIMAL:PROTOCOL`` (one per box; a technician types the animal ids of the
day, the protocol usually comes from the rig file's ``arenas[].protocol`` or the command's
PROTOCOL argument). An arena's protocol must be calibrated in its region's pixels (the
calibration's camera size is the region's size); the synthetic demo makes one per region.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rig.devices.board import LaserBoard
from rig.devices.regions import Region
from rig.errors import ConfigError
from rig.session.arena_boards import arena_boards
from rig.session.multi import ArenaSpec

if TYPE_CHECKING:
    from rig.protocol.load import LoadedProtocol
    from rig.rigfile.load import LoadedRig


@dataclass(frozen=True)
class ArenaAssignment:
    """``--arena NAME=ANIMAL[:PROTOCOL]``: who is in the box today, optionally with what."""

    name: str
    animal: str
    protocol: Path | None = None


def parse_arena_arg(text: str) -> ArenaAssignment:
    """``"A=m101"`` or ``"A=m101:protocols/x.yaml"`` (ConfigError naming the option)."""
    name, eq, rest = text.partition("=")
    animal, _, protocol = rest.partition(":")
    if not eq or not name.strip() or not animal.strip():
        raise ConfigError(
            f"--arena {text!r}: write NAME=ANIMAL or NAME=ANIMAL:PROTOCOL, e.g. --arena A=m101"
        )
    return ArenaAssignment(name.strip(), animal.strip(), Path(protocol.strip()) if protocol.strip() else None)


def rig_regions(rig: LoadedRig) -> list[Region]:
    """The image region of each arena of the rig file, in file order."""
    return [
        Region(a.name, a.region.x, a.region.y, a.region.width, a.region.height) for a in rig.config.arenas
    ]


def arena_rig(rig: LoadedRig, name: str) -> LoadedRig:
    """The rig as arena ``name``'s session sees it (its channel's pin, its interlock)."""
    return dataclasses.replace(rig, config=rig.config.for_arena(name))


def plan_rig_arenas(
    rig: LoadedRig,
    board: LaserBoard,
    assignments: Mapping[str, ArenaAssignment],
    default_protocol: LoadedProtocol | None,
    *,
    synthetic: bool = False,
    default_animal: str | None = None,
    sides: Sequence[str | None] = (),
    rig_protocols: bool = True,
) -> list[ArenaSpec]:
    """One ``ArenaSpec`` per arena of the rig file.

    Protocol: the ``--arena`` one, else the rig file's ``arenas[].protocol``, else
    ``default_protocol`` (only that with ``rig_protocols=False``). Animal: the ``--arena`` one, else the rig file's
    ``arenas[].animal``, else ``default_animal-NAME``. ``synthetic``: each arena's
    calibration is replaced by a synthetic chamber at its region's size (``rig demo``).
    Raises ConfigError (naming the arena) before any device is opened.
    """
    from rig.devices.regions import region_calibration
    from rig.protocol.load import load_protocol
    from rig.rigfile.load import arena_protocol_path

    config = rig.config
    if not config.arenas:
        raise ConfigError(f"{rig.path}: the rig file names no arenas (docs/arenas.md)")
    known = {a.name for a in config.arenas}
    unknown = sorted(set(assignments) - known)
    if unknown:
        raise ConfigError(
            f"--arena {unknown[0]}: no such arena in {rig.path} (its arenas: {', '.join(a.name for a in config.arenas)})"
        )
    boards = arena_boards(board, config.arenas)
    specs: list[ArenaSpec] = []
    for i, (arena, region, arena_board) in enumerate(zip(config.arenas, rig_regions(rig), boards, strict=True)):
        given = assignments.get(arena.name)
        if given is not None and given.protocol is not None:
            loaded = load_protocol(given.protocol)
        elif arena.protocol is not None and rig_protocols:
            loaded = load_protocol(arena_protocol_path(rig.path, arena.protocol))
        elif default_protocol is not None:
            loaded = default_protocol
        else:
            raise ConfigError(
                f"arena {arena.name}: no protocol: give one with --arena {arena.name}=ANIMAL:PROTOCOL, "
                f"as PROTOCOL, or as arenas[{i}].protocol in the rig file"
            )
        if synthetic:
            import yaml

            cal = region_calibration(region)
            raw = yaml.safe_dump(cal.model_dump(mode="json"), sort_keys=False).encode()
            loaded = dataclasses.replace(loaded, calibration=cal, calibration_raw=raw)
        else:
            cam = loaded.calibration.camera
            if (cam.width_px, cam.height_px) != (region.width_px, region.height_px):
                raise ConfigError(
                    f"arena {arena.name}: its protocol's calibration ({loaded.protocol.arena.calibration}) "
                    f"is for a {cam.width_px}x{cam.height_px} px image, but the arena's region is "
                    f"{region.width_px}x{region.height_px} px: calibrate the box on a crop of its "
                    "region (docs/arenas.md)"
                )
        if given is not None:
            animal = given.animal
        elif arena.animal is not None:
            animal = arena.animal
        elif default_animal is not None:
            animal = f"{default_animal}-{arena.name}"
        else:
            raise ConfigError(f"arena {arena.name}: no animal: give --arena {arena.name}=ANIMAL")
        side = sides[i] if i < len(sides) else None
        specs.append(ArenaSpec(region, loaded, arena_board, animal, side, rig=arena_rig(rig, arena.name)))
    return specs
