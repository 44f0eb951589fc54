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
from collections import deque
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from vo_fusion.errors import VoFusionError
from vo_fusion.imu_readings import ImuBuffer, ImuReading


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


class RobotGyro:
    """The last seconds of the gyro, and the base's rotation between two stamps."""

    def __init__(self, noise: GyroNoise | None = None):
        self.noise = noise or GyroNoise()
        self.buffer = ImuBuffer(
            "gyro",
            "angular velocity",
            np.radians(self.noise.default_rate_std_deg_s),
            self.noise.max_gap_s,
            self.noise.keep_s,
        )
        self.counts = self.buffer.counts

    @property
    def rates(self) -> deque[ImuReading]:
        return self.buffer.readings

    def clear(self) -> None:
        self.buffer.clear()

    def add(self, angular_velocity: ArrayLike, covariance: ArrayLike, stamp: float) -> None:
        """One message's angular velocity (rad/s, base frame) and its 3x3 covariance (row-major,
        9 values); raises VoFusionError (nothing kept) when it cannot be used."""
        reading = self.buffer.checked(angular_velocity, covariance, stamp)
        speed = float(np.degrees(np.linalg.norm(reading.value)))
        if speed > self.noise.max_rate_deg_s:
            self.counts["too_fast"] += 1
            raise VoFusionError(
                f"gyro reads {speed:.0f} deg/s, above {self.noise.max_rate_deg_s:.0f}: "
                "not a robot's turn"
            )
        self.buffer.append(reading)

    def rotation(self, start: float, end: float) -> GyroRotation | None:
        """The base's rotation from `start` to `end`, or None (counted) where the messages do
        not cover the interval."""
        if not self.buffer.covers(start, end):
            return None
        stamps = [r.stamp for r in self.rates]
        rotation = Rotation.identity()
        variance = 0.0
        k = bisect.bisect_right(stamps, start)  # the first message whose interval ends after start
        while k < len(stamps):
            covered_from, covered_to = max(stamps[k - 1], start), min(stamps[k], end)
            dt = covered_to - covered_from
            if dt > 0:
                rate = self.rates[k]
                rotation = rotation * Rotation.from_rotvec(rate.value * dt)
                variance += rate.variance * dt**2  # one reading's noise holds over its interval
            if stamps[k] >= end:
                break
            k += 1
        self.counts["used"] += 1
        bias = np.radians(self.noise.bias_deg_s) * (end - start)
        return GyroRotation(rotation, np.eye(3) * (variance + bias**2))
