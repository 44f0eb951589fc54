"""Metric scale for a map whose shape the images fixed: from position fixes (GPS: a horizontal
similarity fit of the keyframe centres onto the fixes), from the camera's known height above the
ground (the mount in /tf_static, the robot on the ground), measured against the ground points the
map triangulated, or from the odometry (the ratio of the distances it measured to the map's, which
carries the odometry's own scale error)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.pose_graph import UP

GROUND_SEARCH = (0.7, 1.4)  # the ground is looked for this many camera heights below the camera
GROUND_RANGE_M = (1.5, 12.0)  # ground points counted this far from the camera, horizontally
MODE_BANDWIDTHS = (0.08, 0.04, 0.02)  # of the camera height: the mean shift's windows
MIN_FIXES = 10
# The camera height's scale was 0.3-1.3 % off on the demo city's drives; a GPS fit's std counts
# this many times over against it.
CAMERA_HEIGHT_SCALE_STD = 0.01
GPS_STD_MARGIN = 1.5
MIN_FIX_SPREAD_M = 20.0  # the fixes span this much, at least, horizontally


@dataclass(frozen=True)
class ScaleEstimate:
    """Multiply the map's lengths by `scale`; `source` says what measured it and `support` how
    many measurements agreed."""

    scale: float
    source: str
    support: int
    spread: float  # relative spread (MAD/median) of the measurements
    std: float | None = None  # relative standard deviation, where the fit gives one


@dataclass(frozen=True)
class PositionFixes:
    """Where a receiver outside the map put the robot (GPS fixes in east-north-up metres about
    any point), at `stamps` (seconds, the frames' clock)."""

    stamps: NDArray[np.float64]
    enu: NDArray[np.float64]  # (n, 3)


def scale_from_camera_height(
    poses: Sequence[Transform],
    points: NDArray[np.float64],
    observation_view: NDArray[np.int64],
    observation_point: NDArray[np.int64],
    camera_height_m: float,
    up_in_camera: NDArray[np.float64] | None = None,
    min_support: int = 200,
) -> ScaleEstimate | None:
    """The scale that puts the ground points the cameras (T_map_cam `poses`) saw
    `camera_height_m` below them, or None when too few ground points were found (no textured
    ground in view). Heights are taken along the up each camera knows from its mount
    (`up_in_camera`, per pose; default: the map's up): a keyframe pitched 0.3° in the map would
    otherwise raise the ground 3 cm at 6 m, a 2 % error in scale."""
    if camera_height_m <= 0.0:
        raise VoFusionError(f"camera height above the ground is {camera_height_m} m: not positive")
    R_cw = Rotation.concatenate([T.rotation.inv() for T in poses])
    centres = np.array([T.translation for T in poses])
    up = R_cw.apply(np.tile(UP, (len(poses), 1))) if up_in_camera is None else up_in_camera
    offsets = R_cw[observation_view].apply(centres[observation_view] - points[observation_point])
    heights = np.einsum("ni,ni->n", offsets, up[observation_view])
    horizontal = np.linalg.norm(offsets - heights[:, None] * up[observation_view], axis=1)
    nearby = (horizontal >= GROUND_RANGE_M[0]) & (horizontal <= GROUND_RANGE_M[1])
    low, high = GROUND_SEARCH
    candidates = heights[
        nearby & (heights > low * camera_height_m) & (heights < high * camera_height_m)
    ]
    if len(candidates) < min_support:
        return None
    peak = _mode(candidates, camera_height_m * np.array(MODE_BANDWIDTHS))
    ground = candidates[np.abs(candidates - peak) < MODE_BANDWIDTHS[-1] * camera_height_m]
    if len(ground) < min_support:
        return None
    spread = float(np.median(np.abs(ground - peak)) / peak)
    return ScaleEstimate(
        camera_height_m / peak, "camera height above the ground", len(ground), spread
    )


def _mode(values: NDArray[np.float64], bandwidths: NDArray[np.float64]) -> float:
    """The densest value: mean shift from the median, the window narrowed step by step. The
    ground's heights form a broad peak (depth noise grows with distance) with kerbs and low
    objects beside it; a histogram's highest bin moved the scale by ±2 % between two runs of the
    same drive, the narrowing mean shift by 0.2 %."""
    centre = float(np.median(values))
    for bandwidth in bandwidths:
        for _ in range(50):
            near = values[np.abs(values - centre) < bandwidth]
            if len(near) == 0:
                return centre
            moved = float(near.mean())
            if abs(moved - centre) < 1e-4 * bandwidth:
                break
            centre = moved
    return centre


def scale_from_odometry(
    centres: NDArray[np.float64], odometry_centres: NDArray[np.float64]
) -> ScaleEstimate:
    """The ratio of the distances the odometry measured to the map's, over the whole drive."""
    steps_map = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    steps_odom = np.linalg.norm(np.diff(odometry_centres, axis=0), axis=1)
    map_path, odometry_path = float(steps_map.sum()), float(steps_odom.sum())
    if map_path <= 1e-6:
        raise VoFusionError("the mapped keyframes did not move: no scale can be measured")
    moving = steps_map > 1e-3
    ratios = steps_odom[moving] / steps_map[moving]
    spread = float(np.median(np.abs(ratios - np.median(ratios))) / max(np.median(ratios), 1e-9))
    return ScaleEstimate(odometry_path / map_path, "odometry distance", int(moving.sum()), spread)


def scale_from_fixes(
    centres: NDArray[np.float64], stamps: NDArray[np.float64], fixes: PositionFixes
) -> ScaleEstimate | None:
    """The horizontal similarity that carries the keyframe centres (interpolated at the fixes'
    stamps) onto the fixes, refitted once without the fixes beyond three times the median miss.
    `std` counts the fixes as independent only as far as their misses are: a receiver's errors
    (and the map's own bends) run on for seconds to minutes, which the misses' lag-one
    autocorrelation ρ measures (n (1 - ρ) / (1 + ρ) effective fixes). None where fewer than
    MIN_FIXES fixes fall within the drive or they span less than MIN_FIX_SPREAD_M."""
    inside = (fixes.stamps >= stamps[0]) & (fixes.stamps <= stamps[-1])
    if inside.sum() < MIN_FIXES:
        return None
    order = np.argsort(fixes.stamps[inside])
    site = np.column_stack(
        [np.interp(fixes.stamps[inside][order], stamps, centres[:, axis]) for axis in (0, 1)]
    )
    measured = fixes.enu[inside, :2][order]
    if np.ptp(measured, axis=0).max() < MIN_FIX_SPREAD_M:
        return None
    fit = horizontal_similarity(site, measured)
    kept = fit.misses <= 3.0 * max(float(np.median(fit.misses)), 1e-3)
    fit = horizontal_similarity(site[kept], measured[kept])
    sigma = float(np.sqrt(np.mean(fit.misses**2) / 2.0))  # a fix's error per axis, metres
    radius = float(np.sqrt(np.mean(np.sum((measured[kept] - measured[kept].mean(0)) ** 2, 1))))
    spread = sigma / max(radius, 1e-9)  # one fix's error against the drive's extent
    n = int(kept.sum())
    rho = _lag_one_correlation(fit.residuals)
    effective = max(n * (1.0 - rho) / (1.0 + rho), 1.0)
    return ScaleEstimate(fit.scale, "GPS", n, spread, float(spread / np.sqrt(effective)))


def _lag_one_correlation(residuals: NDArray[np.float64]) -> float:
    """Of a time-ordered (n, 2) series, both axes pooled; clipped to [0, 0.98]."""
    centred = residuals - residuals.mean(axis=0)
    denominator = float(np.sum(centred**2))
    if denominator <= 1e-12 or len(centred) < 3:
        return 0.0
    rho = float(np.sum(centred[1:] * centred[:-1])) / denominator
    return float(np.clip(rho, 0.0, 0.98))


def surer_scale(
    by_gps: ScaleEstimate | None, by_height: ScaleEstimate | None
) -> ScaleEstimate | None:
    """The GPS's where GPS_STD_MARGIN of its stds is below the camera height's error (the drive
    spans a few hundred metres or more) or there is no camera height; else the camera height's."""
    gps_std = by_gps.std if by_gps is not None else None
    if gps_std is not None and (
        by_height is None or GPS_STD_MARGIN * gps_std < CAMERA_HEIGHT_SCALE_STD
    ):
        return by_gps
    return by_height


@dataclass(frozen=True)
class HorizontalSimilarity:
    """target_xy ≈ scale R(yaw) source_xy + offset; `residuals` (n, 2): target minus fit."""

    yaw: float
    scale: float
    offset: NDArray[np.float64]
    residuals: NDArray[np.float64]

    @property
    def misses(self) -> NDArray[np.float64]:
        return np.asarray(np.linalg.norm(self.residuals, axis=1))


def horizontal_similarity(
    source_xy: NDArray[np.float64], target_xy: NDArray[np.float64], with_scale: bool = True
) -> HorizontalSimilarity:
    """Least squares (Umeyama's, in the plane); with_scale=False: yaw and offset only."""
    a = source_xy - source_xy.mean(axis=0)
    b = target_xy - target_xy.mean(axis=0)
    yaw = float(np.arctan2(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]), np.sum(a * b)))
    R = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
    scale = float(np.sum(b * (a @ R.T)) / max(float(np.sum(a * a)), 1e-12)) if with_scale else 1.0
    offset = target_xy.mean(axis=0) - scale * R @ source_xy.mean(axis=0)
    residuals = target_xy - (scale * source_xy @ R.T + offset)
    return HorizontalSimilarity(yaw, scale, offset, residuals)


def scaled_poses(poses: Sequence[Transform], scale: float) -> list[Transform]:
    """The poses with the map stretched by `scale` about the first camera."""
    origin = poses[0].translation
    return [Transform(T.rotation, origin + scale * (T.translation - origin)) for T in poses]
