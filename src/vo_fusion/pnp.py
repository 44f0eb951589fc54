"""The camera pose from 2D-3D correspondences, with its covariance, for map refinement (`refine`)
and visual odometry (`odometry`) alike.

`solve_pnp`: robust PnP with USAC MAGSAC++ (never plain RANSAC) → Levenberg-Marquardt on the
inliers, twice (inliers re-chosen after the first pass); given the pose the caller expects (a map
fix: the fusion's filter; the odometry: its motion model, where RANSAC's camera jumped from it),
the same from it, kept where RANSAC's pose does not explain clearly more matches (far points fit
two poses a metre or more apart). PnP works on ideal pixels
(`undistorted_pixels`): the lens distortion is removed first, so PnP and its Jacobian need no
distortion model, whatever the camera's. `pose_and_covariance`: the covariance from the
reprojection Jacobian, Σ = σ² (JᵀJ)⁻¹ with σ² the inliers' residual variance, widened by the map
points' own uncertainty (`pnp_covariance`), converted to the ROS convention
(`ros_covariance_from_pnp`). The acceptance checks of a map fix of a prior: `quality_problems`
(too few inliers, too low an inlier ratio, a large median reprojection error, a large
covariance) and `prior_problem` (disagreement with the prior); `agreement_problem` and
`step_problem` for the odometry's next pose (too few of the last image's points agree with it,
an implausible step).

Covariance convention (ROS PoseWithCovariance of T_wc, the camera in `map`): (x, y, z) is the
camera centre c = -R_cwᵀ t_cw; (rx, ry, rz) is the rotation vector δθ of a perturbation about
the fixed map axes, R_wc' = exp([δθ]×) R_wc. OpenCV's PnP estimates (rvec, tvec) of T_cw with
R_cw = Rodrigues(rvec). Perturbing rvec by δr gives R_cw' = exp([J_l(rvec) δr]×) R_cw, where J_l
is SO(3)'s left Jacobian; write φ = J_l δr. Then R_wc' = R_wc exp(-[φ]×) = exp(-[R_wc φ]×) R_wc,
so δθ = -R_wc J_l δr, and c' = -R_wc' (t + δt) gives δc = -[c]× δθ - R_wc δt. The 6x6 Jacobian
of (δc, δθ) with respect to (δr, δt) carries Σ over: `ros_covariance_from_pnp`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.geometry import (
    Transform,
    left_jacobian_so3,
    pose_mahalanobis,
    skew,
    validate_covariance,
)


@dataclass(frozen=True)
class PnpSolution:
    rvec: NDArray[np.float64]
    tvec: NDArray[np.float64]
    inliers: NDArray[np.int64]  # indices into the matches
    residuals_px: NDArray[np.float64]  # of the inliers

    @property
    def T_wc(self) -> Transform:
        """The camera's pose (OpenCV's rvec, tvec are T_cw's)."""
        return Transform(Rotation.from_rotvec(self.rvec), self.tvec).inverse()


def undistorted_pixels(camera: PinholeCamera, pixels: ArrayLike) -> NDArray[np.float64]:
    """Image pixels (N, 2) with the lens distortion removed: where an ideal pinhole with the same
    K sees them."""
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    if not camera.is_distorted or len(pixels) == 0:
        return np.ascontiguousarray(pixels)
    rays = camera.unproject(pixels)
    return np.asarray(rays[:, :2] / rays[:, 2:3] @ camera.K[:2, :2].T + camera.K[:2, 2])


# --- the pose ---------------------------------------------------------------------------------
# A pose near the caller's expectation keeps the answer when it explains at least this share of
# the inliers RANSAC's pose does: points far off (a street's end 40-50 m away) leave two poses
# 1-2 m apart that both fit nearly every match, and only the expectation tells them apart (a map
# fix expects the filter's pose, centimetres off). The odometry asks only when RANSAC's camera
# jumped away from its motion model's (`guess_beyond_m`): consulted at every frame, the motion
# model's pose lost KITTI b's track or doubled its error there.
GUESS_INLIER_SHARE = 0.9


def solve_pnp(
    object_points: NDArray[np.float64],
    image_points: NDArray[np.float64],
    K: NDArray[np.float64],
    threshold_px: float,
    confidence: float = 0.9999,
    max_iterations: int = 5000,
    guess_T_wc: Transform | None = None,
    guess_beyond_m: float = 0.0,
) -> tuple[PnpSolution | None, str]:
    """MAGSAC++ PnP, then LM on the inliers, inliers re-chosen, LM again. With `guess_T_wc` (where
    the caller expects the camera: the motion model, the filter), where RANSAC's camera is more
    than `guess_beyond_m` from it, the same LM from the guess too, and its pose kept where it
    explains GUESS_INLIER_SHARE of the matches RANSAC's does. (solution, '') or (None, why)."""
    try:
        ok, rvec_guess, tvec_guess, inliers = cv2.solvePnPRansac(
            object_points,
            image_points,
            K,
            None,
            iterationsCount=max_iterations,
            reprojectionError=threshold_px,
            confidence=confidence,
            flags=cv2.USAC_MAGSAC,
        )
        if not ok or inliers is None or len(inliers) < 4:
            return None, f"PnP (MAGSAC++) found no pose from {len(object_points)} matches"
        found = _refined(
            object_points,
            image_points,
            K,
            threshold_px,
            np.asarray(rvec_guess, np.float64),
            np.asarray(tvec_guess, np.float64),
            np.asarray(inliers, dtype=np.int64).reshape(-1),
        )
        if guess_T_wc is not None and _farther(found, guess_T_wc, guess_beyond_m):
            near = _from_guess(object_points, image_points, K, threshold_px, guess_T_wc)
            if near is not None and (
                found is None or len(near.inliers) >= GUESS_INLIER_SHARE * len(found.inliers)
            ):
                found = near
    except cv2.error as error:
        return None, f"PnP failed: {str(error).strip().splitlines()[-1]}"
    if found is None:
        return None, "fewer than 6 inliers left after refinement"
    return found, ""


def _farther(found: PnpSolution | None, guess_T_wc: Transform, distance_m: float) -> bool:
    """Whether `found` (None counts as far) has its camera more than `distance_m` from the
    guess's."""
    if found is None:
        return True
    return bool(np.linalg.norm(found.T_wc.translation - guess_T_wc.translation) > distance_m)


def _from_guess(
    object_points: NDArray[np.float64],
    image_points: NDArray[np.float64],
    K: NDArray[np.float64],
    threshold_px: float,
    guess_T_wc: Transform,
) -> PnpSolution | None:
    T_cw = guess_T_wc.inverse()
    rvec, tvec = T_cw.rotation.as_rotvec(), np.asarray(T_cw.translation, np.float64)
    residuals = _residuals_px(object_points, image_points, rvec, tvec, K)
    chosen = np.flatnonzero(residuals < threshold_px)
    if len(chosen) < 6:
        return None
    return _refined(object_points, image_points, K, threshold_px, rvec, tvec, chosen)


def _refined(
    object_points: NDArray[np.float64],
    image_points: NDArray[np.float64],
    K: NDArray[np.float64],
    threshold_px: float,
    rvec: NDArray[np.float64],
    tvec: NDArray[np.float64],
    chosen: NDArray[np.int64],
) -> PnpSolution | None:
    """LM on the chosen matches, inliers re-chosen, twice; None when fewer than 6 are left."""
    rvec, tvec = rvec.reshape(3, 1).copy(), tvec.reshape(3, 1).copy()
    for _ in range(2):
        refined = cv2.solvePnPRefineLM(
            object_points[chosen], image_points[chosen], K, None, rvec, tvec
        )
        rvec, tvec = np.asarray(refined[0], np.float64), np.asarray(refined[1], np.float64)
        residuals = _residuals_px(object_points, image_points, rvec, tvec, K)
        chosen = np.flatnonzero(residuals < threshold_px)
        if len(chosen) < 6:
            return None
    return PnpSolution(rvec.reshape(3), tvec.reshape(3), chosen, residuals[chosen])


def _residuals_px(
    object_points: NDArray[np.float64],
    image_points: NDArray[np.float64],
    rvec: NDArray[np.float64],
    tvec: NDArray[np.float64],
    K: NDArray[np.float64],
) -> NDArray[np.float64]:
    projected, _ = cv2.projectPoints(object_points, rvec, tvec, K, None)
    residuals = np.linalg.norm(projected.reshape(-1, 2) - image_points, axis=1)
    in_front = (Rotation.from_rotvec(rvec.reshape(3)).apply(object_points) + tvec.reshape(3))[:, 2]
    return np.where(in_front > 0, residuals, np.inf)


# --- its covariance -----------------------------------------------------------------------------
def pose_and_covariance(
    solution: PnpSolution,
    object_points: NDArray[np.float64],
    K: NDArray[np.float64],
    point_covariances: NDArray[np.float64] | None = None,
) -> tuple[Transform, NDArray[np.float64]]:
    """(T_wc, its 6x6 ROS covariance) of a PnP solution on `object_points` (all the matches; the
    inliers are picked here), with the inliers' 3x3 point covariances when known. Raises
    GeometryError when the covariance is unusable (degenerate geometry)."""
    covariance_rt = pnp_covariance(
        object_points[solution.inliers],
        solution.residuals_px,
        solution.rvec,
        solution.tvec,
        K,
        point_covariances,
    )
    return ros_covariance_from_pnp(solution.rvec, solution.tvec, covariance_rt)


def pnp_covariance(
    object_points: NDArray[np.float64],
    residuals_px: NDArray[np.float64],
    rvec: NDArray[np.float64],
    tvec: NDArray[np.float64],
    K: NDArray[np.float64],
    point_covariances: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """6x6 covariance of (rvec, tvec) of T_cw estimated by least squares on n inliers.

    J = d(pixels)/d(rvec, tvec) from cv2.projectPoints; σ² = Σ|r|² / (2n - 6) from the residuals.
    Without map uncertainty: Σ = σ² (JᵀJ)⁻¹. With each map point's 3x3 covariance Σ_X, a
    point's pixel noise is S = σ² I + A Σ_X Aᵀ (A = d(pixel)/d(world point) = d(pixel)/d(tvec)
    R_cw) and the least-squares estimate has the sandwich covariance
    (JᵀJ)⁻¹ (Σ Jᵢᵀ Sᵢ Jᵢ) (JᵀJ)⁻¹: a pose resting on far, poorly triangulated points says so."""
    _, jacobian = cv2.projectPoints(object_points, rvec, tvec, K, None)
    J = np.asarray(jacobian, dtype=np.float64)[:, :6]
    dof = max(2 * len(object_points) - 6, 1)
    sigma2 = float(np.sum(np.square(residuals_px)) / dof)
    information_inverse = np.linalg.pinv(J.T @ J)
    if point_covariances is None:
        return np.asarray(sigma2 * information_inverse, dtype=np.float64)
    J_points = J.reshape(-1, 2, 6)
    R_cw = Rotation.from_rotvec(np.asarray(rvec, np.float64).reshape(3)).as_matrix()
    A = J_points[:, :, 3:] @ R_cw
    map_part = A @ np.nan_to_num(point_covariances, nan=0.0) @ A.transpose(0, 2, 1)
    S = sigma2 * np.eye(2) + map_part
    middle = np.einsum("kai,kab,kbj->ij", J_points, S, J_points)
    return np.asarray(information_inverse @ middle @ information_inverse, dtype=np.float64)


def ros_covariance_from_pnp(
    rvec: ArrayLike, tvec: ArrayLike, covariance_rt: ArrayLike
) -> tuple[Transform, NDArray[np.float64]]:
    """(T_wc, its 6x6 ROS covariance) from OpenCV's (rvec, tvec) of T_cw and their 6x6 covariance
    (rvec first): see the module docstring for the derivation."""
    r = np.asarray(rvec, dtype=np.float64).reshape(3)
    t = np.asarray(tvec, dtype=np.float64).reshape(3)
    T_cw = Transform(Rotation.from_rotvec(r), t)
    T_wc = T_cw.inverse()
    R_wc = T_wc.rotation.as_matrix()
    dtheta_dr = -R_wc @ left_jacobian_so3(r)
    J = np.zeros((6, 6))
    J[:3, :3] = -skew(T_wc.translation) @ dtheta_dr
    J[:3, 3:] = -R_wc
    J[3:, :3] = dtheta_dr
    covariance = J @ validate_covariance(covariance_rt, 6, "PnP covariance") @ J.T
    return T_wc, 0.5 * (covariance + covariance.T)


# --- acceptance -----------------------------------------------------------------------------------
class AcceptanceLimits(Protocol):
    """The thresholds `quality_problems` and `prior_problem` read (`refine.RefineConfig` has them)."""

    @property
    def min_inliers(self) -> int: ...
    @property
    def min_inlier_ratio(self) -> float: ...
    @property
    def max_median_reprojection_px(self) -> float: ...
    @property
    def max_position_std_m(self) -> float: ...
    @property
    def max_rotation_std_deg(self) -> float: ...
    @property
    def max_prior_mahalanobis(self) -> float: ...


def quality_problems(
    inliers: int,
    matches: int,
    median_px: float,
    covariance: NDArray[np.float64],
    limits: AcceptanceLimits,
) -> list[str]:
    """What makes a PnP pose a poor measurement whatever the prior: too few inliers, too low a
    share of the matches, a large reprojection error, a large covariance."""
    problems = []
    if inliers < limits.min_inliers:
        problems.append(f"{inliers} inliers < {limits.min_inliers}")
    if inliers < limits.min_inlier_ratio * matches:
        problems.append(f"inlier ratio {inliers / matches:.2f} < {limits.min_inlier_ratio}")
    if not median_px <= limits.max_median_reprojection_px:
        problems.append(
            f"median reprojection {median_px:.2f} px > {limits.max_median_reprojection_px}"
        )
    position_std = float(np.sqrt(max(np.linalg.eigvalsh(covariance[:3, :3]).max(), 0.0)))
    rotation_std = float(np.degrees(np.sqrt(max(np.linalg.eigvalsh(covariance[3:, 3:]).max(), 0))))
    if not position_std <= limits.max_position_std_m:
        problems.append(f"position std {position_std:.2f} m > {limits.max_position_std_m}")
    if not rotation_std <= limits.max_rotation_std_deg:
        problems.append(f"rotation std {rotation_std:.2f} deg > {limits.max_rotation_std_deg}")
    return problems


def prior_problem(
    T_wc: Transform,
    covariance: NDArray[np.float64],
    prior_T_wc: Transform,
    prior_covariance: NDArray[np.float64],
    limits: AcceptanceLimits,
) -> str:
    """Why the PnP pose disagrees with the prior ('' when it agrees)."""
    distance = pose_mahalanobis(T_wc, covariance, prior_T_wc, prior_covariance)
    if distance <= limits.max_prior_mahalanobis:
        return ""
    return (
        f"{distance:.1f} sigma from the prior pose > {limits.max_prior_mahalanobis} "
        "(a wrong match set, or a prior covariance that is too small)"
    )


def agreement_problem(
    inliers: int, previous_points: int, min_inliers: int, min_kept_fraction: float
) -> str:
    """Why a PnP pose is not the odometry's next pose: too few inliers, or too few of the last
    image's `previous_points` agreeing with it (the view changed); '' when it is."""
    if inliers < min_inliers:
        return f"{inliers} PnP inliers < {min_inliers}"
    if inliers / previous_points < min_kept_fraction:
        return (
            f"only {inliers} of the last image's {previous_points} points agree with one pose: "
            "the view changed"
        )
    return ""


def step_problem(delta: Transform, max_step_m: float, max_step_deg: float) -> str:
    """Why the step `delta` between two frames is implausible ('' when it is not)."""
    step_m = float(np.linalg.norm(delta.translation))
    step_deg = float(np.degrees(delta.rotation.magnitude()))
    if step_m > max_step_m or step_deg > max_step_deg:
        return (
            f"implausible step {step_m:.2f} m / {step_deg:.1f} deg between two frames "
            f"(limits {max_step_m} m / {max_step_deg} deg)"
        )
    return ""
