"""Loop closures: keyframes far apart along the drive but near in place and heading by the
adjusted poses, matched and verified by their epipolar geometry, then measured metrically by
PnP of the newer keyframe's keypoints against the older one's triangulated points (so the
closure carries its length, which a two-view essential matrix cannot), with the PnP's own
uncertainty: a loop measured on far points is metres less sure than one on near points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from pose_reloc.errors import GeometryError
from pose_reloc.geometry import Transform
from vo_fusion.build_map import View
from vo_fusion.mapping.adjustment import TriangulatedKeyframes
from vo_fusion.mapping.two_view import TwoView, verify_pair
from vo_fusion.parallel import thread_map
from vo_fusion.pnp import pose_and_covariance, solve_pnp


@dataclass(frozen=True)
class LoopSearch:
    radius_m: float = 3.0  # candidates this close, plus the drift allowance
    drift: float = 0.02  # of the distance driven between the two keyframes
    min_separation_m: float = 15.0  # driven between two keyframes for a loop
    max_angle_deg: float = 40.0
    candidates: int = 3  # per keyframe, the nearest tried
    # 20, not 30: on the survey's first 600 s, 90 loops instead of 62 took the keyframes' ATE from
    # 7.3 to 5.8 cm (15: 102 loops, 6.1 cm; 6 candidates or 60 degrees apart: more loops, worse)
    min_inliers: int = 20
    threshold_px: float = 2.0


@dataclass(frozen=True)
class LoopClosure:
    """Keyframe `j` (newer) seen from `i` (older): `T_ij`, j's camera in i's camera frame, with
    the PnP's standard deviations of j's centre and rotation, each the root mean square over
    the three axes (of its covariance from the reprojection residuals alone)."""

    pair: TwoView
    T_ij: Transform
    pnp_inliers: int
    sigma_translation_m: float
    sigma_rotation_rad: float


def loop_candidates(
    poses: Sequence[Transform], driven: NDArray[np.float64], search: LoopSearch
) -> list[tuple[int, int]]:
    """(i, j), i < j: j near i in place and heading, far from it along the drive."""
    centres = np.array([T.translation for T in poses])
    axes = np.array([T.rotation.apply([0.0, 0.0, 1.0]) for T in poses])
    tree = cKDTree(centres)
    min_cosine = np.cos(np.radians(search.max_angle_deg))
    pairs: list[tuple[int, int]] = []
    for i in range(len(poses)):
        reach = search.radius_m + search.drift * (driven[-1] - driven[i])
        near = np.asarray(tree.query_ball_point(centres[i], reach), dtype=np.int64)
        near = near[(driven[near] - driven[i]) >= search.min_separation_m]
        near = near[axes[near] @ axes[i] >= min_cosine]
        separation = np.linalg.norm(centres[near] - centres[i], axis=1)
        allowed = search.radius_m + search.drift * (driven[near] - driven[i])
        order = np.argsort(separation)
        chosen = [int(near[k]) for k in order if separation[k] <= allowed[k]]
        pairs.extend((i, j) for j in chosen[: search.candidates])
    return pairs


def close_loops(
    views: Sequence[View],
    keyframes: TriangulatedKeyframes,
    candidates: Sequence[tuple[int, int]],
    descriptor: str,
    search: LoopSearch,
) -> list[LoopClosure]:
    K = views[0].camera.K
    points_of = keyframes.points_of(sorted({i for i, _ in candidates}))

    def closure(candidate: tuple[int, int]) -> LoopClosure | None:
        i, j = candidate
        pair = verify_pair(views[i], views[j], i, j, descriptor, min_inliers=search.min_inliers)
        if pair is None:
            return None
        measured = _pose_against_points(views[j], keyframes, points_of[i], pair.matches, K, search)
        if measured is None:
            return None
        T_wc_j, covariance, inliers = measured
        return LoopClosure(
            pair,
            keyframes.poses[i].inverse() @ T_wc_j,
            inliers,
            float(np.sqrt(np.trace(covariance[:3, :3]) / 3.0)),
            float(np.sqrt(np.trace(covariance[3:, 3:]) / 3.0)),
        )

    return [loop for loop in thread_map(closure, candidates) if loop is not None]


def _pose_against_points(
    view_j: View,
    keyframes: TriangulatedKeyframes,
    point_of: dict[int, int],
    matches: NDArray[np.int64],
    K: NDArray[np.float64],
    search: LoopSearch,
) -> tuple[Transform, NDArray[np.float64], int] | None:
    """Where keyframe j's camera is by PnP of its keypoints against keyframe i's points
    (`point_of`: i's keypoint -> point index): T_wc, its 6x6 covariance (centre, rotation; the
    traces taken are the same in i's frame) and the inliers, or None where too few agree or the
    geometry leaves the pose undetermined."""
    rows = [(point_of[ki], kj) for ki, kj in matches.tolist() if ki in point_of]
    if len(rows) < search.min_inliers:
        return None
    points = keyframes.points[[p for p, _ in rows]]
    pixels = view_j.normalized[[k for _, k in rows]] @ K[:2, :2].T + K[:2, 2]
    solution, _ = solve_pnp(points, np.ascontiguousarray(pixels), K, search.threshold_px)
    if solution is None or len(solution.inliers) < search.min_inliers:
        return None
    try:
        T_wc, covariance = pose_and_covariance(solution, points, K)
    except GeometryError:
        return None
    return T_wc, covariance, len(solution.inliers)
