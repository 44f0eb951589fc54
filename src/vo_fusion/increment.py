"""One frame-to-frame increment fitted to every followed track, those with a depth and those
without, around the motion model's prediction: what keeps odometry going where PnP alone cannot.

Why. A robot turning at a street corner yaws 5-8 degrees per frame while moving a few
centimetres: the points with a depth leave the image faster than new corners can be triangulated
(that needs translation, which a turn on the spot does not give), and PnP runs out of points
within a second although optical flow still follows most corners. Those corners constrain the
increment without a depth: each must lie on its epipolar line (for a turn on the spot, where the
line degenerates, at the rotated ray). Fitted together with the points that still have a depth,
and with the motion model's translation as a prior (the one thing two views without depth
cannot tell: how far), they give the rotation from the image and the translation from whatever
depth is left, else from the motion model, with a covariance that says which.

Residuals, all in pixels (the normalized-image error times the mean focal length):
  - a track with a world point: its reprojection error in the current image;
  - a track without: its Sampson distance to the epipolar line of the increment (the first-order
    distance to the nearest pair of image points that satisfy the epipolar constraint), or, when
    the prior's translation is below `ROTATION_ONLY_M`, its distance to the rotated ray;
  - the prior: L (x - x_prior), with LᵀL its information (the motion model's: the translation
    only; the robot's odometry: the axes it measures).
Robust (Huber at 1 px), from the prediction: for the motion model's prior a robust loss over
every row (measured on KITTI b's roundabout: holding the guessed translation firm there took
the Sim(3) error from 0.40 m to 0.72 m); for the robot's odometry, a measurement, the pixel rows
alone are re-weighted between scipy least_squares solves, so the prior never gives way (with a
robust loss over every row, a frame on KITTI drifted 1 m against a 2.6 cm prior).
Tracks whose residual ends above the threshold are outliers. The increment's perturbation is the filter's
(`pose_filter`): t' = t + δt, R' = exp([δφ]×) R, so its covariance, σ² (JᵀJ)⁻¹ over the inliers
(σ from their residuals, at least `MIN_SIGMA_PX`), goes to the filter as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform, skew
from vo_fusion.errors import VoFusionError

UNCONSTRAINED_VARIANCE = 1e3  # a prior variance this large (m², rad²): the axis is the image's
ROTATION_ONLY_M = 0.01  # a prior translation shorter than this: tracks without depth at infinity
MIN_SIGMA_PX = 0.5  # the residual scale never taken below this (a handful of perfect tracks)
HUBER_PX = 1.0  # pixel rows past this error weigh less (Huber), by re-weighted least squares
ROBUST_ITERATIONS = 3  # ... this many times; the prior's rows are never down-weighted


@dataclass(frozen=True)
class IncrementTracks:
    """What the fit sees, in undistorted pixels: tracks with a world point (where the current
    image sees them), tracks without (where the last image and the current one see them)."""

    points_world: NDArray[np.float64]  # (P, 3)
    points_now: NDArray[np.float64]  # (P, 2)
    rays_then: NDArray[np.float64]  # (Q, 2) undistorted pixels in the last image
    rays_now: NDArray[np.float64]  # (Q, 2) the same tracks in the current one


@dataclass(frozen=True)
class IncrementFit:
    delta: Transform  # T_prev_cur
    covariance: NDArray[np.float64]  # 6x6, the filter's convention (t, rotation), previous axes
    point_inliers: NDArray[np.bool_]  # (P,)
    ray_inliers: NDArray[np.bool_]  # (Q,)

    @property
    def inliers(self) -> int:
        return int(self.point_inliers.sum() + self.ray_inliers.sum())


def fit_increment(
    K: NDArray[np.float64],
    T_prev: Transform,
    prediction: Transform,
    prior_covariance: NDArray[np.float64],
    tracks: IncrementTracks,
    threshold_px: float,
    prior_yields: bool = False,
) -> IncrementFit:
    """The increment T_prev_cur best explaining `tracks`, from `prediction` (the motion model's,
    or the robot's own odometry's), a prior with `prior_covariance` (6x6, the filter's
    convention; a huge variance leaves that axis to the image; see the module docstring).
    T_prev is the last camera's pose in the points' frame. `prior_yields`: the prior's rows are
    robust too (a guess, as the motion model's, may give way to what the image shows; a
    measurement, as the robot's odometry, may not)."""
    problem = _IncrementProblem(K, T_prev, prediction, prior_covariance, tracks)
    x = np.zeros(6)
    if prior_yields:
        x = least_squares(problem.residuals, x, loss="huber", f_scale=HUBER_PX).x
    for _ in range(
        0 if prior_yields else ROBUST_ITERATIONS
    ):  # weights from the prediction first: flow gone astray
        point_rows, ray_rows = problem.pixel_residuals(x)  # must not pull the first solve
        weights = (
            _huber_weights(np.linalg.norm(point_rows, axis=1)),
            _huber_weights(np.linalg.norm(ray_rows, axis=1)),
        )
        x = least_squares(problem.residuals, x, args=weights).x
    point_rows, ray_rows = problem.pixel_residuals(x)
    point_inliers = np.linalg.norm(point_rows, axis=1) <= threshold_px
    ray_inliers = np.linalg.norm(ray_rows, axis=1) <= threshold_px
    covariance = _covariance(
        _numeric_jacobian(problem.residuals, x),
        len(problem.prior_rows),
        point_inliers,
        ray_inliers,
        problem.rotation_only,
        point_rows,
        ray_rows,
    )
    R, t = problem.increment(x)
    return IncrementFit(Transform(R, t), covariance, point_inliers, ray_inliers)


class _IncrementProblem:
    """The residuals of `fit_increment` at x = (δt, δφ) from the prediction."""

    def __init__(
        self,
        K: NDArray[np.float64],
        T_prev: Transform,
        prediction: Transform,
        prior_covariance: NDArray[np.float64],
        tracks: IncrementTracks,
    ):
        self.prior_rows = _square_root_information(prior_covariance)
        self.focal = float(np.mean(np.diag(K)[:2]))
        K_inv = np.asarray(np.linalg.inv(K), np.float64)
        self.points_prev = T_prev.inverse().apply(tracks.points_world)
        self.then = _normalized(tracks.rays_then, K_inv)
        self.now_rays = _normalized(tracks.rays_now, K_inv)
        self.now_points = _normalized(tracks.points_now, K_inv)
        self.rotation_only = float(np.linalg.norm(prediction.translation)) < ROTATION_ONLY_M
        self.R0 = prediction.rotation
        self.t0 = np.asarray(prediction.translation, np.float64)

    def increment(self, x: NDArray[np.float64]) -> tuple[Rotation, NDArray[np.float64]]:
        return Rotation.from_rotvec(x[3:]) * self.R0, self.t0 + x[:3]

    def pixel_residuals(self, x: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """(P, 2) reprojection errors of the points, (Q, 1 or 2) errors of the rays, pixels."""
        R, t = self.increment(x)
        R_cur_prev = R.inv()
        in_cur = R_cur_prev.apply(self.points_prev - t)
        depth = np.maximum(in_cur[:, 2:3], 1e-6)
        point_rows = self.focal * (in_cur[:, :2] / depth - self.now_points[:, :2])
        if self.rotation_only:
            rotated = R_cur_prev.apply(self.then)
            ray_rows = self.focal * (rotated[:, :2] / rotated[:, 2:3] - self.now_rays[:, :2])
        else:
            ray_rows = self.focal * sampson_distances(
                R_cur_prev.as_matrix(), -R_cur_prev.apply(t), self.then, self.now_rays
            ).reshape(-1, 1)
        return point_rows, ray_rows

    def residuals(
        self,
        x: NDArray[np.float64],
        point_weights: NDArray[np.float64] | None = None,
        ray_weights: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """Every row, the pixel rows weighted (square roots of their robust weights)."""
        point_rows, ray_rows = self.pixel_residuals(x)
        if point_weights is not None:
            point_rows = point_rows * point_weights[:, None]
        if ray_weights is not None:
            ray_rows = ray_rows * ray_weights[:, None]
        return np.concatenate([point_rows.ravel(), ray_rows.ravel(), self.prior_rows @ x])


def _huber_weights(errors: NDArray[np.float64]) -> NDArray[np.float64]:
    """Square roots of Huber's weights (scale 1 px) for rows with these errors."""
    return np.asarray(np.sqrt(np.minimum(1.0, HUBER_PX / np.maximum(errors, 1e-12))))


def _numeric_jacobian(
    residuals: Callable[[NDArray[np.float64]], NDArray[np.float64]], x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The plain residuals' Jacobian (least_squares returns the robust loss's, which shrinks
    the rows past the Huber scale), central differences."""
    step = 1e-6
    columns = []
    for k in range(len(x)):
        offset = np.zeros_like(x)
        offset[k] = step
        columns.append((residuals(x + offset) - residuals(x - offset)) / (2 * step))
    return np.column_stack(columns)


def translation_prior(std_m: float) -> NDArray[np.float64]:
    """A prior covariance holding the translation within `std_m` on each axis and leaving the
    rotation to the image."""
    return np.diag([std_m**2] * 3 + [UNCONSTRAINED_VARIANCE] * 3)


def _square_root_information(covariance: NDArray[np.float64]) -> NDArray[np.float64]:
    """L with LᵀL = covariance⁻¹ (rows along the eigenvectors; none for unconstrained axes)."""
    variances, axes = np.linalg.eigh(0.5 * (covariance + covariance.T))
    if not np.all(np.isfinite(variances)) or variances.min() <= 0:
        raise VoFusionError("an increment prior's covariance must be positive definite")
    constrained = variances < UNCONSTRAINED_VARIANCE
    return np.asarray((axes[:, constrained] / np.sqrt(variances[constrained])).T)


def _normalized(pixels: NDArray[np.float64], K_inv: NDArray[np.float64]) -> NDArray[np.float64]:
    pixels = np.asarray(pixels, np.float64).reshape(-1, 2)
    return np.asarray(np.column_stack([pixels, np.ones(len(pixels))]) @ K_inv.T)


def sampson_distances(
    R_21: NDArray[np.float64],
    t_21: NDArray[np.float64],
    x1: NDArray[np.float64],
    x2: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Signed Sampson distance of each pair of homogeneous normalized points (x1 in view 1, x2 in
    view 2, (N, 3)) to the epipolar geometry of view 2 at (R_21, t_21) from view 1."""
    E = skew(t_21) @ R_21
    line_2 = x1 @ E.T  # E x1
    line_1 = x2 @ E  # Eᵀ x2
    algebraic = np.einsum("ij,ij->i", x2, line_2)
    norm = np.sqrt(line_2[:, 0] ** 2 + line_2[:, 1] ** 2 + line_1[:, 0] ** 2 + line_1[:, 1] ** 2)
    return np.asarray(algebraic / np.maximum(norm, 1e-9))


def _covariance(
    jacobian: NDArray[np.float64],
    prior_count: int,
    point_inliers: NDArray[np.bool_],
    ray_inliers: NDArray[np.bool_],
    rotation_only: bool,
    point_rows: NDArray[np.float64],
    ray_rows: NDArray[np.float64],
) -> NDArray[np.float64]:
    """σ² (JᵀJ)⁻¹ over the inlier rows and the prior's (see the module docstring)."""
    ray_width = 2 if rotation_only else 1
    keep = np.concatenate(
        [
            np.repeat(point_inliers, 2),
            np.repeat(ray_inliers, ray_width),
            np.ones(prior_count, bool),
        ]
    )
    inlier_rows = np.concatenate([point_rows[point_inliers].ravel(), ray_rows[ray_inliers].ravel()])
    sigma = max(float(np.sqrt(np.mean(inlier_rows**2))) if len(inlier_rows) else 0.0, MIN_SIGMA_PX)
    J = np.asarray(jacobian)[keep]
    pixel_part = J[: len(J) - prior_count] / sigma
    prior_part = J[len(J) - prior_count :]
    information = pixel_part.T @ pixel_part + prior_part.T @ prior_part
    covariance = np.linalg.pinv(information)
    return np.asarray(0.5 * (covariance + covariance.T), dtype=np.float64)
