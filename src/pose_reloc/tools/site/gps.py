"""Where the site lies on Earth, from the bag's GPS fixes (sensor_msgs/NavSatFix): the fixes in
east-north-up metres about the first one, matched to the registered frames' positions by stamp,
and the yaw and offset that best carry the site's horizontal positions onto them (one refit
without the fixes beyond three times the median miss). Gives the site's `origin_lat/lon/alt` and
`yaw_to_enu_deg`, which the sun updates and the dataset's sun vectors need. The horizontal
offset between the GPS antenna and the camera is ignored: a consumer fix is metres off anyway."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pose_reloc.datasets.record import Frame
from pose_reloc.datasets.rosbag import NavSatReading
from pose_reloc.geodesy import GeoOrigin

MAX_STAMP_GAP_S = 0.1  # a fix is matched to a frame this close in time
MIN_FIXES = 10
MIN_SPREAD_M = 20.0  # fixes this far apart, at least, for the yaw to mean something


def origin_from_gps(
    fixes: Sequence[NavSatReading], registered: Sequence[Frame]
) -> tuple[dict[str, float] | None, dict[str, Any]]:
    """(the site's origin for site.yaml, or None with the reason in the figures; figures)."""
    pairs = _matched(fixes, registered)
    figures: dict[str, Any] = {"gps_fixes": len(fixes), "gps_fixes_matched": len(pairs)}
    if len(pairs) < MIN_FIXES:
        figures["gps_origin"] = f"none: {len(pairs)} fixes matched to frames (< {MIN_FIXES})"
        return None, figures
    anchor = GeoOrigin(pairs[0][0].latitude_deg, pairs[0][0].longitude_deg, pairs[0][0].altitude_m)
    enu = anchor.to_enu(
        [f.latitude_deg for f, _ in pairs],
        [f.longitude_deg for f, _ in pairs],
        [f.altitude_m for f, _ in pairs],
    )
    site = np.array([frame.T_wc.translation for _, frame in pairs])
    if np.ptp(site[:, :2], axis=0).max() < MIN_SPREAD_M:
        figures["gps_origin"] = f"none: the drive spans less than {MIN_SPREAD_M:.0f} m"
        return None, figures
    yaw, offset, misses = _fit_yaw(site[:, :2], enu[:, :2])
    kept = misses <= 3.0 * max(float(np.median(misses)), 1e-3)
    yaw, offset, misses = _fit_yaw(site[kept, :2], enu[kept, :2])
    up = float(np.median(enu[kept, 2] - site[kept, 2]))
    latitude, longitude, altitude = anchor.to_geodetic([*offset, up])
    figures.update(
        gps_fixes_used=int(kept.sum()),
        gps_horizontal_rms_m=float(np.sqrt(np.mean(misses**2))),
        gps_origin="fitted",
    )
    origin = {
        "origin_lat": float(latitude),
        "origin_lon": float(longitude),
        "origin_alt": float(altitude),
        "yaw_to_enu_deg": float(np.degrees(yaw)),
    }
    return origin, figures


def _matched(
    fixes: Sequence[NavSatReading], frames: Sequence[Frame]
) -> list[tuple[NavSatReading, Frame]]:
    if not frames:
        return []
    stamps = np.array([f.stamp for f in frames])
    pairs = []
    for fix in fixes:
        nearest = int(np.abs(stamps - fix.stamp).argmin())
        if abs(stamps[nearest] - fix.stamp) <= MAX_STAMP_GAP_S:
            pairs.append((fix, frames[nearest]))
    return pairs


def _fit_yaw(site_xy: np.ndarray, enu_xy: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(yaw, offset, misses): enu ≈ R(yaw) site + offset, least squares; misses per point, m."""
    a, b = site_xy - site_xy.mean(axis=0), enu_xy - enu_xy.mean(axis=0)
    yaw = float(np.arctan2(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]), np.sum(a * b)))
    R = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
    offset = enu_xy.mean(axis=0) - R @ site_xy.mean(axis=0)
    misses = np.linalg.norm(site_xy @ R.T + offset - enu_xy, axis=1)
    return yaw, offset, misses
