"""Refine a coarse prior pose (PoseNet: metres off) to centimetres against a FeatureMap.

`refine_pose`: the correspondences (`find_correspondences`: select the map points in view of the
prior, the image widened by a margin grown from the prior's covariance → detect features in the
image → match them to those points, ratio test + mutual) → PnP and its covariance (`vo_fusion.pnp`:
MAGSAC++ then Levenberg-Marquardt, Σ from the reprojection Jacobian widened by the map points'
uncertainty, in the ROS convention) → accept only with enough inliers, a high enough inlier ratio,
a small median reprojection error, a small covariance and agreement with the prior. Bad images and
failed estimates come back as `accepted=False` with the reason, never as an exception and never as
an unflagged pose.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import GeometryError
from pose_reloc.geometry import Transform, validate_covariance
from vo_fusion.errors import VoFusionError
from vo_fusion.feature_map import FeatureMap
from vo_fusion.features import (
    DESCRIPTOR_DTYPES,
    ImageFeatures,
    detect_features,
    make_detector,
    match_descriptors,
)
from vo_fusion.pnp import (
    PnpSolution,
    pose_and_covariance,
    prior_problem,
    quality_problems,
    solve_pnp,
    undistorted_pixels,
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
    # A good measurement on its own (inliers, reprojection, covariance) refused only for being
    # far from the prior: the prior may be what is wrong (a filter that drifted).
    only_disagrees: bool = False


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
    if matched.problem:
        return _rejected(matched, matched.problem, started)
    solution, failure = solve_pnp(
        matched.object_points,
        matched.image_points,
        camera.K,
        config.ransac_threshold_px,
        config.ransac_confidence,
        config.ransac_max_iterations,
        guess_T_wc=prior_T_wc,
    )
    if solution is None:
        return _rejected(matched, failure, started)
    point_covariances = feature_map.point_covariances[matched.map_indices[solution.inliers]]
    try:
        T_wc, covariance = pose_and_covariance(
            solution, matched.object_points, camera.K, point_covariances
        )
    except GeometryError as error:
        why = f"the pose covariance is unusable ({error}): degenerate geometry"
        return _rejected(matched, why, started)
    return _judged(matched, solution, T_wc, covariance, prior_T_wc, prior_cov, config, started)


def _rejected(matched: Correspondences, reason: str, started: float) -> RefinementResult:
    """No pose: PnP was not tried, or found none."""
    logger.debug("refinement rejected: %s", reason)
    elapsed = (time.perf_counter() - started) * 1e3
    return RefinementResult(
        None, None, 0, len(matched), matched.candidates, np.nan, False, reason, elapsed
    )


def _judged(
    matched: Correspondences,
    solution: PnpSolution,
    T_wc: Transform,
    covariance: NDArray[np.float64],
    prior_T_wc: Transform,
    prior_covariance: NDArray[np.float64],
    config: RefineConfig,
    started: float,
) -> RefinementResult:
    """The PnP pose, accepted or not (`pnp.quality_problems` and `prior_problem` say why)."""
    median = float(np.median(solution.residuals_px))
    problems = quality_problems(len(solution.inliers), len(matched), median, covariance, config)
    disagreement = prior_problem(T_wc, covariance, prior_T_wc, prior_covariance, config)
    if disagreement:
        problems.append(disagreement)
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
        inlier_points_world=matched.object_points[solution.inliers],
        only_disagrees=problems == [disagreement] and bool(disagreement),
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
    candidates = map_points_to_search(feature_map, camera, prior_T_wc, prior_cov, config)
    if len(candidates) < config.min_matches:
        problem = f"only {len(candidates)} map points in view of the prior pose"
        return _no_correspondences(len(candidates), None, problem)
    detector = make_detector(feature_map.descriptor_type, config.max_features)
    features = detect_features(image_rgb, detector, DESCRIPTOR_DTYPES[feature_map.descriptor_type])
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
        image_points=undistorted_pixels(camera, features.pixels[pairs[:, 0]]),
        object_points=feature_map.points_world[map_indices],
        feature_indices=pairs[:, 0],
        map_indices=map_indices,
        candidates=len(candidates),
        features=features,
        problem=problem,
    )


def map_points_to_search(
    feature_map: FeatureMap,
    camera: PinholeCamera,
    prior_T_wc: Transform,
    prior_covariance: NDArray[np.float64],
    config: RefineConfig,
) -> NDArray[np.int64]:
    """Indices of the map points in view of the prior, its uncertainty widening the view: by
    `search_margin_px` around the image, `search_sigmas` position sigmas further away, and all
    points within that many position sigmas whatever their projection."""
    margin = search_margin_px(prior_covariance, camera, config)
    position_std = float(np.sqrt(max(np.linalg.eigvalsh(prior_covariance[:3, :3]).max(), 0.0)))
    return feature_map.points_in_view(
        prior_T_wc,
        camera,
        margin,
        config.max_distance_m + config.search_sigmas * position_std,
        config.max_view_angle_deg,
        near_radius_m=config.search_sigmas * position_std,
    )


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
