"""The robot's own odometry (nav_msgs/Odometry: wheels, VIO) as the visual odometry's motion prior.

Monocular visual odometry measures no distance: off the map its scale is whatever the last points
carried, and a turn on the spot, which triangulates nothing, can shrink it (measured: from one map
fix, the step length fell from 0.12 m to below 0.01 m over 900 m of the demo city's streets).
Wheel odometry measures the distance to a few per cent and the heading well over a short span,
but drifts over long ones. Fused per frame, vision gives the rotation and the direction, the
wheels the length: `VisualOdometry.track` fits the increment to every followed corner around the
robot's motion between the two images (`increment`).

The motion between two image stamps comes from the odometry poses T_odom_base interpolated at
both (never extrapolated), as a base increment turned into the camera's axes through the mount.
Its noise is this module's model, not the message's pose covariance (wheel drivers often publish
constants or zeros there): the length to `distance_fraction` of it, the turn to `turn_fraction`
of it plus `heading_deg_per_m` per metre driven. The message's covariance only says which axes
are not measured (a variance of 1e3 or more: planar odometry's z, roll and pitch), and those are
left to the image.

Bad input is refused with a reason, never folded in: a non-finite pose or covariance, a stamp not
after the last one (a restarted odometry: the buffer starts again), and a jump (faster than
`max_speed_mps`, 40 m/s, or `max_turn_deg_s`, 360°/s, between two messages: the buffer starts
again at the jump, so no image interval spans it). `counts` keeps the tally for the node's diagnostics.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pose_reloc.geometry import Transform, interpolate, skew
from vo_fusion.errors import VoFusionError
from vo_fusion.odometry import RobotMotion

UNMEASURED_VARIANCE = 1e3  # a stated variance this large: the odometry does not measure the axis
UNMEASURED_STD = 1e3  # what such an axis gets in the increment's covariance


@dataclass(frozen=True)
class OdometryNoise:
    """How far the robot's odometry is trusted over one image interval (see the module docstring)."""

    distance_fraction: float = 0.02  # std of the length travelled, a fraction of it
    distance_floor_m: float = 0.002
    turn_fraction: float = 0.05  # std of the turn, a fraction of it
    heading_deg_per_m: float = 0.5  # ... plus this per metre driven
    turn_floor_deg: float = 0.05
    max_speed_mps: float = 40.0  # faster between two messages: a jump (a car at 144 km/h)
    max_turn_deg_s: float = 360.0
    keep_s: float = 10.0  # messages kept this long

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not (np.isfinite(value) and value > 0):
                raise VoFusionError(f"OdometryNoise.{item.name} must be positive, got {value}")


@dataclass(frozen=True)
class _Sample:
    stamp: float
    T_odom_base: Transform
    unmeasured: NDArray[np.bool_]  # (6,), ROS order


class RobotOdometry:
    """The last seconds of the robot's odometry, and the motion between two stamps."""

    def __init__(self, noise: OdometryNoise | None = None):
        self.noise = noise or OdometryNoise()
        self.samples: deque[_Sample] = deque()
        self.counts: Counter[str] = Counter()

    def clear(self) -> None:
        self.samples.clear()

    def add(self, T_odom_base: Transform, covariance: ArrayLike, stamp: float) -> None:
        """One odometry message; raises VoFusionError (nothing kept) when it cannot be used."""
        matrix = np.asarray(covariance, np.float64)
        if matrix.size != 36:
            self.counts["bad"] += 1
            raise VoFusionError(f"odometry covariance has {matrix.size} entries, not 36")
        pose_values = np.concatenate([T_odom_base.translation, T_odom_base.quat_xyzw])
        if not (np.all(np.isfinite(pose_values)) and np.all(np.isfinite(matrix))):
            self.counts["bad"] += 1
            raise VoFusionError("odometry pose or covariance is not finite (NaN or inf)")
        if not np.isfinite(stamp):
            self.counts["bad"] += 1
            raise VoFusionError(f"odometry stamp {stamp} is not finite")
        sample = _Sample(
            float(stamp), T_odom_base, np.diag(matrix.reshape(6, 6)) >= UNMEASURED_VARIANCE
        )
        if self.samples and stamp <= self.samples[-1].stamp:
            last = self.samples[-1].stamp
            self.counts["back_in_time"] += 1
            self.samples = deque([sample])
            raise VoFusionError(
                f"odometry stamp {stamp:.3f} s is not after the last one ({last:.3f} s): "
                "odometry restarts from this message"
            )
        jump = self._jump(sample)
        self.samples.append(sample)
        while self.samples[0].stamp < stamp - self.noise.keep_s:
            self.samples.popleft()
        if jump:
            self.counts["jumps"] += 1
            self.samples = deque([sample])
            raise VoFusionError(f"odometry jumped ({jump}): no image interval spans the jump")

    def _jump(self, sample: _Sample) -> str:
        if not self.samples:
            return ""
        last = self.samples[-1]
        dt = sample.stamp - last.stamp
        step = last.T_odom_base.inverse() @ sample.T_odom_base
        speed = float(np.linalg.norm(step.translation)) / dt
        turn = float(np.degrees(step.rotation.magnitude())) / dt
        if speed > self.noise.max_speed_mps or turn > self.noise.max_turn_deg_s:
            return f"{speed:.1f} m/s, {turn:.0f} deg/s since the last message"
        return ""

    def pose_at(self, stamp: float) -> _Sample | None:
        """The odometry pose at `stamp`, interpolated between the two messages around it."""
        stamps = [s.stamp for s in self.samples]
        k = bisect.bisect_left(stamps, stamp)
        if k < len(stamps) and abs(stamps[k] - stamp) < 1e-9:
            return self.samples[k]
        if k == 0 or k == len(stamps):
            return None
        a, b = self.samples[k - 1], self.samples[k]
        fraction = (stamp - a.stamp) / (b.stamp - a.stamp)
        pose = interpolate(a.T_odom_base, b.T_odom_base, fraction)
        return _Sample(stamp, pose, a.unmeasured | b.unmeasured)

    def motion(self, start: float, end: float, T_base_cam: Transform) -> RobotMotion | None:
        """The camera's motion from `start` to `end` by the robot's odometry, or None (counted)
        where the messages do not cover both stamps."""
        then, now = self.pose_at(start), self.pose_at(end)
        if then is None or now is None:
            self.counts["not_covered"] += 1
            return None
        self.counts["used"] += 1
        base_step = then.T_odom_base.inverse() @ now.T_odom_base
        covariance = self._base_covariance(base_step, then.unmeasured | now.unmeasured)
        return camera_motion(base_step, covariance, T_base_cam)

    def _base_covariance(
        self, step: Transform, unmeasured: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        noise = self.noise
        length = float(np.linalg.norm(step.translation))
        turn = float(step.rotation.magnitude())
        distance_std = noise.distance_fraction * length + noise.distance_floor_m
        turn_std = (
            noise.turn_fraction * turn
            + np.radians(noise.heading_deg_per_m) * length
            + np.radians(noise.turn_floor_deg)
        )
        std = np.array([distance_std] * 3 + [turn_std] * 3)
        std[unmeasured] = UNMEASURED_STD
        return np.diag(std**2)


def camera_motion(
    base_step: Transform, base_covariance: NDArray[np.float64], T_base_cam: Transform
) -> RobotMotion:
    """A base increment (covariance in the filter's convention, previous base axes) as the
    camera's: T_cam_prev_cur = T_base_cam⁻¹ Δ T_base_cam. With the mount (R_m, t_m), a
    perturbation (δt, δφ) of Δ moves the camera increment by (R_mᵀ (δt − [R_Δ t_m]× δφ), R_mᵀ δφ):
    a pitch of the robot moves a camera mounted high forward, and the covariance keeps that."""
    R_m = T_base_cam.rotation.as_matrix()
    J = np.zeros((6, 6))
    J[:3, :3] = R_m.T
    J[:3, 3:] = -R_m.T @ skew(base_step.rotation.apply(T_base_cam.translation))
    J[3:, 3:] = R_m.T
    delta = T_base_cam.inverse() @ base_step @ T_base_cam
    covariance = J @ base_covariance @ J.T
    return RobotMotion(delta, np.asarray(0.5 * (covariance + covariance.T), dtype=np.float64))
