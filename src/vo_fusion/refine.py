"""Refine a coarse prior pose (PoseNet: metres off) to centimetres against a FeatureMap.

select the map points in view of the prior (image widened by a margin grown from the prior's
covariance) → detect features in the image → match them to those points (ratio test + mutual)
→ robust PnP with USAC MAGSAC++ (never plain RANSAC) → Levenberg-Marquardt on the inliers, twice
(inliers re-chosen after the first pass) → covariance from the reprojection Jacobian,
Σ = σ² (JᵀJ)⁻¹ with σ² the inliers' residual variance, widened by the map points' own
uncertainty (`pnp_covariance`), converted to the ROS convention → accept
only with enough inliers, a high enough inlier ratio, a small median reprojection error, a small
covariance and agreement with the prior. Bad images and failed estimates come back as
`accepted=False` with the reason, never as an exception and never as an unflagged pose.

Covariance convention (ROS PoseWithCovariance of T_wc, the camera in `map`): (x, y, z) is the
camera centre c = -R_cwᵀ t_cw; (rx, ry, rz) is the rotation vector δθ of a perturbation about
the fixed map axes, R_wc' = exp([δθ]×) R_wc. OpenCV's PnP estimates (rvec, tvec) of T_cw with
R_cw = Rodrigues(rvec). Perturbing rvec by δr gives R_cw' = exp([J_l(rvec) δr]×) R_cw, where J_l
is SO(3)'s left Jacobian; write φ = J_l δr. Then R_wc' = R_wc exp(-[φ]×) = exp(-[R_wc φ]×) R_wc,
so δθ = -R_wc J_l δr, and c' = -R_wc' (t + δt) gives δc = -[c]× δθ - R_wc δt. The 6x6 Jacobian
of (δc, δθ) with respect to (δr, δt) carries Σ over: `ros_covariance_from_pnp`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import GeometryError
from pose_reloc.geometry import Transform, left_jacobian_so3, skew, validate_covariance
from vo_fusion.feature_map import (
    DESCRIPTOR_DTYPES,
    FeatureMap,
    ImageFeatures,
    VoFusionError,
    detect_features,
    make_detector,
    match_descriptors,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefineConfig:
    """Every threshold of `refine_pose`."""

    max_features: int = 2000  # features detected in the query image
    ratio: float = 0.85  # Lowe's ratio test, both directions
    search_sigmas: float = 3.0  # the prior's uncertainty widens the search by this many sigmas
    reference_depth_m: float = 8.0  # depth at which the position sigma is turned into pixels
    min_margin_px: float = 16.0
    max_margin_px: float = 320.0
    max_distance_m: float = 80.0  # map points further than this from the prior are not searched
    max_view_angle_deg: float = 80.0  # ... nor points the map saw only from the other side
    min_matches: int = 12  # fewer matches than this: PnP is not attempted
    ransac_threshold_px: float = 3.0  # also the inlier threshold of the refinement passes
    ransac_confidence: float = 0.9999
    ransac_max_iterations: int = 5000
    min_inliers: int = 30
    min_inlier_ratio: float = 0.25
    max_median_reprojection_px: float = 1.5
    max_position_std_m: float = 0.5  # of the refined pose's covariance
    max_rotation_std_deg: float = 2.0
    max_prior_mahalanobis: float = 6.0  # refined pose vs prior, under both covariances (inf: off)

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not value > 0:
                raise VoFusionError(f"RefineConfig.{item.name} must be positive, got {value}")
        if not 0 < self.ratio <= 1 or not 0 < self.min_inlier_ratio <= 1:
            raise VoFusionError("RefineConfig.ratio and min_inlier_ratio must lie in (0, 1]")
        if self.min_matches < 4 or self.min_inliers < 4:
            raise VoFusionError("PnP needs at least 4 points: raise min_matches / min_inliers")


@dataclass(frozen=True)
class RefinementResult:
    """The outcome of one refinement. `T_wc` and `covariance` (6x6, ROS convention) are the
    estimate when PnP produced one (None otherwise); trust them only when `accepted`."""

    T_wc: Transform | None
    covariance: NDArray[np.float64] | None
    inliers: int
    matches: int
    candidates: int
    median_reprojection_px: float
    accepted: bool
    reason: str
    elapsed_ms: float
    # The query image's features and, for the PnP inliers, which feature saw which map point
    # (visual odometry starts its keyframe from these: metric scale from the map).
    features: ImageFeatures | None = None
    inlier_features: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    inlier_points_world: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 3)))


@dataclass(frozen=True)
class Correspondences:
    """The 2D-3D matches `refine_pose` hands to PnP for one image and prior: match i pairs the
    image's feature `feature_indices[i]` (at the ideal, undistorted pixel `image_points[i]`) with
    map point `map_indices[i]` (at `object_points[i]`, map frame). `problem` says why there are
    too few to try PnP ('' when there are enough); the arrays then hold what was found."""

    image_points: NDArray[np.float64]  # (N, 2) ideal pixels: a pinhole with the camera's K
    object_points: NDArray[np.float64]  # (N, 3) map frame
    feature_indices: NDArray[np.int64]  # (N,) into features
    map_indices: NDArray[np.int64]  # (N,) into the feature map
    candidates: int  # map points in view of the prior
    features: ImageFeatures | None  # the image's features (None when the image is unusable)
    problem: str = ""

    def __len__(self) -> int:
        return len(self.image_points)


@dataclass(frozen=True)
class PnpSolution:
    rvec: NDArray[np.float64]
    tvec: NDArray[np.float64]
    inliers: NDArray[np.int64]  # indices into the matches
    residuals_px: NDArray[np.float64]  # of the inliers


def refine_pose(
    image_rgb: NDArray[np.uint8],
    camera: PinholeCamera,
    prior_T_wc: Transform,
    prior_covariance: ArrayLike,
    feature_map: FeatureMap,
    config: RefineConfig | None = None,
) -> RefinementResult:
    """Refine prior_T_wc (camera in the map's frame; 6x6 ROS covariance) against the map."""
    config = config or RefineConfig()
    started = time.perf_counter()
    prior_cov = validate_covariance(prior_covariance, 6, "prior covariance")
    matched = find_correspondences(image_rgb, camera, prior_T_wc, prior_cov, feature_map, config)

    def reject(reason: str) -> RefinementResult:
        logger.debug("refinement rejected: %s", reason)
        elapsed = (time.perf_counter() - started) * 1e3
        return RefinementResult(
            None, None, 0, len(matched), matched.candidates, np.nan, False, reason, elapsed
        )

    if matched.problem:
        return reject(matched.problem)
    object_points, image_points = matched.object_points, matched.image_points
    solution, failure = solve_pnp(
        object_points,
        image_points,
        camera.K,
        config.ransac_threshold_px,
        config.ransac_confidence,
        config.ransac_max_iterations,
    )
    if solution is None:
        return reject(failure)
    map_points = matched.map_indices[solution.inliers]
    covariance_rt = pnp_covariance(
        object_points[solution.inliers],
        solution.residuals_px,
        solution.rvec,
        solution.tvec,
        camera.K,
        feature_map.point_covariances[map_points],
    )
    try:
        T_wc, covariance = ros_covariance_from_pnp(solution.rvec, solution.tvec, covariance_rt)
    except GeometryError as error:
        return reject(f"the pose covariance is unusable ({error}): degenerate geometry")
    median = float(np.median(solution.residuals_px))
    problems = _acceptance_problems(
        len(solution.inliers), len(matched), median, T_wc, covariance, prior_T_wc, prior_cov, config
    )
    elapsed = (time.perf_counter() - started) * 1e3
    return RefinementResult(
        T_wc=T_wc,
        covariance=covariance,
        inliers=len(solution.inliers),
        matches=len(matched),
        candidates=matched.candidates,
        median_reprojection_px=median,
        accepted=not problems,
        reason="; ".join(problems) if problems else "accepted",
        elapsed_ms=elapsed,
        features=matched.features,
        inlier_features=matched.feature_indices[solution.inliers],
        inlier_points_world=object_points[solution.inliers],
    )


def find_correspondences(
    image_rgb: NDArray[np.uint8],
    camera: PinholeCamera,
    prior_T_wc: Transform,
    prior_covariance: ArrayLike,
    feature_map: FeatureMap,
    config: RefineConfig | None = None,
) -> Correspondences:
    """The matches `refine_pose` would solve PnP on (same arguments): the map points in view of
    the prior (search widened by its covariance), the image's features (detected here), matched
    by descriptor (ratio test + mutual). Fewer than `config.min_matches` at any stage: returned
    with `problem` saying so, never an exception."""
    config = config or RefineConfig()
    prior_cov = validate_covariance(prior_covariance, 6, "prior covariance")
    problem = _image_problem(image_rgb, camera)
    if problem:
        return _no_correspondences(0, None, problem)
    margin = search_margin_px(prior_cov, camera, config)
    position_std = float(np.sqrt(max(np.linalg.eigvalsh(prior_cov[:3, :3]).max(), 0.0)))
    candidates = feature_map.points_in_view(
        prior_T_wc,
        camera,
        margin,
        config.max_distance_m + config.search_sigmas * position_std,
        config.max_view_angle_deg,
        near_radius_m=config.search_sigmas * position_std,
    )
    if len(candidates) < config.min_matches:
        problem = f"only {len(candidates)} map points in view of the prior pose"
        return _no_correspondences(len(candidates), None, problem)
    detector = make_detector(feature_map.descriptor_type, config.max_features)
    dtype = DESCRIPTOR_DTYPES[feature_map.descriptor_type]
    features = detect_features(image_rgb, detector, dtype)
    if len(features) < config.min_matches:
        problem = (
            f"only {len(features)} features detected in the image (blank, black, saturated or "
            "blurred?)"
        )
        return _no_correspondences(len(candidates), features, problem)
    pairs = match_descriptors(
        features.descriptors,
        feature_map.descriptors[candidates],
        feature_map.descriptor_type,
        config.ratio,
    )
    if len(pairs) < config.min_matches:
        problem = f"only {len(pairs)} matches to {len(candidates)} map points in view"
    map_indices = candidates[pairs[:, 1]]
    return Correspondences(
        image_points=ideal_pixels(camera, features, pairs[:, 0]),
        object_points=feature_map.points_world[map_indices],
        feature_indices=pairs[:, 0],
        map_indices=map_indices,
        candidates=len(candidates),
        features=features,
        problem=problem,
    )


def _no_correspondences(
    candidates: int, features: ImageFeatures | None, problem: str
) -> Correspondences:
    return Correspondences(
        np.zeros((0, 2)),
        np.zeros((0, 3)),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        candidates,
        features,
        problem,
    )


def _image_problem(image: NDArray, camera: PinholeCamera) -> str:
    """Why an image cannot be used ('' when it can)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        return f"the image must be a uint8 numpy array, got {type(image).__name__}"
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        return f"the image must be H x W x 3 RGB or H x W grey, got shape {image.shape}"
    if image.shape[:2] != (camera.height, camera.width):
        return (
            f"the image is {image.shape[1]}x{image.shape[0]} but the camera model is "
            f"{camera.width}x{camera.height}: scale the camera to the image"
        )
    return ""


def search_margin_px(
    prior_covariance: NDArray[np.float64], camera: PinholeCamera, config: RefineConfig
) -> float:
    """How far outside the image a map point may project from the prior and still be searched:
    `search_sigmas` of the prior's rotation sigma (largest axis) at the focal length, plus its
    position sigma seen from `reference_depth_m`, clamped to [min_margin_px, max_margin_px]."""
    position_var = np.linalg.eigvalsh(prior_covariance[:3, :3]).max()
    rotation_var = np.linalg.eigvalsh(prior_covariance[3:, 3:]).max()
    k = config.search_sigmas
    focal = max(camera.fx, camera.fy)
    rotation_px = focal * np.tan(min(k * np.sqrt(max(rotation_var, 0.0)), 1.2))
    position_px = focal * k * np.sqrt(max(position_var, 0.0)) / config.reference_depth_m
    return float(np.clip(rotation_px + position_px, config.min_margin_px, config.max_margin_px))


def ideal_pixels(
    camera: PinholeCamera, features: ImageFeatures, indices: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Keypoints with the lens distortion removed, as an ideal pinhole with the same K sees them
    (so PnP and its Jacobian need no distortion model, whatever the camera's)."""
    return undistorted_pixels(camera, features.pixels[indices])


def undistorted_pixels(camera: PinholeCamera, pixels: ArrayLike) -> NDArray[np.float64]:
    """Image pixels (N, 2) with the lens distortion removed (see `ideal_pixels`)."""
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    if not camera.is_distorted or len(pixels) == 0:
        return np.ascontiguousarray(pixels)
    rays = camera.unproject(pixels)
    return np.asarray(rays[:, :2] / rays[:, 2:3] @ camera.K[:2, :2].T + camera.K[:2, 2])


def solve_pnp(
    object_points: NDArray[np.float64],
    image_points: NDArray[np.float64],
    K: NDArray[np.float64],
    threshold_px: float,
    confidence: float = 0.9999,
    max_iterations: int = 5000,
) -> tuple[PnpSolution | None, str]:
    """MAGSAC++ PnP, then LM on the inliers, inliers re-chosen, LM again. (solution, '') or
    (None, why)."""
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
        chosen = np.asarray(inliers, dtype=np.int64).reshape(-1)
        rvec = np.asarray(rvec_guess, np.float64)
        tvec = np.asarray(tvec_guess, np.float64)
        for _ in range(2):
            refined = cv2.solvePnPRefineLM(
                object_points[chosen], image_points[chosen], K, None, rvec, tvec
            )
            rvec, tvec = np.asarray(refined[0], np.float64), np.asarray(refined[1], np.float64)
            residuals = _residuals_px(object_points, image_points, rvec, tvec, K)
            chosen = np.flatnonzero(residuals < threshold_px)
            if len(chosen) < 6:
                return None, f"only {len(chosen)} inliers left after refinement"
    except cv2.error as error:
        return None, f"PnP failed: {str(error).strip().splitlines()[-1]}"
    return PnpSolution(rvec.reshape(3), tvec.reshape(3), chosen, residuals[chosen]), ""


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


def _acceptance_problems(
    inliers: int,
    matches: int,
    median_px: float,
    T_wc: Transform,
    covariance: NDArray[np.float64],
    prior_T_wc: Transform,
    prior_covariance: NDArray[np.float64],
    config: RefineConfig,
) -> list[str]:
    """What keeps a PnP solution from being accepted (empty: accept)."""
    problems = []
    if inliers < config.min_inliers:
        problems.append(f"{inliers} inliers < {config.min_inliers}")
    if inliers < config.min_inlier_ratio * matches:
        problems.append(f"inlier ratio {inliers / matches:.2f} < {config.min_inlier_ratio}")
    if not median_px <= config.max_median_reprojection_px:
        problems.append(
            f"median reprojection {median_px:.2f} px > {config.max_median_reprojection_px}"
        )
    position_std = float(np.sqrt(max(np.linalg.eigvalsh(covariance[:3, :3]).max(), 0.0)))
    rotation_std = float(np.degrees(np.sqrt(max(np.linalg.eigvalsh(covariance[3:, 3:]).max(), 0))))
    if not position_std <= config.max_position_std_m:
        problems.append(f"position std {position_std:.2f} m > {config.max_position_std_m}")
    if not rotation_std <= config.max_rotation_std_deg:
        problems.append(f"rotation std {rotation_std:.2f} deg > {config.max_rotation_std_deg}")
    distance = prior_mahalanobis(T_wc, covariance, prior_T_wc, prior_covariance)
    if not distance <= config.max_prior_mahalanobis:
        problems.append(
            f"{distance:.1f} sigma from the prior pose > {config.max_prior_mahalanobis} "
            "(a wrong match set, or a prior covariance that is too small)"
        )
    return problems


def prior_mahalanobis(
    T_wc: Transform,
    covariance: NDArray[np.float64],
    prior_T_wc: Transform,
    prior_covariance: NDArray[np.float64],
) -> float:
    """Mahalanobis distance between two poses under the sum of their ROS covariances."""
    difference = np.concatenate(
        [
            T_wc.translation - prior_T_wc.translation,
            (T_wc.rotation * prior_T_wc.rotation.inv()).as_rotvec(),
        ]
    )
    information = np.linalg.pinv(covariance + prior_covariance)
    return float(np.sqrt(max(difference @ information @ difference, 0.0)))
