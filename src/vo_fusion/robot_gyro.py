"""The robot's gyro (sensor_msgs/Imu angular velocity) as the visual odometry's rotation prior.

In a turn at 50-80°/s the corners sweep tens of pixels per frame and the points with a depth
leave the image; the motion model (the last increment's rotation, repeated) lags at a turn's
start and overshoots at its end. A gyro measures the turn itself: integrated between two image
stamps it predicts where each corner goes and holds the increment's rotation in the fit
(`increment`), the points' depths still giving the distance.

Each message is taken as the mean rate since the message before (what a sampling IMU's filtered
output is, and how the synthetic bags record it); the rotation over [start, end] is the product of
those rates over their overlap with the interval, never extrapolated past the last message.
Its noise: the stated angular-velocity variance (or `default_rate_std_deg_s` where the message
states none: all zeros, ROS's "unknown") integrated over the interval as white noise, plus
`bias_deg_s` times the interval (a gyro's uncompensated bias, which no averaging removes).

Bad input is refused with a reason, never folded in: a non-finite rate or covariance, a frame
other than the robot's base (the node checks it), a rate above `max_rate_deg_s`, a stamp not after
the last one (the buffer starts again) and a gap longer than `max_gap_s` between two messages (an
IMU at the wrong rate or one that stalled: no interval spanning the gap is integrated). `counts`
keeps the tally for the node's diagnostics.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from vo_fusion.errors import VoFusionError


@dataclass(frozen=True)
class GyroNoise:
    """How far the gyro is trusted (see the module docstring)."""

    default_rate_std_deg_s: float = 0.5  # where the message states no covariance
    bias_deg_s: float = 0.1  # uncompensated bias, a consumer MEMS gyro's after calibration
    max_rate_deg_s: float = 1000.0  # faster: not a robot's turn (a saturated or broken reading)
    max_gap_s: float = 0.2  # longer between two messages: not integrated across
    keep_s: float = 10.0  # messages kept this long

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not (np.isfinite(value) and value > 0):
                raise VoFusionError(f"GyroNoise.{item.name} must be positive, got {value}")


@dataclass(frozen=True)
class GyroRotation:
    """The base's rotation between two stamps (R_base_then_base_now) and its 3x3 covariance
    (rad², rotation vector in the earlier base's axes)."""

    rotation: Rotation
    covariance: NDArray[np.float64]


@dataclass(frozen=True)
class _Rate:
    stamp: float
    rate: NDArray[np.float64]  # (3,) rad/s in the base frame, since the message before
    variance: float  # rad²/s² per axis


def in_base_frame(
    angular_velocity: ArrayLike, covariance: ArrayLike, R_base_imu: Rotation
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A gyro reading given in the IMU's frame, mounted at R_base_imu, in the base frame: the
    rate (3,) and its covariance (9,); a covariance that says "no angular velocity" (-1 first)
    or is not finite is kept as it is, for `RobotGyro.add` to refuse."""
    R = R_base_imu.as_matrix()
    rate = R @ np.asarray(angular_velocity, np.float64).reshape(3)
    matrix = np.asarray(covariance, np.float64).reshape(3, 3)
    if matrix[0, 0] >= 0:
        matrix = R @ matrix @ R.T
    return rate, matrix.reshape(9)


class RobotGyro:
    """The last seconds of the gyro, and the base's rotation between two stamps."""

    def __init__(self, noise: GyroNoise | None = None):
        self.noise = noise or GyroNoise()
        self.rates: deque[_Rate] = deque()
        self.counts: Counter[str] = Counter()

    def clear(self) -> None:
        self.rates.clear()

    def add(self, angular_velocity: ArrayLike, covariance: ArrayLike, stamp: float) -> None:
        """One message's angular velocity (rad/s, base frame) and its 3x3 covariance (row-major,
        9 values); raises VoFusionError (nothing kept) when it cannot be used."""
        rate = np.asarray(angular_velocity, np.float64).reshape(-1)
        matrix = np.asarray(covariance, np.float64).reshape(-1)
        if rate.size != 3 or matrix.size != 9:
            self.counts["bad"] += 1
            raise VoFusionError(
                f"gyro message has {rate.size} rates and {matrix.size} covariance entries, "
                "not 3 and 9"
            )
        if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(matrix)) and np.isfinite(stamp)):
            self.counts["bad"] += 1
            raise VoFusionError("gyro rate, covariance or stamp is not finite (NaN or inf)")
        if matrix[0] < 0:  # sensor_msgs/Imu: -1 in the first element, no angular velocity
            self.counts["bad"] += 1
            raise VoFusionError("gyro message says it has no angular velocity (covariance[0] -1)")
        speed = float(np.degrees(np.linalg.norm(rate)))
        if speed > self.noise.max_rate_deg_s:
            self.counts["too_fast"] += 1
            raise VoFusionError(
                f"gyro reads {speed:.0f} deg/s, above {self.noise.max_rate_deg_s:.0f}: "
                "not a robot's turn"
            )
        diagonal = matrix[[0, 4, 8]]
        stated = bool(np.all(diagonal > 0))
        variance = (
            float(diagonal.mean()) if stated else np.radians(self.noise.default_rate_std_deg_s) ** 2
        )
        if self.rates and stamp <= self.rates[-1].stamp:
            last = self.rates[-1].stamp
            self.counts["back_in_time"] += 1
            self.rates = deque([_Rate(float(stamp), rate, variance)])
            raise VoFusionError(
                f"gyro stamp {stamp:.3f} s is not after the last one ({last:.3f} s): "
                "the gyro restarts from this message"
            )
        gap = stamp - self.rates[-1].stamp if self.rates else 0.0
        if gap > self.noise.max_gap_s:
            self.counts["gaps"] += 1
            self.rates = deque([_Rate(float(stamp), rate, variance)])
            raise VoFusionError(
                f"gyro message {gap:.3f} s after the last one (more than "
                f"{self.noise.max_gap_s} s: wrong rate or a stall): not integrated across"
            )
        self.rates.append(_Rate(float(stamp), rate, variance))
        while self.rates[0].stamp < stamp - self.noise.keep_s:
            self.rates.popleft()

    def rotation(self, start: float, end: float) -> GyroRotation | None:
        """The base's rotation from `start` to `end`, or None (counted) where the messages do
        not cover the interval."""
        stamps = [r.stamp for r in self.rates]
        if not stamps or end <= start or start < stamps[0] or end > stamps[-1]:
            self.counts["not_covered"] += 1
            return None
        rotation = Rotation.identity()
        variance = 0.0
        k = bisect.bisect_right(stamps, start)  # the first message whose interval ends after start
        while k < len(stamps):
            covered_from, covered_to = max(stamps[k - 1], start), min(stamps[k], end)
            dt = covered_to - covered_from
            if dt > 0:
                rate = self.rates[k]
                rotation = rotation * Rotation.from_rotvec(rate.rate * dt)
                variance += rate.variance * dt**2  # one reading's noise holds over its interval
            if stamps[k] >= end:
                break
            k += 1
        self.counts["used"] += 1
        bias = np.radians(self.noise.bias_deg_s) * (end - start)
        return GyroRotation(rotation, np.eye(3) * (variance + bias**2))
