"""Geographic positions near a site and local east-north-up (ENU) metres, on the WGS84 ellipsoid's
tangent plane at an origin: the meridian and prime-vertical radii of curvature at the origin's
latitude scale the angle differences. Over a site a few km across it is off by well under a metre
(the curvature term, d²/2R), far below a consumer GPS fix's error, and what these positions are
for (the map's place on Earth, for the sun's ephemeris) needs only kilometres."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

WGS84_A = 6378137.0  # semi-major axis, m
WGS84_E2 = 6.69437999014e-3  # first eccentricity squared


@dataclass(frozen=True)
class GeoOrigin:
    latitude_deg: float
    longitude_deg: float
    altitude_m: float = 0.0

    def _radii(self) -> tuple[float, float]:
        """(meridian, prime vertical) radii of curvature at the origin, m."""
        s = np.sin(np.radians(self.latitude_deg))
        w = np.sqrt(1.0 - WGS84_E2 * s * s)
        return WGS84_A * (1.0 - WGS84_E2) / w**3, WGS84_A / w

    def to_enu(
        self, latitude_deg: ArrayLike, longitude_deg: ArrayLike, altitude_m: ArrayLike
    ) -> NDArray[np.float64]:
        """(N, 3) east, north, up in metres from the origin."""
        meridian, prime = self._radii()
        north = np.radians(np.asarray(latitude_deg, float) - self.latitude_deg) * meridian
        east = (
            np.radians(np.asarray(longitude_deg, float) - self.longitude_deg)
            * prime
            * np.cos(np.radians(self.latitude_deg))
        )
        up = np.asarray(altitude_m, float) - self.altitude_m
        return np.stack(np.broadcast_arrays(east, north, up), axis=-1)

    def to_geodetic(self, enu: ArrayLike) -> NDArray[np.float64]:
        """(N, 3) latitude, longitude (degrees) and altitude (m) of ENU points."""
        meridian, prime = self._radii()
        e = np.asarray(enu, float)
        latitude = self.latitude_deg + np.degrees(e[..., 1] / meridian)
        longitude = self.longitude_deg + np.degrees(
            e[..., 0] / (prime * np.cos(np.radians(self.latitude_deg)))
        )
        return np.stack([latitude, longitude, self.altitude_m + e[..., 2]], axis=-1)
