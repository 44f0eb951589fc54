"""The robot's accelerometer (sensor_msgs/Imu linear acceleration) as a tilt measurement: where
"up" is in the base frame.

Why. Odometry from one fix drifts mostly in tilt: on a 1 km synthetic drive (seed 33, with the
gyro) 3.2 of the 3.6 degrees of rotation error after 180 m were roll and pitch, 0.1 yaw, and a
camera tilted by 3 degrees carries the position 9 m up or down over those 180 m. The sun cannot
see rotation about itself; gravity cannot see yaw: together they see all three axes.

An accelerometer measures the specific force f = R_base_map (a - g): where the base does not
accelerate, gravity's opposite, "up" in the base frame. The readings of the last `window_s` are
averaged (vibration and noise), and the window is used only when it was quasi-static: the gyro
turned less than `max_turn_rate_deg_s` in it (a turn's centripetal acceleration tilts f by
v·ω/g: 3.6 degrees at 1.2 m/s and 30 deg/s) and |f| is within `max_norm_error_mps2` of g
(braking hard, bumps, a robot being lifted). What neither check sees, a steady horizontal
acceleration (speeding up at 0.2 m/s² tilts f by 1.2 degrees), is the observation's noise floor
`horizontal_accel_std_mps2`, beside the readings' own noise averaged over the window.

Bad input is refused as the gyro's is (`imu_readings`), and an acceleration above
`max_accel_mps2` (a saturated or broken reading) too; `counts` keeps the tally.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vo_fusion.errors import VoFusionError
from vo_fusion.imu_readings import ImuBuffer, ImuReading

GRAVITY_MPS2 = 9.80665
UP_MAP = np.array([0.0, 0.0, 1.0])  # the map frame's z is up


@dataclass(frozen=True)
class GravityNoise:
    """When the accelerometer says where up is, and how well (see the module docstring)."""

    window_s: float = 1.0
    min_readings: int = 5  # in the window
    max_turn_rate_deg_s: float = 3.0
    max_norm_error_mps2: float = 0.3
    horizontal_accel_std_mps2: float = 0.2
    default_accel_std_mps2: float = 0.1  # where the message states no covariance
    max_accel_mps2: float = 100.0
    max_gap_s: float = 0.2
    keep_s: float = 5.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not (np.isfinite(value) and value > 0):
                raise VoFusionError(f"GravityNoise.{item.name} must be positive, got {value}")
        if self.keep_s < self.window_s:
            raise VoFusionError("GravityNoise.keep_s must be at least window_s")


@dataclass(frozen=True)
class UpObservation:
    """Up in the base frame (unit) and its 3x3 covariance (rad², small angles about it)."""

    up: NDArray[np.float64]
    covariance: NDArray[np.float64]


class RobotGravity:
    """The last seconds of the accelerometer, and up in the base frame where they allow."""

    def __init__(self, noise: GravityNoise | None = None):
        self.noise = noise or GravityNoise()
        self.buffer = ImuBuffer(
            "accelerometer",
            "linear acceleration",
            self.noise.default_accel_std_mps2,
            self.noise.max_gap_s,
            self.noise.keep_s,
        )
        self.counts = self.buffer.counts

    @property
    def readings(self) -> deque[ImuReading]:
        return self.buffer.readings

    def clear(self) -> None:
        self.buffer.clear()

    def add(self, linear_acceleration: ArrayLike, covariance: ArrayLike, stamp: float) -> None:
        """One message's linear acceleration (specific force, m/s², base frame) and its 3x3
        covariance (row-major, 9 values); raises VoFusionError (nothing kept) when it cannot
        be used."""
        reading = self.buffer.checked(linear_acceleration, covariance, stamp)
        magnitude = float(np.linalg.norm(reading.value))
        if magnitude > self.noise.max_accel_mps2:
            self.counts["too_large"] += 1
            raise VoFusionError(
                f"accelerometer reads {magnitude:.0f} m/s², above "
                f"{self.noise.max_accel_mps2:.0f}: saturated or broken"
            )
        self.buffer.append(reading)

    def up(self, end: float, turn_deg: float | None) -> UpObservation | None:
        """Up in the base frame from the window ending at `end`, or None (counted: why) where
        the readings do not cover it or it was not quasi-static. `turn_deg`: the gyro's turn
        over the window (None: no gyro to tell)."""
        noise = self.noise
        start = end - noise.window_s
        if not self.buffer.covers(start, end):
            return None
        inside = [r for r in self.readings if start < r.stamp <= end]
        if len(inside) < noise.min_readings:
            self.counts["too_few"] += 1
            return None
        if turn_deg is not None and turn_deg > noise.max_turn_rate_deg_s * noise.window_s:
            self.counts["turning"] += 1
            return None
        force = np.mean([r.value for r in inside], axis=0)
        magnitude = float(np.linalg.norm(force))
        if abs(magnitude - GRAVITY_MPS2) > noise.max_norm_error_mps2:
            self.counts["accelerating"] += 1
            return None
        averaged = float(np.mean([r.variance for r in inside])) / len(inside)
        variance = (averaged + noise.horizontal_accel_std_mps2**2) / GRAVITY_MPS2**2
        self.counts["used"] += 1
        return UpObservation(force / magnitude, np.eye(3) * variance)
