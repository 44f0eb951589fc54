"""What a robot records besides its camera, simulated from a drive's true poses: wheel odometry
that drifts as wheel odometry does, and an IMU.

Wheel odometry dead-reckons in the `odom` frame (REP-105: it starts at the robot's first pose and
never jumps). Each step between frames, the true planar motion of base_link is measured with
  - a constant scale error (`wheel_scale_error`, e.g. a wheel radius 2 % off),
  - a heading bias per metre driven (`wheel_yaw_drift_deg_per_m`, e.g. unequal wheel radii),
  - white noise on the distance (a fraction, `wheel_noise`) and on the turn (`wheel_yaw_noise_deg`).
A kidnap (a teleport) moves no wheel: odometry carries on from where it was. The covariance of the
pose grows with the white noise only; the biases are what a mapping pipeline must not trust.

The IMU sits at base_link and is sampled at the camera rate (a simplification: robots record
100-400 Hz): angular velocity about z from the true turn between frames plus a constant gyro bias
and white noise; specific force from the acceleration of base_link's origin along the true path
(second differences over the neighbouring frames) less gravity (+9.81 m/s² on z for a level
robot), with white noise; no orientation (covariance[0] = -1,
as sensor_msgs/Imu asks when orientation is not estimated).

The GPS sits at base_link too: a fix every 1 / `gps_rate_hz` seconds, the true position turned
into latitude, longitude and altitude through the scene's location (its origin and the map's yaw
to ENU), with white noise of `gps_noise_m` on each axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.geodesy import GeoOrigin
from pose_reloc.geometry import Transform
from pose_reloc.synth.config import LocationConfig, SensorsConfig

GRAVITY_MPS2 = 9.80665
UNMEASURED_VARIANCE = 1e6  # z, roll and pitch: wheel odometry on a plane does not measure them


@dataclass(frozen=True)
class OdometrySample:
    T_odom_base: Transform
    linear_mps: float  # forward speed, base_link
    angular_radps: float  # yaw rate
    pose_covariance: NDArray[np.float64]  # 6x6, ROS order (x y z, rotation about x y z)
    twist_covariance: NDArray[np.float64]


@dataclass(frozen=True)
class GpsFix:
    stamp: float
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    variance_m2: float  # of each axis


@dataclass(frozen=True)
class ImuSample:
    angular_velocity_radps: NDArray[np.float64]  # base_link
    linear_acceleration_mps2: NDArray[np.float64]  # specific force, base_link
    angular_velocity_variance: float
    linear_acceleration_variance: float


def _planar_step(T_from: Transform, T_to: Transform) -> tuple[NDArray[np.float64], float]:
    """The motion between two base poses in the first one's frame: (dx, dy), dyaw."""
    step = T_from.inverse() @ T_to
    return step.translation[:2], float(step.rotation.as_rotvec()[2])


def wheel_odometry(
    T_map_base: Sequence[Transform],
    times_s: Sequence[float],
    moved: Sequence[bool],
    config: SensorsConfig,
    rng: np.random.Generator,
) -> list[OdometrySample]:
    """One odometry sample per frame; `moved[i]` False where the wheels did not carry the robot
    from frame i-1 to i (a kidnap)."""
    scale = 1.0 + config.wheel_scale_error
    yaw_drift = np.radians(config.wheel_yaw_drift_deg_per_m)
    yaw_noise = np.radians(config.wheel_yaw_noise_deg)
    T_odom_base = Transform.identity()
    variance = np.zeros(3)  # x, y, yaw in odom
    samples = [_odometry_sample(T_odom_base, 0.0, 0.0, variance, config, 1.0)]
    for i in range(1, len(T_map_base)):
        dt = times_s[i] - times_s[i - 1]
        if not moved[i]:  # the wheels did not turn: nothing measured, nothing added
            samples.append(_odometry_sample(T_odom_base, 0.0, 0.0, variance, config, dt))
            continue
        offset, dyaw = _planar_step(T_map_base[i - 1], T_map_base[i])
        distance = float(np.linalg.norm(offset))
        measured = distance * (scale + config.wheel_noise * rng.standard_normal())
        turn = dyaw + distance * yaw_drift + yaw_noise * rng.standard_normal()
        direction = offset / distance if distance > 1e-9 else np.array([1.0, 0.0])
        step = Transform(
            Rotation.from_rotvec([0.0, 0.0, turn]), np.array([*(direction * measured), 0.0])
        )
        T_odom_base = T_odom_base @ step
        # Position variance: the step's own noise, and the heading's so far swept over the step.
        position_var = (config.wheel_noise * distance) ** 2 + variance[2] * distance**2
        variance = variance + np.array([position_var, position_var, yaw_noise**2])
        samples.append(
            _odometry_sample(T_odom_base, measured / dt, turn / dt, variance, config, dt)
        )
    return samples


def _odometry_sample(
    T_odom_base: Transform,
    linear: float,
    angular: float,
    variance: NDArray[np.float64],
    config: SensorsConfig,
    dt: float,
) -> OdometrySample:
    pose = np.diag([variance[0], variance[1], *[UNMEASURED_VARIANCE] * 3, variance[2]])
    twist = np.diag(
        [
            (config.wheel_noise * abs(linear)) ** 2 + 1e-6,
            UNMEASURED_VARIANCE,
            UNMEASURED_VARIANCE,
            UNMEASURED_VARIANCE,
            UNMEASURED_VARIANCE,
            (np.radians(config.wheel_yaw_noise_deg) / dt) ** 2,
        ]
    )
    return OdometrySample(T_odom_base, linear, angular, pose, twist)


def imu_samples(
    T_map_base: Sequence[Transform],
    times_s: Sequence[float],
    moved: Sequence[bool],
    config: SensorsConfig,
    rng: np.random.Generator,
) -> list[ImuSample]:
    """One IMU sample per frame: the turn since the frame before, and the specific force of
    base_link's origin (its acceleration, from the second difference of its true positions
    over the frames either side, less gravity; at rest for the first and last frames and either
    side of a kidnap)."""
    bias = np.radians(config.gyro_bias_deg_s)
    gyro_sigma = np.radians(config.gyro_noise_deg_s)
    acceleration = _accelerations(T_map_base, times_s, moved)
    samples = []
    for i, T in enumerate(T_map_base):
        yaw_rate = 0.0
        if i > 0 and moved[i]:
            _, dyaw = _planar_step(T_map_base[i - 1], T)
            yaw_rate = dyaw / (times_s[i] - times_s[i - 1])
        gyro = np.array([0.0, 0.0, yaw_rate + bias]) + gyro_sigma * rng.standard_normal(3)
        force = T.rotation.inv().apply(acceleration[i] + np.array([0.0, 0.0, GRAVITY_MPS2]))
        force += config.accel_noise_mps2 * rng.standard_normal(3)
        samples.append(ImuSample(gyro, force, gyro_sigma**2, config.accel_noise_mps2**2))
    return samples


def _accelerations(
    T_map_base: Sequence[Transform], times_s: Sequence[float], moved: Sequence[bool]
) -> NDArray[np.float64]:
    """(n, 3) base_link's accelerations in the map frame: central second differences where the
    wheels carried the robot from the frame before and to the frame after, else 0."""
    p = np.array([T.translation for T in T_map_base]).reshape(-1, 3)
    t = np.asarray(times_s, dtype=np.float64)
    acceleration = np.zeros_like(p)
    for i in range(1, len(p) - 1):
        if moved[i] and moved[i + 1]:
            before = (p[i] - p[i - 1]) / (t[i] - t[i - 1])
            after = (p[i + 1] - p[i]) / (t[i + 1] - t[i])
            acceleration[i] = (after - before) / ((t[i + 1] - t[i - 1]) / 2.0)
    return acceleration


def gps_fixes(
    T_map_base: Sequence[Transform],
    times_s: Sequence[float],
    location: LocationConfig,
    config: SensorsConfig,
    rng: np.random.Generator,
) -> dict[int, GpsFix]:
    """Frame index -> the fix taken at that frame, one every 1 / gps_rate_hz seconds."""
    origin = GeoOrigin(location.latitude, location.longitude, location.altitude)
    map_to_enu = Rotation.from_euler("z", location.yaw_to_enu_deg, degrees=True)
    fixes: dict[int, GpsFix] = {}
    next_time = times_s[0] if len(times_s) else 0.0
    for index, (T, stamp) in enumerate(zip(T_map_base, times_s, strict=True)):
        if stamp + 1e-9 < next_time:
            continue
        enu = map_to_enu.apply(T.translation) + config.gps_noise_m * rng.standard_normal(3)
        latitude, longitude, altitude = origin.to_geodetic(enu)
        fixes[index] = GpsFix(
            stamp, float(latitude), float(longitude), float(altitude), config.gps_noise_m**2
        )
        next_time = stamp + 1.0 / config.gps_rate_hz
    return fixes
