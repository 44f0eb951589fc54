"""Gravity from an IMU's accelerometer with the robot's own acceleration taken out by its
odometry: a robot turning a corner on a slope, where the raw accelerometer and the flat-ground
assumption are both degrees off."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from pose_reloc.synth.config import SensorsConfig
from pose_reloc.synth.sensors import imu_samples
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.gravity import GRAVITY_MPS2, ImuSamples, gravity_from_imu

RATE_HZ = 10.0
UNIX_S = 1.78e9  # 2026: a float64 keeps 0.2 µs of it
SLOPE = Rotation.from_euler("x", 4.0, degrees=True)  # the ground climbs 4° to the left of x


def _corner_drive(speed_mps: float = 4.0, radius_m: float = 6.0) -> list[Transform]:
    """Base poses in the ground's plane: 12 m straight along x, a 90° left turn, 12 m on."""
    poses = []
    step = speed_mps / RATE_HZ
    x, y, yaw = 0.0, 0.0, 0.0
    turn = np.pi / 2 * radius_m
    s = 0.0
    while s < 24.0 + turn:
        poses.append(Transform(Rotation.from_euler("z", yaw), np.array([x, y, 0.0])))
        turning = 12.0 <= s < 12.0 + turn
        yaw += step / radius_m if turning else 0.0
        x, y = x + step * np.cos(yaw), y + step * np.sin(yaw)
        s += step
    return poses


def _on_slope(plane: list[Transform]) -> list[Transform]:
    return [Transform(SLOPE, np.zeros(3)) @ T for T in plane]


def _imu(truth: list[Transform], stamps: np.ndarray, rate_hz: float = RATE_HZ) -> ImuSamples:
    config = SensorsConfig()
    rng = np.random.default_rng(3)
    samples = imu_samples(truth, list(stamps), [True] * len(truth), config, rng)
    keep = np.arange(0, len(truth), round(RATE_HZ / rate_hz))
    force = np.array([samples[k].linear_acceleration_mps2 for k in keep])
    return ImuSamples(stamps[keep], force, np.full(len(keep), config.accel_noise_mps2**2))


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=1), -1.0, 1.0)))


def test_the_imu_finds_the_slope_through_a_corner_that_the_raw_accelerometer_misreads():
    plane = _corner_drive()
    truth = _on_slope(plane)
    stamps = UNIX_S + np.arange(len(plane)) / RATE_HZ  # as a bag stamps them
    imu = _imu(truth, stamps)
    odometry = [Transform(T.rotation, 1.02 * T.translation) for T in plane]  # reads 2 % long
    priors = gravity_from_imu(stamps, odometry, imu)
    true_up = np.array([T.rotation.inv().apply([0.0, 0.0, 1.0]) for T in truth])
    inner = slice(10, len(plane) - 10)  # a whole window of samples around each frame
    assert priors.measured[inner].all()
    error = _angle_deg(priors.up, true_up)[inner]
    assert error.max() < 0.5
    assert np.mean(error < 2.0 * np.degrees(priors.sigma_rad[inner])) > 0.9
    # what it replaces: the accelerometer alone reads the corner's 2.7 m/s² as 15° of tilt, and
    # the flat-ground odometry misses the 4° slope everywhere
    raw = imu.specific_force / np.linalg.norm(imu.specific_force, axis=1, keepdims=True)
    assert _angle_deg(raw, true_up)[inner].max() > 10.0
    flat = np.tile([0.0, 0.0, 1.0], (len(plane), 1))
    assert _angle_deg(flat, true_up)[inner].min() > 3.9


def test_readings_that_are_not_gravity_or_too_sparse_give_no_direction():
    plane = _corner_drive()
    stamps = np.arange(len(plane)) / RATE_HZ
    imu = _imu(plane, stamps)
    in_g = ImuSamples(imu.stamps, imu.specific_force / GRAVITY_MPS2, imu.variance)  # g, not m/s²
    misread = gravity_from_imu(stamps, plane, in_g)
    assert not misread.measured.any()
    assert misread.rejected > 0.8 * len(plane)  # all but the ends, whose windows are short
    sparse = gravity_from_imu(stamps, plane, _imu(plane, stamps, rate_hz=1.0))  # 1 Hz
    assert not sparse.measured.any()


def test_frames_out_of_order_are_refused():
    plane = _corner_drive()[:20]
    stamps = np.arange(20) / RATE_HZ
    imu = _imu(plane, stamps)
    with pytest.raises(VoFusionError, match="stamps must increase"):
        gravity_from_imu(stamps[::-1], plane, imu)
