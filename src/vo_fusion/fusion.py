"""The VO fusion core: one image at a time, it tracks the camera with visual odometry, pins it to
the feature map with PnP refinements, corrects orientation with the sun, and decides whether the
robot knows where it is.

States (`tracking`): UNINITIALIZED (nothing seen yet) → RELOCALIZING (waiting for a PoseNet prior
that PnP against the map confirms) → TRACKING → LOST (too many frames without odometry or a map
fix, an image in which the odometry kept almost none of its points and the map did not fix it
either, or the filter diverged: `LostRule`) → RELOCALIZING … A prior is only ever accepted
through an accepted refinement: PoseNet alone is metres off.

Tracking off the map (no map fix for a while) the position's uncertainty grows with the distance
odometry carried it; past `relocalize_above_std_m` the core asks for PoseNet priors while it goes
on tracking, and a prior the map confirms corrects the filter as a map fix does (`_prior_fix`).

One tracked image (`FusionCore._track`): odometry predicts the filter (or it coasts) → a map
refinement corrects it (`_map_fix`, reseeding the odometry when due; from a pending PoseNet prior
instead when the filter asked for one) → a pending sun observation corrects the orientation → the
accelerometer's up, where the robot was quasi-static, corrects the tilt (`robot_gravity`) → the
LOST rule decides the state.

Frames. Poses here are of the camera: `T_map_cam` (the filter's, jumps when the map corrects it)
and `T_odom_cam` (visual odometry chained, continuous, never jumps; it holds still while lost).
The node turns them into base_link poses and the map→odom transform.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, fields, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import GeometryError
from pose_reloc.geometry import Transform, validate_covariance
from vo_fusion.errors import VoFusionError
from vo_fusion.feature_map import FeatureMap
from vo_fusion.odometry import (
    GyroPrior,
    OdometryConfig,
    OdometrySeed,
    OdometryStep,
    VisualOdometry,
)
from vo_fusion.pose_filter import FilterConfig, PoseFilter, TimeWentBackwards, compose_jacobians
from vo_fusion.refine import RefineConfig, RefinementResult, refine_pose
from vo_fusion.robot_gravity import GravityNoise, RobotGravity
from vo_fusion.robot_gyro import GyroNoise, RobotGyro
from vo_fusion.robot_odometry import OdometryNoise, RobotOdometry
from vo_fusion.tracking import LostRule, TrackingState

logger = logging.getLogger(__name__)


# Map refinement on every image: 1000 ORB features (RefineConfig's 2000 cost ~35 ms more per
# 320x240 image, and the demo graph then falls behind real time, with no gain in accuracy there).
TRACKING_REFINE = RefineConfig(max_features=1000)
# Confirming a prior when lost is rare, so it affords 2000 features, which doubles the inliers
# where the map is sparse (perimeter streets: 9-15 at 1000 features, 16-29 at 2000) and relocalizes
# sooner. Not fewer than 30 inliers: in the demo city look-alike streets 98 m apart gave 25-29
# inliers to a wrong prior, which 15-25 would have confirmed.
RELOCALIZE_REFINE = RefineConfig(max_features=2000, min_inliers=30)

REANCHORED = "re-anchored on the map"  # a fix's reason when it put a drifted filter back

# FusionConfig fields that may be 0
ZERO_ALLOWED = ("map_fix_period_s", "sun_min_interval_s", "lost_kept_fraction")
NEVER = 1e9  # a period or threshold this large: off (`FusionConfig.map_fix_period_s`, ...)


@dataclass(frozen=True)
class FusionConfig:
    map_fix_period_s: float = 0.0  # try a map refinement at most this often while tracking
    lost_after_failures: int = 3  # consecutive frames with neither odometry nor a map fix
    # Odometry keeping fewer than this fraction of its points into an image (OdometryStep.
    # kept_fraction), with no map fix either: lost at once. The view changed (kidnapped, lens
    # covered); waiting for `lost_after_failures` would report the old place meanwhile. 0: off.
    lost_kept_fraction: float = 0.5
    relocalize_retry_s: float = 0.1  # ask PoseNet again this often while relocalizing
    # While tracking with a position std above this (odometry alone for a while: off the map, or
    # the map not fixing the images), PoseNet priors are asked for too; one the map confirms
    # corrects the filter (gated like a map fix). Tracking goes on meanwhile: the odometry has
    # not lost its way, only the map frame is uncertain.
    relocalize_above_std_m: float = 5.0
    uncertain_retry_s: float = 1.0  # ... this often (each costs a PoseNet run and a refinement)
    # Added to the pose's uncertainty the moment tracking is lost (then it grows with time): the
    # node keeps publishing the last known pose, and a lost robot (kidnapped, maybe) must not
    # report the centimetre covariance it had a frame ago.
    lost_position_std_m: float = 10.0
    lost_rotation_std_deg: float = 20.0
    max_prior_age_s: float = 2.0  # a PoseNet prior this much older than the image is stale
    max_sun_age_s: float = 2.0  # sun observations of older images than this are not used
    # At most one sun update this often. Sun-BCNN's error is not white: it changes slowly with
    # the view (on the demo drive its yaw part still correlates 0.7 over 5 s), so a filter fed
    # every observation as independent lets that slow bias pull the orientation.
    sun_min_interval_s: float = 5.0
    # At most one tilt correction from the accelerometer this often (each averages its own
    # `GravityNoise.window_s` of readings: closer ones would not be independent).
    gravity_min_interval_s: float = 1.0
    reseed_after_m: float = 1.0  # odometry restarts from map points, at the next accepted map
    # fix, once it has travelled this far on points it triangulated itself
    # Added to every map fix's covariance: successive fixes rest on the same map points, so their
    # errors are correlated and the filter must not average them down below the map's own error.
    map_fix_floor_m: float = 0.05
    map_fix_floor_deg: float = 0.2
    # Map fixes in a row, each good on its own but refused for disagreeing with the filter, after
    # which the filter is taken to have drifted (odometry off scale, over-confident) and is put
    # back on the map's latest fix. Seen: odometry at 0.8 of the true speed carried the pose 1.4 m
    # off in 4 s while every map fix (100+ inliers) was refused as 9-25 sigma from it.
    reanchor_after_disagreements: int = 3

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value < 0 or (item.name not in ZERO_ALLOWED and value == 0):
                raise VoFusionError(f"FusionConfig.{item.name} must be positive, got {value}")
        if not self.lost_kept_fraction < 1:
            raise VoFusionError("FusionConfig.lost_kept_fraction must be below 1")


@dataclass(frozen=True)
class Prior:
    T_map_cam: Transform
    covariance: NDArray[np.float64]
    stamp: float


@dataclass(frozen=True)
class SunObservation:
    sun_cam: NDArray[np.float64]  # unit, camera optical frame
    covariance: NDArray[np.float64]  # 3x3
    sun_map: NDArray[np.float64]  # unit, the ephemeris' sun in the map frame
    elevation_deg: float
    stamp: float


@dataclass(frozen=True)
class FrameCounts:
    odometry_inliers: int = 0
    map_inliers: int = 0
    map_fix: bool = False
    sun_used: bool = False
    gravity_used: bool = False


@dataclass(frozen=True)
class FusionOutput:
    """What one image did. `T_map_cam`/`covariance` are None before the first fix."""

    state: TrackingState
    reason: str
    stamp: float
    T_map_cam: Transform | None
    covariance: NDArray[np.float64] | None
    T_odom_cam: Transform | None
    odom_covariance: NDArray[np.float64] | None = None  # of T_odom_cam: odometry's own drift
    odometry_inliers: int = 0
    map_inliers: int = 0
    map_fix: bool = False
    sun_used: bool = False
    gravity_used: bool = False  # the accelerometer's up corrected the tilt
    request_relocalization: bool = False
    reset: bool = False
    frame_ms: float = 0.0


class FusionCore:
    """Feed it priors, sun observations and images in time order; it answers every image."""

    def __init__(
        self,
        feature_map: FeatureMap,
        config: FusionConfig | None = None,
        odometry: OdometryConfig | None = None,
        refine: RefineConfig | None = None,
        pose_filter: FilterConfig | None = None,
        relocalize: RefineConfig | None = None,
        odometry_noise: OdometryNoise | None = None,
        gyro_noise: GyroNoise | None = None,
        gravity_noise: GravityNoise | None = None,
    ):
        """refine: the map fixes while tracking; relocalize: confirming a prior when lost;
        odometry_noise, gyro_noise, gravity_noise: how far the robot's own odometry
        (`on_odometry`), gyro (`on_gyro`) and accelerometer (`on_accel`) are trusted."""
        self.map = feature_map
        self.config = config or FusionConfig()
        self.refine_config = refine or TRACKING_REFINE
        self.relocalize_config = relocalize or RELOCALIZE_REFINE
        self._fix_floor = np.diag(
            [self.config.map_fix_floor_m**2] * 3
            + [np.radians(self.config.map_fix_floor_deg) ** 2] * 3
        )
        self.lost_rule = LostRule(self.config.lost_after_failures, self.config.lost_kept_fraction)
        self.odometry = VisualOdometry(odometry)
        self.robot_odometry = RobotOdometry(odometry_noise)
        self.robot_gyro = RobotGyro(gyro_noise)
        self.robot_gravity = RobotGravity(gravity_noise)
        self.odometry_stamp: float | None = None  # the image the visual odometry last measured
        self.filter = PoseFilter(pose_filter or FilterConfig())
        self.state = TrackingState.UNINITIALIZED
        self.prior: Prior | None = None
        self.sun: SunObservation | None = None  # one that arrived before its image
        # T_odom_cam of recent images by stamp: a sun observation (computed from an image while
        # later ones were tracked) is carried into the current camera by the odometry rotation.
        self.recent_odom: dict[float, Transform] = {}
        self.sun_counts: Counter[str] = Counter()
        self.T_odom_cam: Transform | None = None
        self.odom_covariance = np.zeros((6, 6))
        self.failures = 0
        self.disagreements = 0  # map fixes refused in a row for disagreeing with the filter
        self.reanchored = 0
        self.last_stamp = -np.inf
        self.last_map_fix = -np.inf
        self.last_request = -np.inf
        self.last_sun_update = self.last_gravity_update = -np.inf

    # --- inputs -------------------------------------------------------------------------------
    def on_prior(self, T_map_cam: Transform, covariance: ArrayLike, stamp: float) -> None:
        """A PoseNet pose of the camera; raises VoFusionError for an unusable covariance."""
        checked = _checked_covariance(covariance, 6, "prior covariance")
        if np.linalg.eigvalsh(checked).min() <= 0:
            raise VoFusionError("the prior covariance is not positive definite")
        self.prior = Prior(T_map_cam, checked, stamp)

    def on_odometry(self, T_odom_base: Transform, covariance: ArrayLike, stamp: float) -> None:
        """The robot's own odometry (nav_msgs/Odometry's pose, 6x6 covariance): the motion prior
        of the visual odometry for images given their camera mount (`on_image`'s T_base_cam).
        Raises VoFusionError for a message it refuses (see `robot_odometry`)."""
        self.robot_odometry.add(T_odom_base, covariance, stamp)

    def on_gyro(self, angular_velocity: ArrayLike, covariance: ArrayLike, stamp: float) -> None:
        """The robot's gyro (sensor_msgs/Imu's angular velocity in the base frame, rad/s, and
        its 3x3 covariance): the rotation prior of the visual odometry for images given their
        camera mount. Raises VoFusionError for a message it refuses (see `robot_gyro`)."""
        self.robot_gyro.add(angular_velocity, covariance, stamp)

    def on_accel(self, linear_acceleration: ArrayLike, covariance: ArrayLike, stamp: float) -> None:
        """The robot's accelerometer (sensor_msgs/Imu's linear acceleration in the base frame,
        m/s², and its 3x3 covariance): where it says up is while the robot is quasi-static, the
        filter's tilt is corrected (images given their camera mount). Raises VoFusionError for
        a message it refuses (see `robot_gravity`)."""
        self.robot_gravity.add(linear_acceleration, covariance, stamp)

    def on_sun(
        self,
        sun_cam: ArrayLike,
        covariance: ArrayLike,
        sun_map: ArrayLike,
        elevation_deg: float,
        stamp: float,
    ) -> bool:
        """A valid Sun-BCNN observation of the image at `stamp` and the ephemeris' sun for that
        time. Used at once when that image has been tracked, else kept for it. True if it
        corrected the pose."""
        observation = SunObservation(
            np.asarray(sun_cam, np.float64).reshape(3),
            _checked_covariance(covariance, 3, "sun covariance"),
            np.asarray(sun_map, np.float64).reshape(3),
            float(elevation_deg),
            stamp,
        )
        if stamp > self.last_stamp + 1e-6:
            self.sun = observation
            return False
        return self._sun_update(observation)

    def reset(self) -> None:
        """Forget everything (a bag looped, time went backwards)."""
        self.state = TrackingState.UNINITIALIZED
        self.prior = self.sun = None
        self.recent_odom.clear()
        self.T_odom_cam = None
        self.odom_covariance = np.zeros((6, 6))
        self.odometry.clear()
        self.robot_odometry.clear()
        self.robot_gyro.clear()
        self.odometry_stamp = None
        self.filter = PoseFilter(self.filter.config)
        self.failures = self.disagreements = 0
        self.robot_gravity.clear()
        self.last_stamp = self.last_map_fix = self.last_request = -np.inf
        self.last_sun_update = self.last_gravity_update = -np.inf

    # --- one image ----------------------------------------------------------------------------
    def on_image(
        self,
        image_rgb: NDArray[np.uint8],
        camera: PinholeCamera,
        stamp: float,
        T_base_cam: Transform | None = None,
    ) -> FusionOutput:
        """One image. `T_base_cam`, the camera's mount: with it, the robot's odometry and gyro
        between the last tracked image and this one are the visual odometry's motion prior."""
        started = time.perf_counter()
        was_reset = stamp < self.last_stamp - 1e-6
        if was_reset:
            logger.info(
                "time went backwards (%.3f s < %.3f s): fusion reset", stamp, self.last_stamp
            )
            self.reset()
        self.last_stamp = stamp
        if self.state is TrackingState.TRACKING:
            reason, counts = self._track(image_rgb, camera, stamp, T_base_cam)
        else:
            reason, counts = self._relocalize(image_rgb, camera, stamp)
        request = self._wants_relocalization(stamp)
        return FusionOutput(
            state=self.state,
            reason=("time went backwards: reset; " if was_reset else "") + reason,
            stamp=stamp,
            T_map_cam=self.filter.pose if self.filter.initialized else None,
            covariance=self.filter.covariance if self.filter.initialized else None,
            T_odom_cam=self.T_odom_cam,
            odom_covariance=self.odom_covariance if self.T_odom_cam is not None else None,
            request_relocalization=request,
            reset=was_reset,
            frame_ms=(time.perf_counter() - started) * 1e3,
            odometry_inliers=counts.odometry_inliers,
            map_inliers=counts.map_inliers,
            map_fix=counts.map_fix,
            sun_used=counts.sun_used,
            gravity_used=counts.gravity_used,
        )

    def _relocalize(
        self, image: NDArray[np.uint8], camera: PinholeCamera, stamp: float
    ) -> tuple[str, FrameCounts]:
        if self.state is TrackingState.UNINITIALIZED:
            self.state = TrackingState.RELOCALIZING
        if self.state is TrackingState.LOST:
            self._coast(stamp)
        result = self._refined_prior(image, camera, stamp)
        if result is None:
            return "waiting for a PoseNet prior", FrameCounts()
        if not result.accepted or result.T_wc is None or result.covariance is None:
            why = f"prior not confirmed by the map: {result.reason}"
            return why, FrameCounts(map_inliers=result.inliers)
        self.filter.reset(result.T_wc, result.covariance + self._fix_floor, stamp)
        self.odometry.reset(OdometrySeed.from_refinement(result, result.T_wc), camera, image)
        self.odometry_stamp = stamp
        if self.T_odom_cam is None:
            self.T_odom_cam = result.T_wc  # odom starts where the map first puts the robot
        self._remember_odom(stamp, self.T_odom_cam)
        self.state = TrackingState.TRACKING
        self.failures = self.disagreements = 0
        self.last_map_fix = stamp
        return "relocalized: prior confirmed by the map", FrameCounts(
            map_inliers=result.inliers, map_fix=True
        )

    def _track(
        self,
        image: NDArray[np.uint8],
        camera: PinholeCamera,
        stamp: float,
        T_base_cam: Transform | None,
    ) -> tuple[str, FrameCounts]:
        robot_motion = gyro = None
        if T_base_cam is not None and self.odometry_stamp is not None:
            if self.robot_odometry.samples:
                robot_motion = self.robot_odometry.motion(self.odometry_stamp, stamp, T_base_cam)
            if self.robot_gyro.rates:
                gyro = self._gyro_prior(self.odometry_stamp, stamp, T_base_cam)
        step = self.odometry.track(camera, image, robot_motion, gyro)
        if step.ok:
            self.odometry_stamp = stamp
            self._predict(step, stamp)
        else:
            self._coast(stamp)
        fix = self._prior_fix(image, camera, stamp, step)
        if fix is None or not fix.accepted:
            fix = self._map_fix(image, camera, stamp, step) or fix
        if self.T_odom_cam is not None:
            self._remember_odom(stamp, self.T_odom_cam)
        sun_used = self._use_pending_sun()
        gravity_used = self._gravity_update(stamp, T_base_cam)
        fixed = fix is not None and fix.accepted
        self.failures = 0 if (step.ok or fixed) else self.failures + 1
        lost = self.lost_rule.why_lost(self.failures, step.kept_fraction, self.filter.diverged)
        if lost:
            self._lose(lost)
        counts = FrameCounts(
            odometry_inliers=step.inliers,
            map_inliers=fix.inliers if fix is not None else 0,
            map_fix=fixed,
            sun_used=sun_used,
            gravity_used=gravity_used,
        )
        return _tracked_reason(lost, step, fix), counts

    def _gravity_update(self, stamp: float, T_base_cam: Transform | None) -> bool:
        """Correct the tilt with the accelerometer's up of the window ending at this image, at
        most every `gravity_min_interval_s`. True if it did."""
        if T_base_cam is None or not self.robot_gravity.readings or not self.filter.initialized:
            return False
        if stamp - self.last_gravity_update < self.config.gravity_min_interval_s:
            return False
        turn_deg = None
        if self.robot_gyro.rates:
            window = self.robot_gravity.noise.window_s
            turn = self.robot_gyro.rotation(stamp - window, stamp)
            turn_deg = None if turn is None else float(np.degrees(turn.rotation.magnitude()))
        observation = self.robot_gravity.up(stamp, turn_deg)
        if observation is None:
            return False
        R_base_cam = T_base_cam.rotation.as_matrix()
        result = self.filter.update_gravity(
            R_base_cam.T @ observation.up,
            R_base_cam.T @ observation.covariance @ R_base_cam,
            stamp,
        )
        self.robot_gravity.counts["tilt_corrected" if result.accepted else "refused"] += 1
        if result.accepted:
            self.last_gravity_update = stamp
        else:
            logger.debug("up vector not used: %s", result.reason)
        return bool(result.accepted)

    def _gyro_prior(self, start: float, end: float, T_base_cam: Transform) -> GyroPrior | None:
        """The gyro's base rotation over the interval, turned into the camera's axes."""
        turn = self.robot_gyro.rotation(start, end)
        if turn is None:
            return None
        R_mount = T_base_cam.rotation
        R = R_mount.as_matrix()
        return GyroPrior(R_mount.inv() * turn.rotation * R_mount, R.T @ turn.covariance @ R)

    def _predict(self, step: OdometryStep, stamp: float) -> None:
        assert step.delta is not None and step.delta_covariance is not None
        self.filter.predict(step.delta, step.delta_covariance, stamp)
        if self.T_odom_cam is not None:
            F, G = compose_jacobians(self.T_odom_cam.rotation, step.delta.translation)
            self.odom_covariance = F @ self.odom_covariance @ F.T + G @ step.delta_covariance @ G.T
            self.T_odom_cam = self.T_odom_cam @ step.delta

    def _coast(self, stamp: float) -> None:
        if self.filter.initialized:
            with contextlib.suppress(TimeWentBackwards):  # on_image resets on the next frame
                self.filter.coast(stamp)

    def _prior_fix(
        self,
        image: NDArray[np.uint8],
        camera: PinholeCamera,
        stamp: float,
        step: OdometryStep,
    ) -> RefinementResult | None:
        """The map refinement from a PoseNet prior the uncertain filter asked for (None when
        none is pending), taken as a map fix is."""
        if not self.uncertain:
            self.prior = None  # nobody asked for it
            return None
        result = self._refined_prior(image, camera, stamp)
        return None if result is None else self._fixed(result, image, camera, stamp, step)

    def _refined_prior(
        self, image: NDArray[np.uint8], camera: PinholeCamera, stamp: float
    ) -> RefinementResult | None:
        """The pending PoseNet prior refined against the map (None when there is no fresh one);
        each prior is tried once."""
        prior = self.prior
        if prior is None or stamp - prior.stamp > self.config.max_prior_age_s:
            return None
        self.prior = None
        return refine_pose(
            image, camera, prior.T_map_cam, prior.covariance, self.map, self.relocalize_config
        )

    def _map_fix(
        self,
        image: NDArray[np.uint8],
        camera: PinholeCamera,
        stamp: float,
        step: OdometryStep,
    ) -> RefinementResult | None:
        if stamp - self.last_map_fix < self.config.map_fix_period_s:
            return None
        result = refine_pose(
            image,
            camera,
            self.filter.pose,
            self.filter.covariance,
            self.map,
            self.refine_config,
        )
        return self._fixed(result, image, camera, stamp, step)

    def _fixed(
        self,
        result: RefinementResult,
        image: NDArray[np.uint8],
        camera: PinholeCamera,
        stamp: float,
        step: OdometryStep,
    ) -> RefinementResult:
        """A map refinement of this image taken as a fix of the filter (gated; enough good ones
        refused in a row re-anchor it), the odometry reseeded when due."""
        if result.T_wc is None or result.covariance is None:
            return result
        if result.only_disagrees:
            return self._disagreed(result, image, camera, stamp)
        if not result.accepted:
            return result
        update = self.filter.update_pose(result.T_wc, result.covariance + self._fix_floor, stamp)
        if not update.accepted:
            refused = replace(result, accepted=False, reason=f"gated: {update.reason}")
            return self._disagreed(refused, image, camera, stamp)
        self.disagreements = 0
        self.last_map_fix = stamp
        if not step.ok or step.metres_since_seed >= self.config.reseed_after_m:
            # the drive goes on: the motion model carries over (far points fit two poses, and
            # only the motion model tells the first step after the seed which)
            motion = self.odometry.last_delta if step.ok else None
            self.odometry.reset(
                OdometrySeed.from_refinement(result, self.filter.pose), camera, image, motion
            )
            self.odometry_stamp = stamp
        return result

    def _disagreed(
        self,
        result: RefinementResult,
        image: NDArray[np.uint8],
        camera: PinholeCamera,
        stamp: float,
    ) -> RefinementResult:
        """A good map fix the filter refused; enough of them in a row put the filter back on the
        map (its state is what drifted), as a relocalization from the fix would."""
        self.disagreements += 1
        if self.disagreements < self.config.reanchor_after_disagreements:
            return result
        assert result.T_wc is not None and result.covariance is not None
        self.filter.reset(result.T_wc, result.covariance + self._fix_floor, stamp)
        self.odometry.reset(OdometrySeed.from_refinement(result, result.T_wc), camera, image)
        self.odometry_stamp = stamp
        self.disagreements = 0
        self.reanchored += 1
        self.last_map_fix = stamp
        reason = f"{REANCHORED} ({result.reason})"
        logger.info(
            "map fixes disagreed with the filter %s times in a row: %s",
            self.config.reanchor_after_disagreements,
            reason,
        )
        return replace(result, accepted=True, reason=reason)

    def _remember_odom(self, stamp: float, T_odom_cam: Transform) -> None:
        self.recent_odom[stamp] = T_odom_cam
        for old in [t for t in self.recent_odom if t < stamp - self.config.max_sun_age_s]:
            del self.recent_odom[old]

    def _use_pending_sun(self) -> bool:
        """Correct the pose with the sun observation that arrived before this image, if any."""
        pending, self.sun = self.sun, None
        return pending is not None and self._sun_update(pending)

    def _sun_update(self, sun: SunObservation) -> bool:
        """Correct the current pose with a sun observation of the image at sun.stamp."""
        if self.state is not TrackingState.TRACKING or self.T_odom_cam is None:
            self.sun_counts["not_tracking"] += 1
            return False
        if sun.stamp - self.last_sun_update < self.config.sun_min_interval_s:
            self.sun_counts["too_soon"] += 1
            return False
        then = self.recent_odom.get(sun.stamp)
        if then is None:
            self.sun_counts["image_not_tracked"] += 1
            return False
        R_now_then = (self.T_odom_cam.rotation.inv() * then.rotation).as_matrix()
        result = self.filter.update_sun(
            R_now_then @ sun.sun_cam,
            R_now_then @ sun.covariance @ R_now_then.T,
            sun.sun_map,
            sun.elevation_deg,
            self.last_stamp,
        )
        self.sun_counts["used" if result.accepted else "rejected"] += 1
        if result.accepted:
            self.last_sun_update = sun.stamp
        if not result.accepted:
            logger.debug("sun observation not used: %s", result.reason)
        return bool(result.accepted)

    def _lose(self, why: str) -> None:
        logger.info("tracking lost: %s", why)
        self.state = TrackingState.LOST
        if self.filter.initialized and not self.filter.diverged:
            self.filter.inflate(self.config.lost_position_std_m, self.config.lost_rotation_std_deg)
        self.odometry.clear()
        self.odometry_stamp = None
        self.recent_odom.clear()
        self.failures = 0
        self.last_request = -np.inf

    def _wants_relocalization(self, stamp: float) -> bool:
        if self.state in (TrackingState.RELOCALIZING, TrackingState.LOST):
            retry = self.config.relocalize_retry_s
        elif self.uncertain:
            retry = self.config.uncertain_retry_s
        else:
            return False
        if stamp - self.last_request < retry:
            return False
        self.last_request = stamp
        return True

    @property
    def uncertain(self) -> bool:
        """Tracking, but the position is too uncertain for the map frame: PoseNet is asked."""
        return (
            self.state is TrackingState.TRACKING
            and self.filter.initialized
            and self.filter.position_std_m > self.config.relocalize_above_std_m
        )


def _checked_covariance(covariance: ArrayLike, dim: int, name: str) -> NDArray[np.float64]:
    try:
        return np.asarray(validate_covariance(covariance, dim, name), dtype=np.float64)
    except GeometryError as error:
        raise VoFusionError(str(error)) from None


def _tracked_reason(lost: str, step: OdometryStep, fix: RefinementResult | None) -> str:
    """What a tracked image did, worst first ('tracking' when all went well)."""
    reasons = [f"lost: {lost}"] if lost else []
    if not step.ok:
        reasons.append(f"odometry: {step.reason}")
    if fix is not None and (not fix.accepted or fix.reason.startswith(REANCHORED)):
        reasons.append(f"map: {fix.reason}")
    return "; ".join(reasons) or "tracking"
