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
from vo_fusion.mapping.scale import PositionFixes, horizontal_similarity

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
    fit = horizontal_similarity(site[:, :2], enu[:, :2], with_scale=False)
    kept = fit.misses <= 3.0 * max(float(np.median(fit.misses)), 1e-3)
    fit = horizontal_similarity(site[kept, :2], enu[kept, :2], with_scale=False)
    yaw, offset, misses = fit.yaw, fit.offset, fit.misses
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


def fixes_in_enu(fixes: Sequence[NavSatReading]) -> PositionFixes | None:
    """The fixes in east-north-up metres about the first one (for the mapping's scale)."""
    if not fixes:
        return None
    anchor = GeoOrigin(fixes[0].latitude_deg, fixes[0].longitude_deg, fixes[0].altitude_m)
    enu = anchor.to_enu(
        [f.latitude_deg for f in fixes],
        [f.longitude_deg for f in fixes],
        [f.altitude_m for f in fixes],
    )
    return PositionFixes(np.array([f.stamp for f in fixes]), np.asarray(enu, dtype=np.float64))


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
