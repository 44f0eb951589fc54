"""Keyframes from a camera-rate stream, chosen by how far the robot moved or turned."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pose_reloc.geometry import Transform


def select_keyframes(
    T_odom_cam: Sequence[Transform], min_distance_m: float, min_rotation_deg: float
) -> list[int]:
    """Indices of the frames to map: the first, then each frame that has moved `min_distance_m`
    or turned `min_rotation_deg` from the last keyframe (by odometry), and the last frame when it
    moved at all. A stationary stretch adds nothing."""
    if not T_odom_cam:
        return []
    chosen = [0]
    for index in range(1, len(T_odom_cam)):
        step = T_odom_cam[chosen[-1]].inverse() @ T_odom_cam[index]
        moved = float(np.linalg.norm(step.translation))
        turned = float(np.degrees(step.rotation.magnitude()))
        if moved >= min_distance_m or turned >= min_rotation_deg:
            chosen.append(index)
    last = len(T_odom_cam) - 1
    if chosen[-1] != last:
        step = T_odom_cam[chosen[-1]].inverse() @ T_odom_cam[last]
        if np.linalg.norm(step.translation) >= 0.5 * min_distance_m:
            chosen.append(last)
    return chosen


def path_lengths(T_odom_cam: Sequence[Transform]) -> np.ndarray:
    """Distance driven (by odometry) up to each pose, from the first."""
    if len(T_odom_cam) == 0:
        return np.zeros(0)
    centres = np.array([T.translation for T in T_odom_cam])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])
