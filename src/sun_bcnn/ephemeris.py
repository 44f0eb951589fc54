"""Where the sun should be: the reference Sun-BCNN's observations are compared with.

A thin layer over `pose_reloc.sun` (pvlib): the unit sun vector in east-north-up and in the `map`
frame, from UTC instants and the map's geographic anchor (`map.origin_lat/lon/alt` and
`map.yaw_to_enu`, the angle the map's x axis is turned counter-clockwise from east). Below the
horizon the vectors are still returned (pointing down) but flagged, so callers do not fuse them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pose_reloc.sun import enu_to_map, sun_positions


@dataclass(frozen=True)
class MapAnchor:
    """Where the map frame is on Earth and how it is turned from east-north-up."""

    latitude_deg: float
    longitude_deg: float
    altitude_m: float = 0.0
    yaw_to_enu_deg: float = 0.0


@dataclass(frozen=True)
class SunReference:
    """The sun at N instants, seen from a map's anchor."""

    enu: NDArray[np.float64]  # (N, 3) unit vectors east, north, up
    map: NDArray[np.float64]  # (N, 3) the same vectors in the map frame
    azimuth_deg: NDArray[np.float64]  # (N,) clockwise from north
    elevation_deg: NDArray[np.float64]  # (N,) apparent; negative below the horizon
    above_horizon: NDArray[np.bool_]  # (N,) False: night, the sun cannot be observed


def sun_reference(
    times_utc: Sequence[datetime] | ArrayLike,
    anchor: MapAnchor,
) -> SunReference:
    """The sun at UTC instants (datetimes, numpy datetime64 or Unix seconds) for a map anchor."""
    positions = sun_positions(
        times_utc, anchor.latitude_deg, anchor.longitude_deg, anchor.altitude_m
    )
    return SunReference(
        enu=positions.enu,
        map=enu_to_map(positions.enu, anchor.yaw_to_enu_deg),
        azimuth_deg=positions.azimuth_deg,
        elevation_deg=positions.elevation_deg,
        above_horizon=np.asarray(positions.above_horizon, dtype=bool),
    )
