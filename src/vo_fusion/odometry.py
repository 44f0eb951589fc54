"""Visual odometry at camera rate, on corners followed by optical flow.

Tracks. Shi-Tomasi corners, kept apart by a minimum distance so they spread over the image, are
followed from image to image with pyramidal Lucas-Kanade flow; a track survives only if flowing
it back lands where it started (forward-backward check). A track that carries a 3D point (a map
point at a seed, or triangulated since) gives a 2D-3D correspondence; the camera pose is PnP on
those (USAC MAGSAC++, then Levenberg-Marquardt), and tracks that disagree with it are dropped. A
track without a point is triangulated from its first observation and the current one as soon as
the two rays are `min_triangulation_deg` apart. New corners fill the image where no track is.
The motion model (the last increment, repeated) predicts where each point goes, and the flow
starts there. Every `keyframe_every` tracked frames the frame joins a window of keyframes whose
poses and shared points are bundle-adjusted together (`window_adjustment`): points triangulated
once from two views carry those views' errors, and left alone they shrink the scale by ~10 %
over 60 m on the demo drive; adjusted, the position error there is a quarter.

Why flow rather than descriptor matching against a keyframe: street façades repeat (rows of
identical windows). Descriptor matches between views a metre apart latch onto the neighbouring
window consistently enough to pass RANSAC, and on the demo drive that made the odometry's scale
collapse to half within 20 frames. Flow searches only near the predicted position, so it follows
the same window.

Scale. Monocular VO has none of its own: seeded from an accepted map refinement
(`OdometrySeed.from_refinement`), the tracks carry the map points PnP matched, so while they are
in view the scale is the map's. Points triangulated later keep the scale of the poses they were
triangulated from; every metre travelled since the seed adds `scale_drift_per_m` of relative scale
uncertainty to the increments' covariance (`OdometryStep.metres_since_seed` says how far).

Increments. A frame's pose is PnP against world points, so its covariance (from the reprojection
Jacobian, `refine.pnp_covariance`) is that of the pose relative to those points. The increment
T_prev_cur is given that covariance rotated into the previous camera's axes: successive
increments measured against the same points are correlated, and treating them as independent
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
from vo_fusion.feature_map import VoFusionError
from vo_fusion.refine import (
    RefinementResult,
    pnp_covariance,
    ros_covariance_from_pnp,
    solve_pnp,
    undistorted_pixels,
)
from vo_fusion.window_adjustment import WindowObservations, adjust_window

logger = logging.getLogger(__name__)

BORDER_PX = 4  # tracks this close to the image edge are dropped: the flow window leaves the image


@dataclass(frozen=True)
class OdometryConfig:
    """Every threshold of `VisualOdometry`."""

    max_tracks: int = 500  # corners followed at once
    min_corner_distance_px: float = 10.0  # new corners keep this far from each other and tracks
    corner_quality: float = 0.01  # Shi-Tomasi quality, relative to the image's best corner
    flow_window_px: int = 21
    flow_pyramid_levels: int = 3
    max_flow_error_px: float = 0.5  # forward-backward disagreement that drops a track
    ransac_threshold_px: float = 2.0
    min_inliers: int = 15  # fewer PnP inliers: the frame is not tracked
    # Fewer PnP inliers than this fraction of the last image's points: not tracked either. After
    # a kidnap, flow still "follows" some corners onto unrelated texture, and PnP finds a pose
    # for 20-40 % of them; tracking keeps most of its points from one frame to the next (at
    # least 57 % on the synthetic drives, 90-degree turn included).
    min_kept_fraction: float = 0.5
    min_triangulation_deg: float = 2.0  # a track's rays this far apart: triangulate it
    max_depth_m: float = 80.0
    max_triangulation_px: float = 2.0  # reprojection error of a new point, both views
    max_step_m: float = 3.0  # a step larger than this between two frames is refused
    max_step_deg: float = 30.0
    scale_drift_per_m: float = 0.02  # relative scale std added per metre since the seed
    keyframe_every: int = 5  # tracked frames between keyframes of the adjusted window
    window_keyframes: int = 6  # keyframes adjusted together (fewer than 3: no adjustment)

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not value > 0:
                raise VoFusionError(f"OdometryConfig.{item.name} must be positive, got {value}")
        if not self.corner_quality < 1 or not self.min_kept_fraction < 1:
            raise VoFusionError(
                "OdometryConfig.corner_quality and min_kept_fraction must be below 1"
            )
        if self.min_inliers < 6:
            raise VoFusionError("OdometryConfig.min_inliers must be at least 6 (PnP + refinement)")
        if self.flow_window_px < 5:
            raise VoFusionError("OdometryConfig.flow_window_px must be at least 5")


@dataclass(frozen=True)
class OdometrySeed:
    """Where odometry starts: a camera pose, and image pixels (as seen, distortion included) with
    their world points."""

    T_wc: Transform
    pixels: NDArray[np.float64]
    points_world: NDArray[np.float64]

    @classmethod
    def from_refinement(cls, result: RefinementResult, T_wc: Transform) -> OdometrySeed:
        """A seed at T_wc (the fused pose) holding the map points the refinement matched."""
        if result.features is None or len(result.inlier_features) == 0:
            raise VoFusionError("a refinement with no inliers cannot start visual odometry")
        pixels = result.features.pixels[result.inlier_features]
        return cls(T_wc, pixels, result.inlier_points_world)


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
    tracks: int = 0  # corners followed into this image
    # Of the points the last image had, the fraction followed into this one (and, once PnP has
    # run, agreeing with its pose): near 1 while tracking, near 0 when the view changed.
    kept_fraction: float = 1.0
    triangulated: int = 0  # new points made on this frame
    metres_since_seed: float = 0.0
    elapsed_ms: float = 0.0


@dataclass
class _Keyframe:
    """A frame of the adjusted window: its pose, and the ids and undistorted pixels of the
    tracks with a point it saw."""

    T_wc: Transform
    ids: NDArray[np.int64]
    pixels: NDArray[np.float64]


@dataclass(frozen=True)
class Tracks:
    """Corners being followed, one row each: an id, where they are in the last image (as seen),
    their world point (NaN until triangulated; `fixed` for the map's, which bundle adjustment
    leaves alone), the frame that first saw them and where (undistorted pixel), for
    triangulation."""

    ids: NDArray[np.int64]
    pixels: NDArray[np.float32]
    points: NDArray[np.float64]
    fixed: NDArray[np.bool_]
    born: NDArray[np.int64]
    first_ideal: NDArray[np.float64]

    @classmethod
    def empty(cls) -> Tracks:
        return cls(
            np.zeros(0, np.int64),
            np.zeros((0, 2), np.float32),
            np.zeros((0, 3)),
            np.zeros(0, bool),
            np.zeros(0, np.int64),
            np.zeros((0, 2)),
        )

    def __len__(self) -> int:
        return len(self.born)

    @property
    def has_point(self) -> NDArray[np.bool_]:
        return np.asarray(np.isfinite(self.points).all(axis=1))

    def select(self, keep: NDArray) -> Tracks:
        return Tracks(*(getattr(self, item.name)[keep] for item in fields(self)))

    def extended(self, other: Tracks) -> Tracks:
        return Tracks(
            *(
                np.concatenate([getattr(self, item.name), getattr(other, item.name)])
                for item in fields(self)
            )
        )


class VisualOdometry:
    """Optical-flow, PnP odometry for one camera (see the module docstring)."""

    def __init__(self, config: OdometryConfig | None = None):
        self.config = config or OdometryConfig()
        self.clear()

    def clear(self) -> None:
        self.grey: NDArray[np.uint8] | None = None
        self.tracks = Tracks.empty()
        self.last_T_wc: Transform | None = None
        self.last_delta: Transform | None = None
        self.frame = 0
        self.born_poses: dict[int, Transform] = {}
        self.metres_since_seed = 0.0
        self.next_id = 0
        self.keyframes: deque[_Keyframe] = deque(maxlen=self.config.window_keyframes)
        self.frames_since_keyframe = 0

    def reset(
        self, seed: OdometrySeed, camera: PinholeCamera, image_rgb: NDArray[np.uint8]
    ) -> None:
        """Start (or restart) from a seed seen in this image, e.g. `OdometrySeed.from_refinement`."""
        self.clear()
        self.grey = _grey(image_rgb)
        self.last_T_wc = seed.T_wc
        self.born_poses[0] = seed.T_wc
        pixels = np.asarray(seed.pixels, np.float64).reshape(-1, 2)
        self.tracks = Tracks(
            ids=self._new_ids(len(pixels)),
            pixels=pixels.astype(np.float32),
            points=np.asarray(seed.points_world, np.float64).reshape(-1, 3),
            fixed=np.ones(len(pixels), bool),
            born=np.zeros(len(pixels), np.int64),
            first_ideal=undistorted_pixels(camera, pixels),
        ).select(_inside(pixels, self.grey.shape))
        self._add_corners(camera, self.grey)

    def track(self, camera: PinholeCamera, image_rgb: NDArray[np.uint8]) -> OdometryStep:
        """Track one image; the increment is from the last tracked image."""
        started = time.perf_counter()
        step = self._track(camera, image_rgb)
        return replace(step, elapsed_ms=(time.perf_counter() - started) * 1e3)

    def _track(self, camera: PinholeCamera, image_rgb: NDArray[np.uint8]) -> OdometryStep:
        config = self.config
        if self.grey is None or self.last_T_wc is None:
            return OdometryStep(False, "visual odometry has no seed yet")
        grey = _grey(image_rgb)
        if grey.shape != self.grey.shape:
            return OdometryStep(
                False,
                f"image size {grey.shape[::-1]} differs from the tracked {self.grey.shape[::-1]}",
            )
        followed, pixels = self._flow(camera, grey)
        tracks = replace(self.tracks.select(followed), pixels=pixels)
        with_point = np.flatnonzero(tracks.has_point)
        had = max(int(self.tracks.has_point.sum()), 1)
        fraction = len(with_point) / had

        def failed(reason: str) -> OdometryStep:
            return OdometryStep(False, reason, tracks=len(tracks), kept_fraction=fraction)

        if len(with_point) < config.min_inliers:
            return failed(
                f"only {len(with_point)} points followed into this image "
                f"({len(tracks)} of {len(followed)} corners)"
            )
        points = tracks.points[with_point]
        solution, failure = solve_pnp(
            points,
            undistorted_pixels(camera, tracks.pixels[with_point]),
            camera.K,
            config.ransac_threshold_px,
        )
        if solution is None:
            return failed(failure)
        fraction = len(solution.inliers) / had
        if len(solution.inliers) < config.min_inliers:
            return failed(f"{len(solution.inliers)} PnP inliers < {config.min_inliers}")
        if fraction < config.min_kept_fraction:
            return failed(
                f"only {len(solution.inliers)} of the last image's {had} points agree with one "
                "pose: the view changed"
            )
        covariance_rt = pnp_covariance(
            points[solution.inliers], solution.residuals_px, solution.rvec, solution.tvec, camera.K
        )
        try:
            T_wc, covariance = ros_covariance_from_pnp(solution.rvec, solution.tvec, covariance_rt)
        except GeometryError as error:
            return failed(f"degenerate geometry ({error})")
        delta = self.last_T_wc.inverse() @ T_wc
        problem = self._step_problem(delta)
        if problem:
            return failed(problem)
        delta_covariance = self._increment_covariance(covariance, self.last_T_wc, delta)
        # The frame is tracked: commit it.
        outliers = np.setdiff1d(np.arange(len(with_point)), solution.inliers)
        keep = np.ones(len(tracks), bool)
        keep[with_point[outliers]] = False
        self.frame += 1
        self.tracks = tracks.select(keep)
        self.metres_since_seed += float(np.linalg.norm(delta.translation))
        self.last_T_wc, self.last_delta, self.grey = T_wc, delta, grey
        triangulated = self._triangulate(camera, T_wc)
        self._keyframe_and_adjust(camera, T_wc)
        self._add_corners(camera, grey)
        return OdometryStep(
            ok=True,
            reason="tracked",
            T_wc=T_wc,
            delta=delta,
            delta_covariance=delta_covariance,
            inliers=len(solution.inliers),
            tracks=len(tracks),
            triangulated=triangulated,
            kept_fraction=fraction,
            metres_since_seed=self.metres_since_seed,
        )

    def _flow(
        self, camera: PinholeCamera, grey: NDArray[np.uint8]
    ) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
        """Which tracks were followed into `grey`, and their pixels there."""
        tracks = self.tracks
        if len(tracks) == 0:
            return np.zeros(0, bool), np.zeros((0, 2), np.float32)
        guess = tracks.pixels.copy()
        if self.last_delta is not None and self.last_T_wc is not None:
            predicted = self.last_T_wc @ self.last_delta
            with_point = tracks.has_point
            projected, inside = camera.project(predicted.inverse().apply(tracks.points[with_point]))
            guess[np.flatnonzero(with_point)[inside]] = projected[inside]
        assert self.grey is not None
        ahead, status = self._lucas_kanade(self.grey, grey, tracks.pixels, guess)
        # Back from where the flow arrived, with no hint of where it started.
        back, status_back = self._lucas_kanade(grey, self.grey, ahead, None)
        followed = (
            status
            & status_back
            & (np.linalg.norm(back - tracks.pixels, axis=1) < self.config.max_flow_error_px)
            & _inside(ahead, grey.shape)
        )
        return followed, ahead[followed]

    def _keyframe_and_adjust(self, camera: PinholeCamera, T_wc: Transform) -> None:
        """Every `keyframe_every` tracked frames: a keyframe, then bundle adjustment of the
        window's poses and the points at least two of its keyframes saw (see
        `window_adjustment`). The current pose is left as PnP found it: the next increment,
        measured against the adjusted points, carries the correction to the filter."""
        config = self.config
        self.frames_since_keyframe += 1
        if config.window_keyframes < 3 or self.frames_since_keyframe < config.keyframe_every:
            return
        self.frames_since_keyframe = 0
        tracks = self.tracks
        seen = np.flatnonzero(tracks.has_point)
        self.keyframes.append(
            _Keyframe(T_wc, tracks.ids[seen], undistorted_pixels(camera, tracks.pixels[seen]))
        )
        gathered = self._window_observations() if len(self.keyframes) >= 3 else None
        if gathered is None:
            return
        rows, observations = gathered
        result = adjust_window(
            camera.K,
            [keyframe.T_wc for keyframe in self.keyframes],
            tracks.points[rows],
            tracks.fixed[rows],
            observations,
        )
        points = tracks.points.copy()
        points[rows] = result.points
        self.tracks = replace(tracks, points=points)
        for keyframe, adjusted in zip(list(self.keyframes), result.poses, strict=True):
            keyframe.T_wc = adjusted
        logger.debug(
            "window adjusted: %d points, rms %.2f -> %.2f px",
            len(rows),
            result.rms_before_px,
            result.rms_after_px,
        )

    def _window_observations(self) -> tuple[NDArray[np.int64], WindowObservations] | None:
        """The track rows whose points at least two keyframes of the window saw (a point one
        keyframe saw has no depth to adjust), and those sightings; None when too few."""
        tracks = self.tracks
        alive_rows = np.flatnonzero(tracks.has_point)
        alive_ids = tracks.ids[alive_rows]  # ascending: ids are handed out in order
        pose, row, pixels = [], [], []
        for index, keyframe in enumerate(self.keyframes):
            found = np.isin(keyframe.ids, alive_ids)
            pose.append(np.full(int(found.sum()), index))
            row.append(alive_rows[np.searchsorted(alive_ids, keyframe.ids[found])])
            pixels.append(keyframe.pixels[found])
        rows, point, views = np.unique(np.concatenate(row), return_inverse=True, return_counts=True)
        shared = views[point] >= 2
        if shared.sum() < 3 * self.config.min_inliers:
            return None
        kept = np.flatnonzero(views >= 2)
        renumber = np.full(len(rows), -1)
        renumber[kept] = np.arange(len(kept))
        observations = WindowObservations(
            np.concatenate(pose)[shared], renumber[point[shared]], np.concatenate(pixels)[shared]
        )
        return rows[kept], observations

    def _lucas_kanade(
        self,
        source: NDArray[np.uint8],
        target: NDArray[np.uint8],
        points: NDArray[np.float32],
        guess: NDArray[np.float32] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Pyramidal Lucas-Kanade from source to target: (N, 2) positions, and which converged."""
        window = self.config.flow_window_px
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            source,
            target,
            points.reshape(-1, 1, 2),
            points.reshape(-1, 1, 2).copy() if guess is None else guess.reshape(-1, 1, 2),
            winSize=(window, window),
            maxLevel=self.config.flow_pyramid_levels,
            criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01),
            flags=0 if guess is None else cv2.OPTFLOW_USE_INITIAL_FLOW,
        )
        return np.asarray(moved, np.float32).reshape(-1, 2), np.asarray(status).reshape(-1) == 1

    def _triangulate(self, camera: PinholeCamera, T_wc: Transform) -> int:
        """Points for the tracks whose rays are now far enough apart; drop those that fail."""
        tracks = self.tracks
        pending = np.flatnonzero(~tracks.has_point)
        if len(pending) == 0:
            return 0
        ideal_now = undistorted_pixels(camera, tracks.pixels[pending])
        K_inv = np.asarray(np.linalg.inv(camera.K), np.float64)
        rays_now = T_wc.rotation.apply(_rays(ideal_now, K_inv))
        min_cos = np.cos(np.radians(self.config.min_triangulation_deg))
        points = tracks.points.copy()
        drop = np.zeros(len(tracks), bool)
        for born in np.unique(tracks.born[pending]):
            T_born = self.born_poses[int(born)]
            group = np.flatnonzero(tracks.born[pending] == born)
            rays_then = T_born.rotation.apply(_rays(tracks.first_ideal[pending[group]], K_inv))
            wide = group[np.einsum("ij,ij->i", rays_then, rays_now[group]) < min_cos]
            if len(wide) == 0:
                continue
            found, good = triangulate(
                camera,
                T_born,
                tracks.first_ideal[pending[wide]],
                T_wc,
                ideal_now[wide],
                self.config,
            )
            points[pending[wide[good]]] = found[good]
            drop[pending[wide[~good]]] = True
        self.tracks = replace(tracks, points=points).select(~drop)
        return int(np.isfinite(points[pending]).all(axis=1).sum())

    def _add_corners(self, camera: PinholeCamera, grey: NDArray[np.uint8]) -> None:
        """New tracks at corners away from the current ones, up to `max_tracks`."""
        config = self.config
        wanted = config.max_tracks - len(self.tracks)
        if wanted <= config.max_tracks // 10:
            self._forget_unused_poses()
            return
        mask = np.full(grey.shape, 255, np.uint8)
        radius = max(1, round(config.min_corner_distance_px))
        for x, y in np.round(self.tracks.pixels).astype(int):
            cv2.circle(mask, (int(x), int(y)), radius, 0, -1)
        corners = cv2.goodFeaturesToTrack(
            grey,
            maxCorners=wanted,
            qualityLevel=config.corner_quality,
            minDistance=config.min_corner_distance_px,
            mask=mask,
        )
        if corners is not None:
            pixels = corners.reshape(-1, 2).astype(np.float32)
            pixels = pixels[_inside(pixels, grey.shape)]
            self.born_poses[self.frame] = self.last_T_wc  # type: ignore[assignment]
            self.tracks = self.tracks.extended(
                Tracks(
                    ids=self._new_ids(len(pixels)),
                    pixels=pixels,
                    points=np.full((len(pixels), 3), np.nan),
                    fixed=np.zeros(len(pixels), bool),
                    born=np.full(len(pixels), self.frame, np.int64),
                    first_ideal=undistorted_pixels(camera, pixels),
                )
            )
        self._forget_unused_poses()

    def _new_ids(self, count: int) -> NDArray[np.int64]:
        ids = np.arange(self.next_id, self.next_id + count, dtype=np.int64)
        self.next_id += count
        return ids

    def _forget_unused_poses(self) -> None:
        used = set(np.unique(self.tracks.born[~self.tracks.has_point]).tolist())
        for frame in [f for f in self.born_poses if f not in used and f != self.frame]:
            del self.born_poses[frame]

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
        self, covariance_map: NDArray[np.float64], previous: Transform, delta: Transform
    ) -> NDArray[np.float64]:
        """The pose covariance (map axes) in the previous camera's axes, plus the scale
        uncertainty gathered since the seed, along the direction of travel."""
        R = previous.rotation.as_matrix()
        G = np.zeros((6, 6))
        G[:3, :3] = G[3:, 3:] = R
        local = G.T @ covariance_map @ G
        scale_std = self.config.scale_drift_per_m * self.metres_since_seed
        t = delta.translation
        local[:3, :3] += (scale_std**2) * np.outer(t, t)
        return np.asarray(0.5 * (local + local.T), dtype=np.float64)


def _grey(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(grey)


def _inside(pixels: NDArray, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    height, width = shape[:2]
    p = np.asarray(pixels).reshape(-1, 2)
    return np.asarray(
        (p[:, 0] >= BORDER_PX)
        & (p[:, 0] < width - BORDER_PX)
        & (p[:, 1] >= BORDER_PX)
        & (p[:, 1] < height - BORDER_PX)
    )


def _rays(ideal_pixels: NDArray[np.float64], K_inv: NDArray[np.float64]) -> NDArray[np.float64]:
    """Unit optical-frame rays through undistorted pixels."""
    rays = np.column_stack([ideal_pixels, np.ones(len(ideal_pixels))]) @ K_inv.T
    return np.asarray(rays / np.linalg.norm(rays, axis=1, keepdims=True))


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
