"""Every keyframe and the points they share, refined together: tracks merged from the verified
pair matches, triangulated from the current poses, and bundle-adjusted (`bundle`) with the pose
factors; twice, the second time re-triangulating under the adjusted poses so that observations
the first poses put too far off come back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from pose_reloc.geometry import Transform
from vo_fusion.build_map import (
    Points,
    Tracks,
    View,
    merge_tracks,
    per_observation,
    triangulate_and_filter,
    well_placed,
)
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.bundle import OdometryCalibration, PoseFactors, bundle_adjust
from vo_fusion.mapping.two_view import TwoView
from vo_fusion.window_adjustment import WindowObservations

MIN_TRIANGULATION_DEG = 1.0
MAX_POINT_STD_M = 2.0
CHUNK = 100  # keyframes added to the adjusted drive at a time
# keyframes adjusted together while the drive grows: on the survey 150 took the windows from 452
# to 274 s (whole map-site 23.0 -> 19.9 min), keyframe ATE 5.5 -> 5.6 cm; 300: 30 % slower
WINDOW = 150
HELD = 20  # of them, the oldest held where earlier windows put them
MAX_ITERATIONS = 60


@dataclass(frozen=True)
class TriangulatedKeyframes:
    poses: list[Transform]  # T_world_cam per keyframe
    points: NDArray[np.float64]
    tracks: Tracks  # observations (view, keypoint, track) of the points

    def points_of(self, views: Sequence[int]) -> dict[int, dict[int, int]]:
        """Per keyframe in `views`: keypoint -> index of the point it observes."""
        order = np.argsort(self.tracks.view, kind="stable")
        by_view = self.tracks.view[order]
        result = {}
        for view in views:
            mine = order[np.searchsorted(by_view, view) : np.searchsorted(by_view, view, "right")]
            keypoints, points = self.tracks.keypoint[mine], self.tracks.track[mine]
            result[view] = dict(zip(keypoints.tolist(), points.tolist(), strict=True))
        return result


@dataclass(frozen=True)
class AdjustedKeyframes(TriangulatedKeyframes):
    rms_before_px: float
    rms_after_px: float
    inlier_share: float  # of the observations, within the outlier threshold at the end
    odometry: OdometryCalibration = field(default_factory=OdometryCalibration)  # found off by


def posed(views: Sequence[View], poses: Sequence[Transform]) -> list[View]:
    """The views with new poses (features unchanged)."""
    return [
        replace(
            view,
            T_cw=T_wc.inverse(),
            centre=T_wc.translation,
            axis=T_wc.rotation.apply([0.0, 0.0, 1.0]),
        )
        for view, T_wc in zip(views, poses, strict=True)
    ]


def adjust_keyframes(
    views: Sequence[View],
    poses: Sequence[Transform],
    pairs: Sequence[TwoView],
    factors: PoseFactors,
    max_reprojection_px: float,
) -> AdjustedKeyframes:
    """Every keyframe adjusted together, from `poses` (from `adjust_windows`: a whole drive
    started from the odometry's drifted poses needed hundreds of iterations)."""
    edges = [pair.as_edges() for pair in pairs]
    return _adjust(views, poses, edges, factors, max_reprojection_px, rounds=2, fixed_poses=1)


def triangulate_keyframes(
    views: Sequence[View],
    poses: Sequence[Transform],
    pairs: Sequence[TwoView],
    max_reprojection_px: float,
) -> TriangulatedKeyframes:
    """The points of the pairs' matches under `poses`, not adjusted (what a loop search measures
    against before the loops join the adjustment)."""
    edges = [pair.as_edges() for pair in pairs]
    points = _points(posed(views, poses), edges, max_reprojection_px)
    return TriangulatedKeyframes(list(poses), points.world, points.tracks)


def adjust_windows(
    views: Sequence[View],
    odometry: Sequence[Transform],
    pairs: Sequence[TwoView],
    factors: PoseFactors,
    max_reprojection_px: float,
) -> list[Transform]:
    """The keyframe poses adjusted window by window along the drive: each new chunk of keyframes
    starts from the last adjusted pose and the odometry's steps, so the odometry's drift never
    piles up in the starting poses."""
    edges = [pair.as_edges() for pair in pairs]
    poses = list(odometry)
    done = 0
    while done < len(views):
        end = min(done + CHUNK, len(views))
        for k in range(max(done, 1), end):
            poses[k] = poses[k - 1] @ (odometry[k - 1].inverse() @ odometry[k])
        first = max(0, end - WINDOW)
        held = min(max(done - first, 1), HELD)
        window_edges = [
            e - np.array([first, 0, first, 0])
            for e in edges
            if len(e) and e[0, 0] >= first and e[0, 2] < end
        ]
        if window_edges:
            try:
                adjusted = _adjust(
                    views[first:end],
                    poses[first:end],
                    window_edges,
                    factors.subset(first, end),
                    max_reprojection_px,
                    rounds=1,
                    fixed_poses=held,
                )
                poses[first:end] = adjusted.poses
            except VoFusionError:
                pass  # nothing to triangulate here: the odometry carries these keyframes
        done = end
    return poses


def _adjust(
    views: Sequence[View],
    poses: Sequence[Transform],
    edges: list[NDArray[np.int64]],
    factors: PoseFactors,
    max_reprojection_px: float,
    rounds: int,
    fixed_poses: int,
) -> AdjustedKeyframes:
    """Triangulate and bundle-adjust, `rounds` times (re-triangulating under the adjusted
    poses, so observations the previous poses put too far off come back)."""
    poses = list(poses)
    K = views[0].camera.K
    result = None
    before = float("nan")
    for round_index in range(rounds):
        current = posed(views, poses)
        points = _points(current, edges, max_reprojection_px)
        observations = WindowObservations(
            pose=points.tracks.view,
            point=points.tracks.track,
            pixels=undistorted_pixels(current, points.tracks, K),
        )
        result = bundle_adjust(
            K,
            poses,
            points.world,
            observations,
            factors,
            max_iterations=MAX_ITERATIONS,
            outlier_px=max_reprojection_px,
            fixed_poses=fixed_poses,
        )
        poses = result.poses
        if round_index == 0:
            before = result.rms_before_px
        kept = points.tracks
    assert result is not None
    return AdjustedKeyframes(
        poses,
        result.points,
        kept,
        before,
        result.rms_after_px,
        float(result.inliers.mean()),
        result.odometry,
    )


def _points(
    views: list[View], edges: list[NDArray[np.int64]], max_reprojection_px: float
) -> Points:
    tracks = merge_tracks(views, edges, min_track=2)
    points = triangulate_and_filter(views, tracks, 3.0 * max_reprojection_px, 2, 1.0)
    if len(points.world):
        # points seen under a narrow angle hardly constrain the poses, and stiffen the solve
        points = well_placed(views, points, MIN_TRIANGULATION_DEG, MAX_POINT_STD_M)
    if len(points.world) == 0:
        raise VoFusionError(
            "no point could be triangulated from the verified keyframe pairs: the images do "
            "not overlap enough (too dark or blank, or keyframes too far apart)"
        )
    return points


def undistorted_pixels(
    views: Sequence[View], tracks: Tracks, K: NDArray[np.float64]
) -> NDArray[np.float64]:
    normalized = per_observation([view.normalized for view in views], tracks)
    return np.asarray(normalized @ K[:2, :2].T + K[:2, 2])
