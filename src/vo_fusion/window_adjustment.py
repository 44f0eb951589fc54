"""Bundle adjustment over a sliding window of keyframes: the odometry's recent camera poses and
the points they triangulated, refined together against every observation in the window.

Triangulating each point once, from two views, leaves it with the error of those two views; the
odometry then measures later poses against those points, and the errors pile up (on the demo
drive the scale shrank by ~10 % over 60 m). Refining points and poses jointly over several
keyframes uses every view of each point. The oldest `fixed_poses` keyframes stay where they are
(they fix the gauge, scale included, so the window carries on the scale it started with), and so
do points marked fixed (the map's, when the odometry tracks them).

Solved with scipy's trust-region least squares on the reprojection errors (pixels), with the
analytic sparse Jacobian (each residual depends on one pose and one point); observations still
far off after a first solve are dropped and the window solved again (a plain robust loss
converged several times slower here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.sparse import csr_matrix
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform, left_jacobian_so3


@dataclass(frozen=True)
class WindowObservations:
    """Which keyframe (`pose`) saw which point (`point`) where (`pixels`, undistorted)."""

    pose: NDArray[np.int64]
    point: NDArray[np.int64]
    pixels: NDArray[np.float64]


@dataclass(frozen=True)
class AdjustedWindow:
    poses: list[Transform]  # T_wc, same order as given
    points: NDArray[np.float64]
    rms_before_px: float
    rms_after_px: float


def adjust_window(
    K: NDArray[np.float64],
    poses: list[Transform],
    points: NDArray[np.float64],
    fixed_points: NDArray[np.bool_],
    observations: WindowObservations,
    fixed_poses: int = 2,
    outlier_px: float = 3.0,
    max_evaluations: int = 30,
) -> AdjustedWindow:
    """Refine the keyframe poses (T_wc, oldest first) after the first `fixed_poses`, and the
    points not marked fixed, to minimise the reprojection error of the observations: a least-
    squares solve, then another without the observations left more than `outlier_px` off."""
    free_poses = list(range(fixed_poses, len(poses)))
    free_points = np.flatnonzero(~fixed_points)
    pose_slot = np.full(len(poses), -1)
    pose_slot[free_poses] = np.arange(len(free_poses))
    point_slot = np.full(len(points), -1)
    point_slot[free_points] = np.arange(len(free_points))
    # A pose is (rotation vector of R_cw, camera centre): centre and rotation stay decoupled,
    # where T_cw's translation (-R_cw c) would tie them and slow the solver down.
    rotvecs = np.array([pose.rotation.inv().as_rotvec() for pose in poses])
    centres = np.array([pose.translation for pose in poses])
    n_pose_params = 6 * len(free_poses)

    def unpack(x: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray]:
        r, c, p = rotvecs.copy(), centres.copy(), points.copy()
        pose_params = x[:n_pose_params].reshape(-1, 6)
        r[free_poses] = pose_params[:, :3]
        c[free_poses] = pose_params[:, 3:]
        p[free_points] = x[n_pose_params:].reshape(-1, 3)
        return r, c, p

    def errors(x: NDArray[np.float64], keep: NDArray[np.bool_]) -> NDArray[np.float64]:
        """(n, 2) reprojection errors of the kept observations."""
        r, c, p = unpack(x)
        pose, point = observations.pose[keep], observations.point[keep]
        camera = Rotation.from_rotvec(r[pose]).apply(p[point] - c[pose])
        depth = np.maximum(camera[:, 2:3], 1e-6)
        projected = camera[:, :2] / depth @ K[:2, :2].T + K[:2, 2]
        return np.asarray(projected - observations.pixels[keep])

    def jacobian(x: NDArray[np.float64], keep: NDArray[np.bool_]) -> csr_matrix:
        """d(errors)/dx, sparse: each observation's two rows depend on its pose and its point.
        With p = R(ω)(X − c): dp/dX = R, dp/dc = −R, dp/dω = −[p]× J_l(ω)."""
        r, c, p = unpack(x)
        pose, point = observations.pose[keep], observations.point[keep]
        rotations = Rotation.from_rotvec(r).as_matrix()
        camera = np.einsum("nij,nj->ni", rotations[pose], p[point] - c[pose])
        z = np.maximum(camera[:, 2], 1e-6)
        d_pixel = np.zeros((len(pose), 2, 3))
        d_pixel[:, 0, 0] = K[0, 0] / z
        d_pixel[:, 0, 2] = -K[0, 0] * camera[:, 0] / z**2
        d_pixel[:, 1, 1] = K[1, 1] / z
        d_pixel[:, 1, 2] = -K[1, 1] * camera[:, 1] / z**2
        d_point = d_pixel @ rotations[pose]
        left = np.stack([left_jacobian_so3(rotvec) for rotvec in r])
        d_rotation = d_pixel @ (-_skews(camera) @ left[pose])
        rows, columns, values = [], [], []
        for on, slot_columns, block in (
            (pose_slot[pose] >= 0, 6 * pose_slot[pose], np.concatenate([d_rotation, -d_point], 2)),
            (point_slot[point] >= 0, n_pose_params + 3 * point_slot[point], d_point),
        ):
            index = np.flatnonzero(on)
            width = block.shape[2]
            rows.append(
                np.broadcast_to(
                    (2 * index)[:, None, None] + np.arange(2)[:, None], (len(index), 2, width)
                )
            )
            columns.append(
                np.broadcast_to(
                    slot_columns[index][:, None, None] + np.arange(width), (len(index), 2, width)
                )
            )
            values.append(block[index])
        return csr_matrix(
            (
                np.concatenate([v.ravel() for v in values]),
                (
                    np.concatenate([v.ravel() for v in rows]),
                    np.concatenate([v.ravel() for v in columns]),
                ),
            ),
            shape=(2 * len(pose), len(x)),
        )

    def solve(x: NDArray[np.float64], keep: NDArray[np.bool_]) -> NDArray[np.float64]:
        return np.asarray(
            least_squares(
                lambda y: errors(y, keep).ravel(),
                x,
                jac=lambda y: jacobian(y, keep),
                max_nfev=max_evaluations,
                x_scale="jac",
                method="trf",
                tr_solver="lsmr",
            ).x
        )

    x = np.concatenate(
        [np.hstack([rotvecs[free_poses], centres[free_poses]]).ravel(), points[free_points].ravel()]
    )
    everything = np.ones(len(observations.pose), bool)
    before = errors(x, everything)
    if len(x):
        x = solve(x, everything)
        inliers = np.linalg.norm(errors(x, everything), axis=1) <= outlier_px
        if not inliers.all():
            x = solve(x, inliers)
    r, c, p = unpack(x)
    adjusted = [
        Transform(Rotation.from_rotvec(r[i]).inv(), c[i]) if i in free_poses else poses[i]
        for i in range(len(poses))
    ]
    after = errors(x, everything)
    return AdjustedWindow(adjusted, p, _rms(before), _rms(after))


def _rms(errors: NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(errors**2))) if errors.size else 0.0


def _skews(vectors: NDArray[np.float64]) -> NDArray[np.float64]:
    """[v]× for each row v: (n, 3) -> (n, 3, 3)."""
    x, y, z = vectors.T
    zero = np.zeros(len(vectors))
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=1).reshape(-1, 3, 3)
