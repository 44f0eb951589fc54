"""Metric scale for a map whose shape the images fixed: from the camera's known height above the
ground (the mount in /tf_static, the robot on the ground), measured against the ground points the
map triangulated, or from the odometry (a Sim(3) fit of the keyframe centres to where odometry put
them, which carries the odometry's own scale error)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.pose_graph import UP

GROUND_SEARCH = (0.7, 1.4)  # the ground is looked for this many camera heights below the camera
GROUND_RANGE_M = (1.5, 12.0)  # ground points counted this far from the camera, horizontally


@dataclass(frozen=True)
class ScaleEstimate:
    """Multiply the map's lengths by `scale`; `source` says what measured it and `support` how
    many measurements agreed."""

    scale: float
    source: str
    support: int
    spread: float  # relative spread (MAD/median) of the measurements


def scale_from_camera_height(
    centres: NDArray[np.float64],
    points: NDArray[np.float64],
    observation_view: NDArray[np.int64],
    observation_point: NDArray[np.int64],
    camera_height_m: float,
    min_support: int = 200,
) -> ScaleEstimate | None:
    """The scale that puts the ground points the cameras saw `camera_height_m` below them, or
    None when too few ground points were found (no textured ground in view)."""
    if camera_height_m <= 0.0:
        raise VoFusionError(f"camera height above the ground is {camera_height_m} m: not positive")
    offsets = centres[observation_view] - points[observation_point]
    heights = offsets @ UP
    horizontal = np.linalg.norm(offsets - heights[:, None] * UP, axis=1)
    nearby = (horizontal >= GROUND_RANGE_M[0]) & (horizontal <= GROUND_RANGE_M[1])
    low, high = GROUND_SEARCH
    candidates = heights[
        nearby & (heights > low * camera_height_m) & (heights < high * camera_height_m)
    ]
    if len(candidates) < min_support:
        return None
    peak = _densest(candidates, 0.02 * camera_height_m)
    ground = candidates[np.abs(candidates - peak) < 0.03 * camera_height_m]
    if len(ground) < min_support:
        return None
    median = float(np.median(ground))
    spread = float(np.median(np.abs(ground - median)) / median)
    return ScaleEstimate(
        camera_height_m / median, "camera height above the ground", len(ground), spread
    )


def _densest(values: NDArray[np.float64], bandwidth: float) -> float:
    """The value with the most others within `bandwidth` (a histogram mode, refined by the mean
    of its neighbourhood)."""
    bins = max(int((values.max() - values.min()) / bandwidth), 1)
    counts, edges = np.histogram(values, bins=bins)
    centre = 0.5 * (edges[counts.argmax()] + edges[counts.argmax() + 1])
    for _ in range(5):
        near = values[np.abs(values - centre) < bandwidth]
        if len(near) == 0:
            break
        centre = float(near.mean())
    return float(centre)


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


def scaled_poses(poses: Sequence[Transform], scale: float) -> list[Transform]:
    """The poses with the map stretched by `scale` about the first camera."""
    origin = poses[0].translation
    return [Transform(T.rotation, origin + scale * (T.translation - origin)) for T in poses]
