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

Why flow rather than descriptor matching against a keyframe: see `features` (façades repeat).

Turns. At a street corner a robot yaws 5-8 degrees per frame while moving ~10 cm: the points
with a depth leave the image faster than new corners gain the parallax to be triangulated, and
PnP ran out of points within a second (on the `long` drives every loss of track was at a turn,
42-86 m from the fix). Flow still follows most corners there. Where PnP fails, or rests on
fewer than `weak_pnp_inliers`, the increment is fitted to every followed track, with or
without a depth, around the motion model (`increment`): the image gives the rotation, the
points left give the distance, else the motion model does (the mean of the last PnP steps,
within `motion_prior_std_fraction`); most of the last image's tracks must agree with it, as
with PnP, so a kidnap is still not tracked. At most `max_motion_model_frames` such frames in a
row whose distance was the motion model's (fewer than `min_inliers` points with a depth agreed).
The window adjustment moves the last pose with the points; the fit starts from where it moved
it (else the adjusted points disagree with the flow's rays and the prior, and are dropped as
outliers: measured, half the points lost at some keyframes of a long fitted stretch). Given the robot's gyro
(`track`'s `gyro`, from `robot_gyro`), its rotation replaces the motion model's in the prediction
(a turn's start and end, which the last increment misses) and holds the fit's rotation.
Without a depth source the distance through a turn is the motion model's, so each turn can
change the scale (measured below 0.9 after some corners): the robot's own odometry is what
fixes that. Given it (`track`'s `robot_motion`, from `robot_odometry`), every frame is fitted
around it instead of PnP, the points' depths left out (hundreds of them carry the drifted scale
and outweigh any per-frame prior): the image gives the rotation and the direction, the robot's
odometry the distance, and the flow starts where it puts the corners.

Scale. Monocular VO has none of its own: seeded from an accepted map refinement
(`OdometrySeed.from_refinement`), the tracks carry the map points PnP matched, so while they are
in view the scale is the map's. Points triangulated later keep the scale of the poses they were
triangulated from; every metre travelled since the seed adds `scale_drift_per_m` of relative scale
uncertainty to the increments' covariance (`OdometryStep.metres_since_seed` says how far).

Increments. A frame's pose is PnP against world points, so its covariance (from the reprojection
Jacobian, `pnp.pose_and_covariance`) is that of the pose relative to those points. The increment
T_prev_cur is given that covariance rotated into the previous camera's axes: successive
increments measured against the same points are correlated, and treating them as independent
over-states the growth, which errs on the honest side.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, fields, replace

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import GeometryError
from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError
from vo_fusion.features import (
    FlowSettings,
    detect_corners,
    follow_flow,
    grey_image,
    inside_border,
)
from vo_fusion.increment import (
    IncrementFit,
    IncrementTracks,
    fit_increment,
    translation_prior,
)
from vo_fusion.pnp import (
    agreement_problem,
    pose_and_covariance,
    solve_pnp,
    step_problem,
    undistorted_pixels,
)
from vo_fusion.refine import RefinementResult
from vo_fusion.triangulation import triangulate, unit_rays
from vo_fusion.window_adjustment import Keyframe, KeyframeWindow

MOTION_MODEL_SPEED_FRAMES = 10  # the motion model's translation: the mean of this many PnP steps


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
    # The fit around the motion model also passes on as few as this fraction of the last image's
    # tracks when at least `min_kept_fraction` of those the flow followed agree with it: a near
    # building sweeping across the view in a turn hides most tracks behind it at once (the flow
    # loses them: 93 of 184 followed, 89 of those agreeing), while after a kidnap the flow
    # follows almost none (0-12 of 170-330 over 29 kidnaps, at most 5 agreeing).
    min_kept_fraction_hidden: float = 0.25
    min_triangulation_deg: float = 2.0  # a track's rays this far apart: triangulate it
    max_depth_m: float = 80.0
    max_triangulation_px: float = 2.0  # reprojection error of a new point, both views
    max_step_m: float = 3.0  # a step larger than this between two frames is refused
    max_step_deg: float = 30.0
    # RANSAC's camera farther than this from where the motion model puts it: the pose refined
    # from the motion model's is tried too (far points fit two poses a metre or more apart;
    # `pnp.GUESS_INLIER_SHARE`)
    motion_model_jump_m: float = 0.5
    scale_drift_per_m: float = 0.02  # relative scale std added per metre since the seed
    keyframe_every: int = 5  # tracked frames between keyframes of the adjusted window
    window_keyframes: int = 6  # keyframes adjusted together (fewer than 3: no adjustment)
    # an adjustment turning the newest keyframe more than this is not taken (`window_adjustment`)
    max_adjustment_turn_deg: float = 1.0
    # Where PnP cannot measure a frame (a turn: the points with a depth left the image), the
    # increment is fitted to every followed track around the motion model (`increment`), its
    # translation held to the motion model's within this fraction of its length (+ 1 cm) ...
    motion_prior_std_fraction: float = 0.1
    # PnP on fewer inliers than this: the fit around the motion model is tried too, and kept when
    # it passes (a turn's last PnP frames, on 20-30 points, put the camera 10-20 cm astray)
    weak_pnp_inliers: int = 60
    # ... for at most this many frames in a row whose distance was the motion model's (fewer than
    # min_inliers points with a depth agreed; a turn on the spot at 70 deg/s takes ~25; longer,
    # and the position is the motion model's guess: not tracked). 0: PnP alone.
    max_motion_model_frames: int = 50
    # Given the robot's gyro: a measured turn further than this (plus 3 sigma of the gyro's) from
    # the gyro's is not taken (PnP on a turn's last far points, or flow that slid, can be
    # degrees off); the fit around the gyro is tried instead.
    gyro_gate_deg: float = 1.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not (value > 0 or (item.name == "max_motion_model_frames" and value == 0)):
                raise VoFusionError(f"OdometryConfig.{item.name} must be positive, got {value}")
        if (
            not self.corner_quality < 1
            or not self.min_kept_fraction < 1
            or not self.min_kept_fraction_hidden < 1
        ):
            raise VoFusionError(
                "OdometryConfig.corner_quality, min_kept_fraction and min_kept_fraction_hidden "
                "must be below 1"
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
class RobotMotion:
    """The robot's own odometry (wheels, VIO) between the last tracked image and this one, as a
    camera increment T_prev_cur and its 6x6 covariance (the filter's convention, the previous
    camera's axes; a variance of 1e3 or more: an axis it does not measure)."""

    delta: Transform
    covariance: NDArray[np.float64]

    def with_gyro(self, gyro: GyroPrior) -> RobotMotion:
        """The increment updated by the gyro's rotation as a measurement of its rotation part (a
        Kalman update in the tangent space at the odometry's increment): wheels measure a turn
        through slip and tyre scrub, a gyro directly. The translation moves with it through
        their correlation: in the camera's axes the wheels' unmeasured roll and pitch (variance
        1e3) swing the camera on its mount, a translation uncertainty only the rotation pins
        (dropping that correlation left the forward step unconstrained: steps of 3-30 m)."""
        H = np.zeros((3, 6))
        H[:, 3:] = np.eye(3)
        P = self.covariance
        offset = (self.delta.rotation.inv() * gyro.rotation).as_rotvec()
        gain = P @ H.T @ np.linalg.inv(H @ P @ H.T + gyro.covariance)
        dx = gain @ offset
        fused = (np.eye(6) - gain @ H) @ P
        delta = Transform(
            self.delta.rotation * Rotation.from_rotvec(dx[3:]), self.delta.translation + dx[:3]
        )
        return RobotMotion(delta, 0.5 * (fused + fused.T))


@dataclass(frozen=True)
class GyroPrior:
    """The robot's gyro integrated between the last tracked image and this one
    (`robot_gyro`), as the camera's rotation R_prev_cur and its 3x3 covariance (rad²)."""

    rotation: Rotation
    covariance: NDArray[np.float64]


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
    # the increment came from every followed track around the motion model, not PnP alone
    motion_model: bool = False
    robot_odometry: bool = False  # ... around the robot's own odometry
    metres_since_seed: float = 0.0
    elapsed_ms: float = 0.0


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


@dataclass(frozen=True)
class _Followed:
    """The tracks flow followed into an image (at their pixels there, and at `previous_pixels` in
    the last one), which rows carry a point, the points the last image had (at least 1), the
    corners that flow started from."""

    tracks: Tracks
    previous_pixels: NDArray[np.float32]
    with_point: NDArray[np.int64]
    had: int
    corners: int


@dataclass(frozen=True)
class _Measurement:
    """What PnP on the followed points says: the pose and increment when they pass every check,
    else `problem`; `kept_fraction` as in OdometryStep."""

    problem: str
    kept_fraction: float
    keep: NDArray[np.bool_] | None = None  # the followed tracks that agree with the pose
    inliers: int = 0
    T_wc: Transform | None = None
    delta: Transform | None = None
    delta_covariance: NDArray[np.float64] | None = None
    motion_model: bool = False
    robot_odometry: bool = False
    point_inliers: int = 0  # of the fit: tracks with a depth that agree (they give the distance)


class VisualOdometry:
    """Optical-flow, PnP odometry for one camera (see the module docstring)."""

    def __init__(self, config: OdometryConfig | None = None):
        self.config = config or OdometryConfig()
        self.flow = FlowSettings(
            self.config.flow_window_px,
            self.config.flow_pyramid_levels,
            self.config.max_flow_error_px,
        )
        self.clear()

    def clear(self) -> None:
        self.grey: NDArray[np.uint8] | None = None
        self.tracks = Tracks.empty()
        self.last_T_wc: Transform | None = None
        self.last_delta: Transform | None = None
        # The last image's pose as the window adjustment moved it (when it was a keyframe): where
        # the adjusted points say the camera was, so the motion model starts from there.
        self.adjusted_last: Transform | None = None
        self.motion_model_frames = 0  # frames in a row with the motion model's distance
        self.robot_motion: RobotMotion | None = None  # of the image being tracked
        self.gyro: GyroPrior | None = None  # ... and the gyro's rotation
        self.pnp_steps: deque[NDArray[np.float64]] = deque(maxlen=MOTION_MODEL_SPEED_FRAMES)
        self.frame = 0
        self.born_poses: dict[int, Transform] = {}
        self.metres_since_seed = 0.0
        self.next_id = 0
        config = self.config
        self.window = KeyframeWindow(
            config.window_keyframes,
            config.keyframe_every,
            3 * config.min_inliers,
            config.max_adjustment_turn_deg,
        )

    def reset(
        self,
        seed: OdometrySeed,
        camera: PinholeCamera,
        image_rgb: NDArray[np.uint8],
        motion: Transform | None = None,
    ) -> None:
        """Start (or restart) from a seed seen in this image, e.g. `OdometrySeed.from_refinement`;
        `motion`, the last frame-to-frame increment where the drive goes on (a reseed from a map
        fix while tracking): the motion model then holds from the first image after the seed."""
        self.clear()
        self.grey = grey_image(image_rgb)
        self.last_T_wc = seed.T_wc
        self.last_delta = motion
        self.born_poses[0] = seed.T_wc
        pixels = np.asarray(seed.pixels, np.float64).reshape(-1, 2)
        self.tracks = Tracks(
            ids=self._new_ids(len(pixels)),
            pixels=pixels.astype(np.float32),
            points=np.asarray(seed.points_world, np.float64).reshape(-1, 3),
            fixed=np.ones(len(pixels), bool),
            born=np.zeros(len(pixels), np.int64),
            first_ideal=undistorted_pixels(camera, pixels),
        ).select(inside_border(pixels, self.grey.shape))
        self._add_corners(camera, self.grey)

    def track(
        self,
        camera: PinholeCamera,
        image_rgb: NDArray[np.uint8],
        robot_motion: RobotMotion | None = None,
        gyro: GyroPrior | None = None,
    ) -> OdometryStep:
        """Track one image; the increment is from the last tracked image. `robot_motion`: the
        robot's own odometry over the same interval, in the camera's axes: the flow starts where
        it puts the corners, and the increment is fitted to every followed corner around it.
        `gyro`: the gyro's rotation over the interval: it replaces the motion model's rotation
        in the prediction and holds the fit's (fused with the odometry's, given both)."""
        started = time.perf_counter()
        if robot_motion is not None and gyro is not None:
            robot_motion = robot_motion.with_gyro(gyro)
        self.robot_motion, self.gyro = robot_motion, gyro
        try:
            step = self._track(camera, image_rgb)
        finally:
            self.robot_motion = self.gyro = None
        return replace(step, elapsed_ms=(time.perf_counter() - started) * 1e3)

    # --- one image: follow, measure, commit ----------------------------------------------------
    def _track(self, camera: PinholeCamera, image_rgb: NDArray[np.uint8]) -> OdometryStep:
        if self.grey is None or self.last_T_wc is None:
            return OdometryStep(False, "visual odometry has no seed yet")
        grey = grey_image(image_rgb)
        if grey.shape != self.grey.shape:
            return OdometryStep(
                False,
                f"image size {grey.shape[::-1]} differs from the tracked {self.grey.shape[::-1]}",
            )
        followed = self._follow(camera, grey)
        if self.robot_motion is not None:
            # The points' depths carry the scale the odometry has drifted to (hundreds of them
            # outweigh any per-frame prior): the robot's odometry alone says how far.
            measured = self._measure_around(
                camera,
                followed,
                self.robot_motion.delta,
                self.robot_motion.covariance,
                depths=False,
            )
            if measured.problem:
                measured = replace(
                    measured, problem=f"around the robot's odometry: {measured.problem}"
                )
            else:
                measured = replace(measured, robot_odometry=True)
            return self._commit(camera, grey, followed, measured)
        measured = self._checked_with_gyro(self._measure(camera, followed))
        if measured.problem or measured.inliers < self.config.weak_pnp_inliers:
            around = self._checked_with_gyro(
                self._measure_around_motion_model(camera, followed, measured)
            )
            if not around.problem or measured.problem:
                measured = around
        return self._commit(camera, grey, followed, measured)

    def _checked_with_gyro(self, measured: _Measurement) -> _Measurement:
        """The measurement, or its problem when its turn since the last image (from the pose the
        window adjustment left it at) disagrees with the gyro's."""
        last = self._last_pose()
        if self.gyro is None or measured.problem or measured.T_wc is None or last is None:
            return measured
        turn = (last.inverse() @ measured.T_wc).rotation
        off = float(np.degrees((self.gyro.rotation.inv() * turn).magnitude()))
        sigma = float(np.degrees(np.sqrt(np.linalg.eigvalsh(self.gyro.covariance).max())))
        gate = self.config.gyro_gate_deg + 3.0 * sigma
        if off <= gate:
            return measured
        return replace(
            measured,
            problem=f"its turn is {off:.1f} deg from the gyro's (more than {gate:.1f})",
        )

    def _follow(self, camera: PinholeCamera, grey: NDArray[np.uint8]) -> _Followed:
        """The tracks optical flow followed into `grey`, at their pixels there."""
        assert self.grey is not None
        tracks = self.tracks
        followed, pixels = follow_flow(
            self.grey, grey, tracks.pixels, self._predicted_pixels(camera), self.flow
        )
        before = tracks.select(followed)
        moved = replace(before, pixels=pixels)
        had = max(int(tracks.has_point.sum()), 1)
        return _Followed(
            moved, before.pixels, np.flatnonzero(moved.has_point), had, len(tracks.pixels)
        )

    def _motion_model_pose(self) -> Transform | None:
        """The camera pose the robot's odometry puts it at, else the motion model's (the last
        increment, repeated, turned by the gyro's rotation where there is one); None before the
        second tracked image without odometry or gyro."""
        last = self._last_pose()
        if last is None:
            return None
        if self.robot_motion is not None:
            return last @ self.robot_motion.delta
        if self.last_delta is None:
            return None if self.gyro is None else last @ Transform(self.gyro.rotation, np.zeros(3))
        rotation = self.gyro.rotation if self.gyro is not None else self.last_delta.rotation
        return last @ Transform(rotation, self.last_delta.translation)

    def _prior_increment(self) -> Transform:
        """The motion model's increment for a fit around it: the gyro's rotation, else the last
        increment's, and the mean translation of the last frames PnP measured well (one frame's
        is noisy, and those of a turn's first frames, on few points, already go astray)."""
        assert self.last_delta is not None
        rotation = self.gyro.rotation if self.gyro is not None else self.last_delta.rotation
        if not self.pnp_steps:
            return Transform(rotation, self.last_delta.translation)
        return Transform(rotation, np.mean(self.pnp_steps, axis=0))

    def _last_pose(self) -> Transform | None:
        """The last image's pose in the points' frame: as the window adjustment moved it, when
        it was an adjusted keyframe."""
        return self.adjusted_last if self.adjusted_last is not None else self.last_T_wc

    def _predicted_pixels(self, camera: PinholeCamera) -> NDArray[np.float32]:
        """Where the tracks should be in the next image: their points projected from the pose
        the motion model predicts; without a point, their ray turned by its rotation (as if far
        away: a turn moves every corner, near or far, by about the same pixels)."""
        tracks = self.tracks
        guess = tracks.pixels.copy()
        predicted, last = self._motion_model_pose(), self._last_pose()
        if predicted is None or last is None:
            return guess
        with_point = tracks.has_point
        projected, inside = camera.project(predicted.inverse().apply(tracks.points[with_point]))
        guess[np.flatnonzero(with_point)[inside]] = projected[inside]
        without = np.flatnonzero(~with_point)
        if len(without):
            rays = camera.unproject(tracks.pixels[without])
            turn = (last.inverse() @ predicted).rotation
            turned, inside = camera.project(turn.inv().apply(rays))
            guess[without[inside]] = turned[inside]
        return guess

    def _measure(self, camera: PinholeCamera, followed: _Followed) -> _Measurement:
        """PnP on the followed points, then the checks: enough inliers, most of the last image's
        points agreeing (else the view changed), a usable covariance, a plausible step."""
        config = self.config
        tracks, with_point, had = followed.tracks, followed.with_point, followed.had
        if len(with_point) < config.min_inliers:
            why = (
                f"only {len(with_point)} points followed into this image "
                f"({len(tracks)} of {followed.corners} corners)"
            )
            return _Measurement(why, len(with_point) / had)
        points = tracks.points[with_point]
        solution, failure = solve_pnp(
            points,
            undistorted_pixels(camera, tracks.pixels[with_point]),
            camera.K,
            config.ransac_threshold_px,
            guess_T_wc=self._motion_model_pose(),
            guess_beyond_m=config.motion_model_jump_m,
        )
        if solution is None:
            return _Measurement(failure, len(with_point) / had)
        kept_fraction = len(solution.inliers) / had
        problem = agreement_problem(
            len(solution.inliers), had, config.min_inliers, config.min_kept_fraction
        )
        if problem:
            return _Measurement(problem, kept_fraction)
        try:
            T_wc, covariance = pose_and_covariance(solution, points, camera.K)
        except GeometryError as error:
            return _Measurement(f"degenerate geometry ({error})", kept_fraction)
        assert self.last_T_wc is not None
        delta = self.last_T_wc.inverse() @ T_wc
        problem = step_problem(delta, config.max_step_m, config.max_step_deg)
        if problem:
            return _Measurement(problem, kept_fraction)
        delta_covariance = self._increment_covariance(covariance, self.last_T_wc, delta)
        keep = np.ones(len(tracks), bool)
        keep[with_point] = False
        keep[with_point[solution.inliers]] = True
        return _Measurement(
            "", kept_fraction, keep, len(solution.inliers), T_wc, delta, delta_covariance
        )

    def _measure_around_motion_model(
        self, camera: PinholeCamera, followed: _Followed, failed: _Measurement
    ) -> _Measurement:
        """Where PnP could not measure the frame: the increment fitted to every followed track,
        those without a depth too, around the motion model (`increment`); the frame passes
        when most of the last image's tracks agree with it. Else PnP's problem stands."""
        config = self.config
        if self.last_delta is None or self.last_T_wc is None or not config.max_motion_model_frames:
            return failed
        if self.motion_model_frames >= config.max_motion_model_frames:
            return replace(
                failed,
                problem=f"{failed.problem}; {self.motion_model_frames} frames in a row with the "
                "motion model's distance already",
            )
        prior = self._prior_increment()
        translation_std = (
            config.motion_prior_std_fraction * float(np.linalg.norm(prior.translation)) + 0.01
        )
        prior_covariance = translation_prior(translation_std)
        if self.gyro is not None:
            prior_covariance[3:, 3:] = self.gyro.covariance
        measured = self._measure_around(
            camera, followed, prior, prior_covariance, prior_yields=True
        )
        if measured.problem:
            return replace(
                failed, problem=f"{failed.problem}; around the motion model: {measured.problem}"
            )
        assert measured.delta is not None and measured.delta_covariance is not None
        covariance = measured.delta_covariance.copy()
        scale_std = config.scale_drift_per_m * self.metres_since_seed
        t = measured.delta.translation
        covariance[:3, :3] += (scale_std**2) * np.outer(t, t)
        return replace(measured, delta_covariance=covariance, motion_model=True)

    def _measure_around(
        self,
        camera: PinholeCamera,
        followed: _Followed,
        prior: Transform,
        prior_covariance: NDArray[np.float64],
        depths: bool = True,
        prior_yields: bool = False,
    ) -> _Measurement:
        """The increment fitted to every followed track around `prior` (`increment`), and the
        checks: most of the last image's tracks agree with it, a plausible step. Without
        `depths`, the tracks' points are left out (each track a pair of rays): the prior alone
        then says how far. With them, the fit starts from the last pose as the window
        adjustment moved it (the points' frame); the increment reported is from the last pose as
        it was, so it carries the adjustment's correction to the filter, as PnP's does."""
        config = self.config
        assert self.last_T_wc is not None
        base = self._last_pose() if depths else self.last_T_wc
        assert base is not None
        tracks = followed.tracks
        with_point = tracks.has_point if depths else np.zeros(len(tracks), bool)
        ideal_now = undistorted_pixels(camera, tracks.pixels)
        fit_tracks = IncrementTracks(
            tracks.points[with_point],
            ideal_now[with_point],
            undistorted_pixels(camera, followed.previous_pixels[~with_point]),
            ideal_now[~with_point],
        )
        fit = fit_increment(
            camera.K,
            base,
            prior,
            prior_covariance,
            fit_tracks,
            config.ransac_threshold_px,
            prior_yields,
        )
        last_tracks = max(len(self.tracks), 1)
        kept_fraction = fit.inliers / last_tracks
        problem = _fit_problem(fit, last_tracks, len(tracks), config)
        if not problem:
            problem = step_problem(fit.delta, config.max_step_m, config.max_step_deg)
        if problem:
            return _Measurement(problem, kept_fraction)
        keep = np.ones(len(tracks), bool)
        keep[with_point] = fit.point_inliers
        keep[~with_point] = fit.ray_inliers
        T_wc = base @ fit.delta
        return _Measurement(
            "",
            kept_fraction,
            keep,
            fit.inliers,
            T_wc,
            self.last_T_wc.inverse() @ T_wc,
            fit.covariance,
            point_inliers=int(np.count_nonzero(fit.point_inliers)),
        )

    def _commit(
        self,
        camera: PinholeCamera,
        grey: NDArray[np.uint8],
        followed: _Followed,
        measured: _Measurement,
    ) -> OdometryStep:
        """The frame is tracked: drop the tracks that disagree with its pose, move on to it,
        triangulate, adjust the window at a keyframe, and fill the image with new corners.
        (Unless the measurement had a problem: then nothing changes, and the step says why.)"""
        if measured.problem:
            return OdometryStep(
                False,
                measured.problem,
                tracks=len(followed.tracks),
                kept_fraction=measured.kept_fraction,
            )
        T_wc, delta, keep = measured.T_wc, measured.delta, measured.keep
        assert T_wc is not None and delta is not None and keep is not None
        self.frame += 1
        # A fit on enough points with a depth measured the distance: only frames whose distance
        # was the motion model's count towards max_motion_model_frames.
        guessed = measured.motion_model and measured.point_inliers < self.config.min_inliers
        self.motion_model_frames = self.motion_model_frames + 1 if guessed else 0
        self.tracks = followed.tracks.select(keep)
        self.metres_since_seed += float(np.linalg.norm(delta.translation))
        self.last_T_wc, self.last_delta, self.grey = T_wc, delta, grey
        self.adjusted_last = None
        if not measured.motion_model:
            self.pnp_steps.append(np.asarray(delta.translation, np.float64))
        triangulated = self._triangulate(camera, T_wc)
        self._keyframe_and_adjust(camera, T_wc)
        self._add_corners(camera, grey)
        return OdometryStep(
            ok=True,
            reason=_tracked_reason(measured),
            T_wc=T_wc,
            delta=delta,
            delta_covariance=measured.delta_covariance,
            inliers=measured.inliers,
            motion_model=measured.motion_model,
            robot_odometry=measured.robot_odometry,
            tracks=len(followed.tracks),
            triangulated=triangulated,
            kept_fraction=measured.kept_fraction,
            metres_since_seed=self.metres_since_seed,
        )

    def _keyframe_and_adjust(self, camera: PinholeCamera, T_wc: Transform) -> None:
        """Every `keyframe_every` tracked frames: a keyframe, then bundle adjustment of the
        window's poses and the points at least two of its keyframes saw (see
        `window_adjustment`). The current pose is left as PnP found it: the next increment,
        measured against the adjusted points, carries the correction to the filter."""
        if not self.window.keyframe_due():
            return
        tracks = self.tracks
        seen = np.flatnonzero(tracks.has_point)
        keyframe = Keyframe(T_wc, tracks.ids[seen], undistorted_pixels(camera, tracks.pixels[seen]))
        points = self.window.add_and_adjust(
            camera.K, keyframe, tracks.ids, tracks.points, tracks.fixed
        )
        if points is not None:
            self.tracks = replace(tracks, points=points)
            self.adjusted_last = self.window.keyframes[-1].T_wc

    def _triangulate(self, camera: PinholeCamera, T_wc: Transform) -> int:
        """Points for the tracks whose rays are now far enough apart; drop those that fail."""
        tracks = self.tracks
        pending = np.flatnonzero(~tracks.has_point)
        if len(pending) == 0:
            return 0
        ideal_now = undistorted_pixels(camera, tracks.pixels[pending])
        K_inv = np.asarray(np.linalg.inv(camera.K), np.float64)
        rays_now = T_wc.rotation.apply(unit_rays(ideal_now, K_inv))
        min_cos = np.cos(np.radians(self.config.min_triangulation_deg))
        points = tracks.points.copy()
        drop = np.zeros(len(tracks), bool)
        for born in np.unique(tracks.born[pending]):
            T_born = self.born_poses[int(born)]
            group = np.flatnonzero(tracks.born[pending] == born)
            rays_then = T_born.rotation.apply(unit_rays(tracks.first_ideal[pending[group]], K_inv))
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
        corners = detect_corners(
            grey,
            wanted,
            config.corner_quality,
            config.min_corner_distance_px,
            self.tracks.pixels,
        )
        if corners is not None:
            pixels = corners
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


def _fit_problem(fit: IncrementFit, last_tracks: int, followed: int, config: OdometryConfig) -> str:
    """Why a fit around the motion model does not measure the frame ('' when it does): too few
    tracks agree, or too few of the last image's (unless most of those followed agree, and
    the rest were hidden: `OdometryConfig.min_kept_fraction_hidden`)."""
    if fit.inliers < 2 * config.min_inliers:
        return f"{fit.inliers} tracks agree < {2 * config.min_inliers}"
    kept = fit.inliers / last_tracks
    if kept >= config.min_kept_fraction:
        return ""
    if kept >= config.min_kept_fraction_hidden and fit.inliers >= (
        config.min_kept_fraction * followed
    ):
        return ""
    return (
        f"only {fit.inliers} of the last image's {last_tracks} tracks ({followed} followed) agree "
        "with one increment: the view changed"
    )


def _tracked_reason(measured: _Measurement) -> str:
    if measured.robot_odometry:
        return "tracked around the robot's odometry"
    if measured.motion_model:
        return "tracked around the motion model"
    return "tracked"
