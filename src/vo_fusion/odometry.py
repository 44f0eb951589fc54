"""Visual odometry at camera rate: each image is tracked against the last keyframe's 3D points by
descriptor matching and PnP (USAC MAGSAC++, then Levenberg-Marquardt); when the track thins or the
camera has moved far from the keyframe, the current frame becomes the keyframe, keeping the points
it tracked and triangulating new ones from the two frames' poses.

Scale. Monocular VO has none of its own: a keyframe started from an accepted map refinement
(`Keyframe.from_refinement`) carries the map points PnP matched, so while the map is tracked the
scale is the map's. Beyond the map, points triangulated between keyframes keep the last known
scale; every keyframe made without the map adds `scale_drift_per_keyframe` of relative scale
uncertainty to the increments' covariance (`OdometryStep.keyframes_since_map` says how far that
has gone).

Increments. A frame's pose comes from PnP against keyframe points, so its covariance (from the
reprojection Jacobian, `refine.pnp_covariance`) is that of the pose relative to the keyframe. The
increment T_prev_cur is given that covariance rotated into the previous camera's axes: successive
increments measured against the same keyframe are correlated, and treating them as independent
over-states the growth, which errs on the honest side.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, fields, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import GeometryError
from pose_reloc.geometry import Transform
from vo_fusion.feature_map import (
    DESCRIPTOR_DTYPES,
    ImageFeatures,
    VoFusionError,
    detect_features,
    make_detector,
    match_descriptors,
)
from vo_fusion.refine import (
    RefinementResult,
    ideal_pixels,
    pnp_covariance,
    ros_covariance_from_pnp,
    solve_pnp,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OdometryConfig:
    """Every threshold of `VisualOdometry`."""

    max_features: int = 1000
    ratio: float = 0.85  # Lowe's ratio test, both directions
    ransac_threshold_px: float = 2.0
    min_inliers: int = 15  # fewer PnP inliers: the frame is not tracked
    keyframe_keep_fraction: float = 0.5  # tracking fewer of the keyframe's points: new keyframe
    keyframe_distance_m: float = 0.5  # ... or when this far from the keyframe
    keyframe_angle_deg: float = 15.0  # ... or turned this much
    triangulation_window: int = 25  # new points are triangulated against the oldest of these
    min_triangulation_deg: float = 2.0
    max_depth_m: float = 80.0
    max_triangulation_px: float = 2.0  # reprojection error of a new point, both frames
    max_step_m: float = 3.0  # a step larger than this between two frames is refused
    max_step_deg: float = 30.0
    scale_drift_per_keyframe: float = 0.02  # relative scale std added per keyframe off the map

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not value > 0:
                raise VoFusionError(f"OdometryConfig.{item.name} must be positive, got {value}")
        if not self.ratio <= 1 or not self.keyframe_keep_fraction < 1:
            raise VoFusionError("OdometryConfig.ratio and keyframe_keep_fraction must be below 1")
        if self.min_inliers < 6:
            raise VoFusionError("OdometryConfig.min_inliers must be at least 6 (PnP + refinement)")


@dataclass(frozen=True)
class Keyframe:
    """A frame whose features carry 3D points: `point_of_feature[i]` indexes `points_world`
    (-1: feature i has no point)."""

    T_wc: Transform
    features: ImageFeatures
    point_of_feature: NDArray[np.int64]
    points_world: NDArray[np.float64]
    keyframes_since_map: int

    @classmethod
    def from_refinement(cls, result: RefinementResult, T_wc: Transform) -> Keyframe:
        """A keyframe at T_wc (the fused pose) holding the map points the refinement matched."""
        if result.features is None or len(result.inlier_features) == 0:
            raise VoFusionError("a refinement with no inliers cannot start visual odometry")
        point_of_feature = np.full(len(result.features), -1, dtype=np.int64)
        point_of_feature[result.inlier_features] = np.arange(len(result.inlier_features))
        return cls(T_wc, result.features, point_of_feature, result.inlier_points_world, 0)

    @property
    def tracked_features(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.point_of_feature >= 0)


@dataclass(frozen=True)
class OdometryStep:
    """One tracked (or untracked) frame. `T_wc` is the camera in the points' frame (the map's);
    `delta` = T_prev_cur and `delta_covariance` its 6x6 covariance (ROS order, in the previous
    camera's axes). Trust them only when `ok`."""

    ok: bool
    reason: str
    T_wc: Transform | None = None
    delta: Transform | None = None
    delta_covariance: NDArray[np.float64] | None = None
    inliers: int = 0
    new_keyframe: bool = False
    keyframes_since_map: int = 0
    elapsed_ms: float = 0.0


class VisualOdometry:
    """Keyframe-based PnP odometry for one camera and one descriptor type."""

    def __init__(self, descriptor_type: str, config: OdometryConfig | None = None):
        self.config = config or OdometryConfig()
        self.descriptor_type = descriptor_type
        self.detector = make_detector(descriptor_type, self.config.max_features)
        self.keyframe: Keyframe | None = None
        self.last_T_wc: Transform | None = None
        self.recent: deque[tuple[Transform, ImageFeatures]] = deque(
            maxlen=self.config.triangulation_window
        )

    def detect(self, image_rgb: NDArray[np.uint8]) -> ImageFeatures:
        return detect_features(image_rgb, self.detector, DESCRIPTOR_DTYPES[self.descriptor_type])

    def reset(self, keyframe: Keyframe) -> None:
        """Start (or restart) from a keyframe, e.g. `Keyframe.from_refinement`."""
        self.keyframe = keyframe
        self.last_T_wc = keyframe.T_wc
        self.recent.clear()
        self.recent.append((keyframe.T_wc, keyframe.features))

    def clear(self) -> None:
        self.keyframe = None
        self.last_T_wc = None
        self.recent.clear()

    def track(self, camera: PinholeCamera, features: ImageFeatures) -> OdometryStep:
        """Track one frame's features; the increment is from the last tracked frame."""
        started = time.perf_counter()
        if self.keyframe is None or self.last_T_wc is None:
            return OdometryStep(False, "visual odometry has no keyframe yet")
        step = self._track(camera, features, self.keyframe, self.last_T_wc)
        if step.ok and step.T_wc is not None:
            self.last_T_wc = step.T_wc
            self.recent.append((step.T_wc, features))
        return replace(step, elapsed_ms=(time.perf_counter() - started) * 1e3)

    def _track(
        self,
        camera: PinholeCamera,
        features: ImageFeatures,
        keyframe: Keyframe,
        previous: Transform,
    ) -> OdometryStep:
        config = self.config
        tracked = keyframe.tracked_features
        if len(features) < config.min_inliers:
            return OdometryStep(False, f"only {len(features)} features in the image")
        pairs = match_descriptors(
            features.descriptors,
            keyframe.features.descriptors[tracked],
            self.descriptor_type,
            config.ratio,
        )
        if len(pairs) < config.min_inliers:
            return OdometryStep(False, f"only {len(pairs)} matches to the keyframe's points")
        points = keyframe.points_world[keyframe.point_of_feature[tracked[pairs[:, 1]]]]
        pixels = ideal_pixels(camera, features, pairs[:, 0])
        solution, failure = solve_pnp(points, pixels, camera.K, config.ransac_threshold_px)
        if solution is None:
            return OdometryStep(False, failure)
        if len(solution.inliers) < config.min_inliers:
            return OdometryStep(
                False, f"{len(solution.inliers)} PnP inliers < {config.min_inliers}"
            )
        covariance_rt = pnp_covariance(
            points[solution.inliers], solution.residuals_px, solution.rvec, solution.tvec, camera.K
        )
        try:
            T_wc, covariance = ros_covariance_from_pnp(solution.rvec, solution.tvec, covariance_rt)
        except GeometryError as error:
            return OdometryStep(False, f"degenerate geometry ({error})")
        delta = previous.inverse() @ T_wc
        problem = self._step_problem(delta)
        if problem:
            return OdometryStep(False, problem)
        delta_covariance = self._increment_covariance(covariance, previous, delta, keyframe)
        new_keyframe = self._wants_keyframe(len(solution.inliers), keyframe, T_wc)
        if new_keyframe:
            inlier_pairs = pairs[solution.inliers]
            self.keyframe = self._next_keyframe(camera, features, T_wc, keyframe, inlier_pairs)
        return OdometryStep(
            ok=True,
            reason="tracked",
            T_wc=T_wc,
            delta=delta,
            delta_covariance=delta_covariance,
            inliers=len(solution.inliers),
            new_keyframe=new_keyframe,
            keyframes_since_map=keyframe.keyframes_since_map,
        )

    def _step_problem(self, delta: Transform) -> str:
        step_m = float(np.linalg.norm(delta.translation))
        step_deg = float(np.degrees(delta.rotation.magnitude()))
        if step_m > self.config.max_step_m or step_deg > self.config.max_step_deg:
            return (
                f"implausible step {step_m:.2f} m / {step_deg:.1f} deg between two frames "
                f"(limits {self.config.max_step_m} m / {self.config.max_step_deg} deg)"
            )
        return ""

    def _increment_covariance(
        self,
        covariance_map: NDArray[np.float64],
        previous: Transform,
        delta: Transform,
        keyframe: Keyframe,
    ) -> NDArray[np.float64]:
        """The pose covariance (map axes) in the previous camera's axes, plus the scale
        uncertainty of a keyframe off the map, along the direction of travel."""
        R = previous.rotation.as_matrix()
        G = np.zeros((6, 6))
        G[:3, :3] = G[3:, 3:] = R
        local = G.T @ covariance_map @ G
        scale_std = self.config.scale_drift_per_keyframe * keyframe.keyframes_since_map
        t = delta.translation
        local[:3, :3] += (scale_std**2) * np.outer(t, t)
        return np.asarray(0.5 * (local + local.T), dtype=np.float64)

    def _wants_keyframe(self, inliers: int, keyframe: Keyframe, T_wc: Transform) -> bool:
        config = self.config
        relative = keyframe.T_wc.inverse() @ T_wc
        return bool(
            inliers < config.keyframe_keep_fraction * len(keyframe.points_world)
            or np.linalg.norm(relative.translation) > config.keyframe_distance_m
            or np.degrees(relative.rotation.magnitude()) > config.keyframe_angle_deg
        )

    def _next_keyframe(
        self,
        camera: PinholeCamera,
        features: ImageFeatures,
        T_wc: Transform,
        keyframe: Keyframe,
        inlier_pairs: NDArray[np.int64],
    ) -> Keyframe:
        """The current frame as keyframe: the points it tracked, plus new ones triangulated
        against the oldest recent frame (the widest baseline at hand)."""
        point_of_feature = np.full(len(features), -1, dtype=np.int64)
        kept = keyframe.point_of_feature[keyframe.tracked_features[inlier_pairs[:, 1]]]
        points = [keyframe.points_world[kept]]
        point_of_feature[inlier_pairs[:, 0]] = np.arange(len(kept))
        untracked_new = np.flatnonzero(point_of_feature < 0)
        T_w_old, old_features = (
            self.recent[0] if self.recent else (keyframe.T_wc, keyframe.features)
        )
        pairs = match_descriptors(
            features.descriptors[untracked_new],
            old_features.descriptors,
            self.descriptor_type,
            self.config.ratio,
        )
        if len(pairs):
            new_index = untracked_new[pairs[:, 0]]
            triangulated, good = triangulate(
                camera,
                T_w_old,
                ideal_pixels(camera, old_features, pairs[:, 1]),
                T_wc,
                ideal_pixels(camera, features, new_index),
                self.config,
            )
            point_of_feature[new_index[good]] = len(kept) + np.arange(int(good.sum()))
            points.append(triangulated[good])
        since_map = keyframe.keyframes_since_map + 1
        all_points = np.concatenate(points) if points else np.zeros((0, 3))
        logger.debug(
            "new keyframe: %d tracked + %d triangulated points",
            len(kept),
            len(all_points) - len(kept),
        )
        return Keyframe(T_wc, features, point_of_feature, all_points, since_map)


def triangulate(
    camera: PinholeCamera,
    T_wa: Transform,
    pixels_a: NDArray[np.float64],
    T_wb: Transform,
    pixels_b: NDArray[np.float64],
    config: OdometryConfig,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """World points from matched ideal pixels in two posed views, and which of them to keep:
    in front of both cameras, closer than max_depth_m, seen under at least min_triangulation_deg,
    reprojecting within max_triangulation_px in both views."""
    if len(pixels_a) == 0:
        return np.zeros((0, 3)), np.zeros(0, dtype=bool)
    projections = []
    for T_wc in (T_wa, T_wb):
        T_cw = T_wc.inverse()
        projections.append(
            camera.K @ np.hstack([T_cw.rotation.as_matrix(), T_cw.translation[:, None]])
        )
    homogeneous = cv2.triangulatePoints(
        projections[0], projections[1], pixels_a.T.astype(np.float64), pixels_b.T.astype(np.float64)
    )
    w = homogeneous[3]
    with np.errstate(divide="ignore", invalid="ignore"):
        points = (homogeneous[:3] / w).T
    good = np.isfinite(points).all(axis=1) & (np.abs(w) > 1e-12)
    for T_wc, pixels in ((T_wa, pixels_a), (T_wb, pixels_b)):
        in_camera = T_wc.inverse().apply(np.nan_to_num(points))
        depth = in_camera[:, 2]
        good &= (depth > 0.05) & (depth < config.max_depth_m)
        with np.errstate(divide="ignore", invalid="ignore"):
            projected = in_camera[:, :2] / depth[:, None] @ camera.K[:2, :2].T + camera.K[:2, 2]
        good &= np.linalg.norm(projected - pixels, axis=1) < config.max_triangulation_px
    rays_a = points - T_wa.translation
    rays_b = points - T_wb.translation
    cos = np.einsum("ij,ij->i", rays_a, rays_b) / (
        np.linalg.norm(rays_a, axis=1) * np.linalg.norm(rays_b, axis=1) + 1e-12
    )
    good &= np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))) >= config.min_triangulation_deg
    return np.nan_to_num(points), good
