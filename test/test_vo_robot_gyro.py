"""vo_fusion.robot_gyro: the robot's gyro integrated between image stamps as the visual
odometry's rotation prior, its noise, its fusion with the wheels' turn, and messages refused with
a reason (non-finite, no angular velocity, too fast, back in time, a gap)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError
from vo_fusion.odometry import GyroPrior, RobotMotion
from vo_fusion.robot_gyro import GyroNoise, RobotGyro

STATED = np.eye(3).reshape(9) * np.radians(0.1) ** 2


def yaw_rates(gyro, stamps, rates_deg_s, covariance=STATED):
    for stamp, rate in zip(stamps, rates_deg_s, strict=True):
        gyro.add([0.0, 0.0, np.radians(rate)], covariance, stamp)


def test_each_reading_is_the_rate_since_the_one_before_and_partial_intervals_count_in_part():
    gyro = RobotGyro()
    yaw_rates(gyro, [0.0, 0.1, 0.2, 0.3], [0.0, 10.0, 20.0, 30.0])
    whole = gyro.rotation(0.1, 0.3)
    assert np.degrees(whole.rotation.as_rotvec()[2]) == pytest.approx(5.0)
    part = gyro.rotation(0.15, 0.25)  # half of 20 deg/s's interval, half of 30's
    assert np.degrees(part.rotation.as_rotvec()[2]) == pytest.approx(2.5)
    assert gyro.rotation(0.2, 0.35) is None  # never extrapolated past the last reading
    assert gyro.counts["used"] == 2 and gyro.counts["not_covered"] == 1


def test_a_fast_imu_integrates_a_turn_and_its_stated_noise_and_bias():
    gyro = RobotGyro(GyroNoise(bias_deg_s=0.05))
    stamps = np.round(np.arange(200) * 0.01, 2)  # 100 Hz, turning at 40 deg/s about a tilted axis
    axis = np.array([0.1, 0.0, 1.0]) / np.linalg.norm([0.1, 0.0, 1.0])
    for stamp in stamps:
        gyro.add(axis * np.radians(40.0), STATED, stamp)
    turn = gyro.rotation(0.3, 0.4)
    true = Rotation.from_rotvec(axis * np.radians(4.0))
    assert np.degrees((turn.rotation.inv() * true).magnitude()) < 1e-6
    # ten readings of 0.1 deg/s white noise over 0.01 s each, and 0.05 deg/s of bias for 0.1 s
    expected = np.radians(0.1) ** 2 * 0.01**2 * 10 + (np.radians(0.05) * 0.1) ** 2
    assert turn.covariance == pytest.approx(np.eye(3) * expected, rel=1e-6)
    longer = gyro.rotation(0.3, 1.3)
    assert longer.covariance[0, 0] > 50 * turn.covariance[0, 0]  # the bias grows with time


def test_a_reading_without_a_stated_covariance_gets_the_default_noise():
    noise = GyroNoise(default_rate_std_deg_s=0.5, bias_deg_s=1e-9)
    gyro = RobotGyro(noise)
    yaw_rates(gyro, [0.0, 0.1], [0.0, 10.0], covariance=np.zeros(9))
    turn = gyro.rotation(0.0, 0.1)
    assert np.sqrt(turn.covariance[0, 0]) == pytest.approx(np.radians(0.5) * 0.1, rel=1e-6)


def test_bad_readings_are_refused_with_a_reason_and_counted():
    gyro = RobotGyro()
    yaw_rates(gyro, [0.0, 0.1], [0.0, 10.0])
    with pytest.raises(VoFusionError, match="not finite"):
        gyro.add([np.nan, 0.0, 0.0], STATED, 0.2)
    with pytest.raises(VoFusionError, match="no angular velocity"):
        gyro.add([0.0, 0.0, 0.1], -np.ones(9), 0.2)
    with pytest.raises(VoFusionError, match="not a robot's turn"):
        gyro.add([0.0, 0.0, np.radians(2000.0)], STATED, 0.2)
    with pytest.raises(VoFusionError, match="6 covariance entries"):
        gyro.add([0.0, 0.0, 0.1], np.ones(6), 0.2)
    assert gyro.counts["bad"] == 3 and gyro.counts["too_fast"] == 1
    assert gyro.rotation(0.0, 0.1) is not None  # what came before is kept
    with pytest.raises(VoFusionError, match="not after the last one"):
        gyro.add([0.0, 0.0, 0.1], STATED, 0.05)
    assert gyro.counts["back_in_time"] == 1
    assert gyro.rotation(0.0, 0.1) is None  # restarted from the late reading
    yaw_rates(gyro, [0.15], [10.0])
    with pytest.raises(VoFusionError, match="wrong rate or a stall"):
        gyro.add([0.0, 0.0, 0.1], STATED, 1.15)
    yaw_rates(gyro, [1.25], [10.0])
    assert gyro.counts["gaps"] == 1
    assert gyro.rotation(0.1, 1.2) is None  # nothing integrated across the gap
    assert gyro.rotation(1.15, 1.25) is not None


def test_noise_settings_are_checked():
    with pytest.raises(VoFusionError, match="bias_deg_s"):
        GyroNoise(bias_deg_s=0.0)


def test_the_wheels_turn_is_fused_with_the_gyros_by_their_covariances():
    """Wheels say 5 deg (std 1 deg: slip), the gyro 4 deg (std 0.1 deg): the fused turn is the
    gyro's within a hundredth of the difference, and surer than either; the distance stays
    the wheels'."""
    wheels = RobotMotion(
        Transform(Rotation.from_euler("y", 5.0, degrees=True), np.array([0.0, 0.0, 0.12])),
        np.diag([0.003**2] * 3 + [np.radians(1.0) ** 2] * 3),
    )
    gyro = GyroPrior(Rotation.from_euler("y", 4.0, degrees=True), np.eye(3) * np.radians(0.1) ** 2)
    fused = wheels.with_gyro(gyro)
    assert np.degrees(fused.delta.rotation.as_rotvec()[1]) == pytest.approx(
        4.0 + 1.0 / 101, abs=1e-3
    )
    assert np.all(np.diag(fused.covariance)[3:] < np.radians(0.1) ** 2)
    assert np.array_equal(fused.delta.translation, wheels.delta.translation)
    assert np.array_equal(fused.covariance[:3, :3], wheels.covariance[:3, :3])


def test_the_gyro_pins_the_translation_that_the_wheels_unmeasured_tilt_leaves_open():
    """Planar wheels say nothing of roll and pitch (variance 1e3); on a mount 1.5 m above the
    base that tilt swings the camera, so in the camera's axes the wheels' translation is
    metres uncertain, correlated with the rotation. The gyro's rotation pins it: the fused
    translation is as sure as the wheels' own distance, and moves with the rotation it learned."""
    lever = np.array([0.0, -1.5, 0.15])  # the camera's offset on the base, camera axes
    L = -np.array([[0, -lever[2], lever[1]], [lever[2], 0, -lever[0]], [-lever[1], lever[0], 0]])
    P_rotation = np.diag([1e3, np.radians(1.0) ** 2, 1e3])  # only the turn (camera y) measured
    covariance = np.zeros((6, 6))
    covariance[:3, :3] = L @ P_rotation @ L.T + np.eye(3) * 0.003**2
    covariance[:3, 3:] = L @ P_rotation
    covariance[3:, :3] = covariance[:3, 3:].T
    covariance[3:, 3:] = P_rotation
    wheels = RobotMotion(Transform(Rotation.identity(), np.array([0.0, 0.0, 0.12])), covariance)
    assert np.linalg.eigvalsh(wheels.covariance[:3, :3]).max() > 100.0
    tilt = np.radians([0.5, 0.0, 0.0])
    gyro = GyroPrior(Rotation.from_rotvec(tilt), np.eye(3) * np.radians(0.05) ** 2)
    fused = wheels.with_gyro(gyro)
    assert np.linalg.eigvalsh(fused.covariance[:3, :3]).max() < 0.01**2
    np.testing.assert_allclose(fused.delta.rotation.as_rotvec(), tilt, atol=np.radians(0.01))
    np.testing.assert_allclose(
        fused.delta.translation, wheels.delta.translation + L @ tilt, atol=1e-4
    )


def test_a_reading_in_the_imus_frame_is_turned_into_the_base_and_no_rate_stays_said():
    from vo_fusion.imu_readings import in_base_frame

    upside_down = Rotation.from_euler("x", 180.0, degrees=True)
    covariance = np.diag([1e-6, 2e-6, 3e-6]).reshape(9)
    rate, turned = in_base_frame([0.0, 0.1, 0.2], covariance, upside_down)
    np.testing.assert_allclose(rate, [0.0, -0.1, -0.2], atol=1e-12)
    np.testing.assert_allclose(turned, covariance, atol=1e-18)  # diagonal: y, z keep their variance
    none = -np.ones(9)
    assert np.array_equal(in_base_frame([0, 0, 0], none, upside_down)[1], none)
