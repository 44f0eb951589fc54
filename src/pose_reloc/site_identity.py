"""Which site a map, a model or a retrieval index was made for, so that one made for another site
is refused instead of giving poses of the wrong place.

A site is named by a string: `synthetic:<scene>:<seed>` for a rendered city (the scene name and the
seed that lays it out; another day's drive of the same city is the same site), the name map-site
was given (`--site`, by default the site folder's name) for a robot's own, "" where nothing says.
Datasets carry it in dataset.yaml (`site`), maps in their metadata, PoseNet models in theirs, and
retrieval indexes in their info; the nodes compare what they load with their `site` parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pose_reloc.errors import PoseRelocError

UNKNOWN = ""


class SiteMismatchError(PoseRelocError):
    """A map, model or index made for one site, used where another is expected."""


def recorded_site(metadata: Any) -> str:
    """The `site` a map's metadata, a model's or an index's info records; UNKNOWN where none."""
    site = metadata.get("site") if isinstance(metadata, dict) else None
    return str(site) if site else UNKNOWN


def synthetic_site(scene: str, seed: int) -> str:
    return f"synthetic:{scene}:{seed}"


def site_of_dataset_info(info: dict[str, Any]) -> str:
    """The site a synthetic-format dataset.yaml names: its `site`, or for renders made before
    datasets carried one, its scene's name and seed."""
    site = info.get("site")
    if isinstance(site, str) and site:
        return site
    scene = info.get("scene_config")
    if isinstance(scene, dict) and "name" in scene and "seed" in scene:
        return synthetic_site(str(scene["name"]), int(scene["seed"]))
    return UNKNOWN


def site_of_datasets(paths: Iterable[str | Path]) -> str:
    """The one site of several datasets (those that do not say are taken to be of it); datasets
    of two sites are refused, since nothing made from them would hold at either."""
    from pose_reloc.datasets.synthetic import read_info

    sites = {}
    for path in paths:
        if (Path(path) / "dataset.yaml").is_file():
            sites[str(path)] = site_of_dataset_info(read_info(path))
    return common_site(sites, "datasets")


def common_site(sites: dict[str, str], what: str) -> str:
    """The site all of `sites` (name -> site) agree on, UNKNOWN where none says; two differing
    sites raise SiteMismatchError naming each."""
    known = {name: site for name, site in sites.items() if site != UNKNOWN}
    if len(set(known.values())) > 1:
        listed = ", ".join(f"{name}: {site!r}" for name, site in known.items())
        raise SiteMismatchError(f"the {what} are of different sites ({listed})")
    return next(iter(known.values()), UNKNOWN)


def check_site(expected: str, found: str, kind: str, path: str | Path) -> str | None:
    """Compare the site of a loaded `kind` ("map", "PoseNet model", "retrieval index") read from
    `path` (`found`) with the one the robot is configured for (`expected`; UNKNOWN: no check).
    Raises SiteMismatchError when they differ; returns a warning to log when `found` does not
    say, None when all is well."""
    if expected == UNKNOWN:
        return None
    if found == UNKNOWN:
        return (
            f"{kind} {path} does not say which site it was made for (made before maps and models "
            f"carried one): cannot check that it is of site {expected!r}"
        )
    if found != expected:
        raise SiteMismatchError(
            f"{kind} {path} was made for site {found!r}, but this robot is configured for site "
            f"{expected!r} (parameter site): give the {kind} made for {expected!r}, or set site "
            f"to {found!r} if this is that site"
        )
    return None


def check_sites(
    expected: str, loaded: Sequence[tuple[str, str | Path, str]], warn: Callable[[str], object]
) -> None:
    """check_site for each (kind, path, site) loaded; warnings go to `warn`."""
    for kind, path, found in loaded:
        warning = check_site(expected, found, kind, path)
        if warning is not None:
            warn(warning)
