"""What the gyro and the accelerometer share: one sensor_msgs/Imu vector with its 3x3 covariance,
checked, and the last seconds of them in stamp order, restarted where time went back or the
messages stopped for too long (an IMU at the wrong rate, or one that stalled)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from vo_fusion.errors import VoFusionError


@dataclass(frozen=True)
class ImuReading:
    stamp: float
    value: NDArray[np.float64]  # (3,) in the base frame; a rate: the mean since the one before
    variance: float  # per axis


def in_base_frame(
    vector: ArrayLike, covariance: ArrayLike, R_base_imu: Rotation
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A reading given in the IMU's frame, mounted at R_base_imu, in the base frame: the vector
    (3,) and its covariance (9,); a covariance that says "no such data" (-1 first) or is not
    finite is kept as it is, for the buffer to refuse."""
    R = R_base_imu.as_matrix()
    turned = R @ np.asarray(vector, np.float64).reshape(3)
    matrix = np.asarray(covariance, np.float64).reshape(3, 3)
    if matrix[0, 0] >= 0:
        matrix = R @ matrix @ R.T
    return turned, matrix.reshape(9)


class ImuBuffer:
    """One IMU vector's readings (the gyro's or the accelerometer's) over the last `keep_s`."""

    def __init__(
        self, sensor: str, quantity: str, default_std: float, max_gap_s: float, keep_s: float
    ):
        self.sensor, self.quantity = sensor, quantity  # for messages: "gyro", "angular velocity"
        self.default_variance = default_std**2
        self.max_gap_s, self.keep_s = max_gap_s, keep_s
        self.readings: deque[ImuReading] = deque()
        self.counts: Counter[str] = Counter()

    def clear(self) -> None:
        self.readings.clear()

    def checked(self, vector: ArrayLike, covariance: ArrayLike, stamp: float) -> ImuReading:
        """The reading, or VoFusionError (counted as `bad`) when it cannot be used."""
        value = np.asarray(vector, np.float64).reshape(-1)
        matrix = np.asarray(covariance, np.float64).reshape(-1)
        if value.size != 3 or matrix.size != 9:
            self.counts["bad"] += 1
            raise VoFusionError(
                f"{self.sensor} message has {value.size} values and {matrix.size} covariance "
                "entries, not 3 and 9"
            )
        if not (np.all(np.isfinite(value)) and np.all(np.isfinite(matrix)) and np.isfinite(stamp)):
            self.counts["bad"] += 1
            raise VoFusionError(
                f"{self.sensor} {self.quantity}, covariance or stamp is not finite (NaN or inf)"
            )
        if matrix[0] < 0:  # sensor_msgs/Imu: -1 in the first element, no such data
            self.counts["bad"] += 1
            raise VoFusionError(
                f"{self.sensor} message says it has no {self.quantity} (covariance[0] -1)"
            )
        diagonal = matrix[[0, 4, 8]]
        stated = bool(np.all(diagonal > 0))
        variance = float(diagonal.mean()) if stated else self.default_variance
        return ImuReading(float(stamp), value, variance)

    def append(self, reading: ImuReading) -> None:
        """Keep a checked reading; VoFusionError when it restarted the buffer (back in time, or
        after a gap: nothing spans the gap)."""
        if self.readings and reading.stamp <= self.readings[-1].stamp:
            last = self.readings[-1].stamp
            self.counts["back_in_time"] += 1
            self.readings = deque([reading])
            raise VoFusionError(
                f"{self.sensor} stamp {reading.stamp:.3f} s is not after the last one "
                f"({last:.3f} s): the {self.sensor} restarts from this message"
            )
        gap = reading.stamp - self.readings[-1].stamp if self.readings else 0.0
        if gap > self.max_gap_s:
            self.counts["gaps"] += 1
            self.readings = deque([reading])
            raise VoFusionError(
                f"{self.sensor} message {gap:.3f} s after the last one (more than "
                f"{self.max_gap_s} s: wrong rate or a stall): not used across"
            )
        self.readings.append(reading)
        while self.readings[0].stamp < reading.stamp - self.keep_s:
            self.readings.popleft()

    def covers(self, start: float, end: float) -> bool:
        """The readings span [start, end] (counted `not_covered` where they do not)."""
        covered = bool(
            self.readings
            and start < end
            and self.readings[0].stamp <= start
            and end <= self.readings[-1].stamp
        )
        if not covered:
            self.counts["not_covered"] += 1
        return covered
