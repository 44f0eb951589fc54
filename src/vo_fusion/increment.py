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
Robust (Huber at 1 px), from the prediction, by scipy's least_squares. Tracks whose residual
ends above the threshold are outliers. The increment's perturbation is the filter's
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
) -> IncrementFit:
    """The increment T_prev_cur best explaining `tracks`, from `prediction` (the motion model's,
    or the robot's own odometry's), a prior with `prior_covariance` (6x6, the filter's
    convention; a huge variance leaves that axis to the image; see the module docstring).
    T_prev is the last camera's pose in the points' frame."""
    prior_rows = _square_root_information(prior_covariance)
    focal = float(np.mean(np.diag(K)[:2]))
    K_inv = np.asarray(np.linalg.inv(K), np.float64)
    points_prev = T_prev.inverse().apply(tracks.points_world)
    then = _normalized(tracks.rays_then, K_inv)
    now_rays = _normalized(tracks.rays_now, K_inv)
    now_points = _normalized(tracks.points_now, K_inv)
    rotation_only = float(np.linalg.norm(prediction.translation)) < ROTATION_ONLY_M
    R0 = prediction.rotation
    t0 = np.asarray(prediction.translation, np.float64)

    def increment(x: NDArray[np.float64]) -> tuple[Rotation, NDArray[np.float64]]:
        return Rotation.from_rotvec(x[3:]) * R0, t0 + x[:3]

    def pixel_residuals(x: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        R, t = increment(x)
        R_cur_prev = R.inv()
        in_cur = R_cur_prev.apply(points_prev - t)
        depth = np.maximum(in_cur[:, 2:3], 1e-6)
        point_rows = focal * (in_cur[:, :2] / depth - now_points[:, :2])
        if rotation_only:
            rotated = R_cur_prev.apply(then)
            ray_rows = focal * (rotated[:, :2] / rotated[:, 2:3] - now_rays[:, :2])
        else:
            ray_rows = focal * _sampson(
                R_cur_prev.as_matrix(), -R_cur_prev.apply(t), then, now_rays
            )
        return point_rows, ray_rows

    def residuals(x: NDArray[np.float64]) -> NDArray[np.float64]:
        point_rows, ray_rows = pixel_residuals(x)
        return np.concatenate([point_rows.ravel(), ray_rows.ravel(), prior_rows @ x])

    solution = least_squares(residuals, np.zeros(6), loss="huber", f_scale=1.0, method="trf")
    point_rows, ray_rows = pixel_residuals(solution.x)
    jacobian = _numeric_jacobian(residuals, solution.x)
    point_error = np.linalg.norm(point_rows, axis=1)
    ray_error = (
        np.abs(ray_rows).reshape(len(ray_rows), -1).max(axis=1) if len(ray_rows) else ray_rows
    )
    point_inliers = point_error <= threshold_px
    ray_inliers = np.asarray(ray_error <= threshold_px, bool).reshape(-1)
    R, t = increment(solution.x)
    covariance = _covariance(
        jacobian, len(prior_rows), point_inliers, ray_inliers, rotation_only, point_rows, ray_rows
    )
    return IncrementFit(Transform(R, t), covariance, point_inliers, ray_inliers)


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


def _sampson(
    R_21: NDArray[np.float64],
    t_21: NDArray[np.float64],
    x1: NDArray[np.float64],
    x2: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Signed Sampson distance of each normalized pair (x1 in view 1, x2 in view 2) to the
    epipolar geometry of view 2 at (R_21, t_21) from view 1; one column."""
    E = skew(t_21) @ R_21
    line_2 = x1 @ E.T  # E x1
    line_1 = x2 @ E  # Eᵀ x2
    algebraic = np.einsum("ij,ij->i", x2, line_2)
    norm = np.sqrt(line_2[:, 0] ** 2 + line_2[:, 1] ** 2 + line_1[:, 0] ** 2 + line_1[:, 1] ** 2)
    return (algebraic / np.maximum(norm, 1e-12)).reshape(-1, 1)


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
