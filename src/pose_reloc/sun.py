"""Where the sun is: unit sun vectors in east-north-up (ENU) and map frames, from an ephemeris (pvlib).

Shared by the synthetic world (which lights scenes with it), Sun-BCNN and VO fusion (which compare
observed and predicted sun directions). The map frame is tied to ENU by `yaw_to_enu_deg`: a vector
in the map frame becomes ENU by a rotation of that angle about the up axis (counter-clockwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.errors import PoseRelocError


class EphemerisError(PoseRelocError):
    """A time or place for which the sun's position cannot be computed."""


@dataclass(frozen=True)
class SunPositions:
    """Sun positions at N instants: unit vectors towards the sun and their angles."""

    enu: NDArray[np.float64]  # (N, 3) east, north, up
    azimuth_deg: NDArray[np.float64]  # clockwise from north
    elevation_deg: NDArray[np.float64]  # apparent (refraction-corrected), negative below horizon

    @property
    def above_horizon(self) -> NDArray[np.bool_]:
        return self.elevation_deg > 0.0


def enu_from_azimuth_elevation(
    azimuth_deg: ArrayLike, elevation_deg: ArrayLike
) -> NDArray[np.float64]:
    az, el = (
        np.radians(np.asarray(azimuth_deg, float)),
        np.radians(np.asarray(elevation_deg, float)),
    )
    return np.stack([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)], axis=-1)


def sun_positions(
    times_utc: Sequence[datetime] | ArrayLike,
    latitude_deg: float,
    longitude_deg: float,
    altitude_m: float = 0.0,
) -> SunPositions:
    """The sun seen from a place at UTC instants (datetimes, numpy datetime64, or Unix seconds)."""
    import pandas as pd  # pvlib's own dependency; imported here to keep module import light
    import pvlib

    if not -90.0 <= latitude_deg <= 90.0 or not -180.0 <= longitude_deg <= 360.0:
        raise EphemerisError(f"latitude {latitude_deg} / longitude {longitude_deg} is not on Earth")
    values = np.atleast_1d(np.asarray(times_utc))
    if values.dtype.kind in "fiu":
        index = pd.to_datetime(values.astype(float), unit="s", utc=True)
    else:
        index = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    if index.isna().any():
        raise EphemerisError("a time given to the ephemeris is not a valid instant")
    table = pvlib.solarposition.get_solarposition(
        index, latitude_deg, longitude_deg, altitude=altitude_m
    )
    azimuth = table["azimuth"].to_numpy(dtype=float)
    elevation = table["apparent_elevation"].to_numpy(dtype=float)
    return SunPositions(enu_from_azimuth_elevation(azimuth, elevation), azimuth, elevation)


def enu_to_map(vectors_enu: ArrayLike, yaw_to_enu_deg: float) -> NDArray[np.float64]:
    """ENU vectors expressed in a map frame whose axes are ENU's turned by yaw_to_enu_deg."""
    R_enu_map = Rotation.from_euler("z", yaw_to_enu_deg, degrees=True)
    return np.asarray(R_enu_map.inv().apply(np.asarray(vectors_enu, float)), dtype=np.float64)


def sun_at(
    stamp_s: float,
    latitude_deg: float,
    longitude_deg: float,
    altitude_m: float = 0.0,
    yaw_to_enu_deg: float = 0.0,
) -> tuple[NDArray[np.float64], float]:
    """(unit sun vector in the map frame, apparent elevation in degrees) at one Unix time, for a
    map anchored at the place and turned `yaw_to_enu_deg` from east-north-up."""
    positions = sun_positions([stamp_s], latitude_deg, longitude_deg, altitude_m)
    return enu_to_map(positions.enu, yaw_to_enu_deg)[0], float(positions.elevation_deg[0])
