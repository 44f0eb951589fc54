"""vo_fusion.robot_gravity: the accelerometer's up in the base frame where the robot was
quasi-static, its noise, windows refused (turning, accelerating, too few readings, not covered),
and messages refused with a reason; the filter's tilt update from it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform, rotation_error_deg
from vo_fusion.errors import VoFusionError
from vo_fusion.pose_filter import FilterConfig, PoseFilter
from vo_fusion.robot_gravity import GRAVITY_MPS2, GravityNoise, RobotGravity

STATED = np.eye(3).reshape(9) * 0.05**2
STAMPS = np.round(np.arange(0.0, 2.0, 0.02), 2)  # 50 Hz for 2 s


def at_rest(R_map_base, gravity=None, stamps=STAMPS, extra=(0.0, 0.0, 0.0), covariance=STATED):
    """Readings of a base at rest, turned R_map_base, plus `extra` specific force (map axes)."""
    gravity = gravity or RobotGravity()
    force = R_map_base.inv().apply(np.array([0.0, 0.0, GRAVITY_MPS2]) + extra)
    for stamp in stamps:
        gravity.add(force, covariance, stamp)
    return gravity


def test_a_tilted_base_at_rest_sees_up_tilted_the_other_way_with_the_stated_noise():
    R_map_base = Rotation.from_euler("xyz", [4.0, -3.0, 70.0], degrees=True)
    gravity = at_rest(R_map_base)
    seen = gravity.up(1.91, turn_deg=0.0)  # the readings 0.92 ... 1.90 s
    assert seen is not None and gravity.counts["used"] == 1
    expected = R_map_base.inv().apply([0.0, 0.0, 1.0])
    assert np.degrees(np.arccos(np.clip(seen.up @ expected, -1, 1))) < 1e-6
    # 50 readings of 0.05 m/s² averaged, and 0.2 m/s² of unseen horizontal acceleration
    variance = (0.05**2 / 50 + 0.2**2) / GRAVITY_MPS2**2
    assert seen.covariance == pytest.approx(np.eye(3) * variance, rel=1e-6)


def test_windows_that_were_not_quasi_static_are_not_used():
    level = Rotation.identity()
    gravity = at_rest(level)
    assert gravity.up(1.9, turn_deg=10.0) is None  # 10 deg in 1 s: a turn's centripetal pull
    assert gravity.counts["turning"] == 1
    assert gravity.up(1.9, turn_deg=None) is not None  # no gyro to tell: |f| alone decides
    braking = at_rest(level, extra=np.array([0.0, 0.0, 0.5]))  # |f| 0.5 m/s² above g
    assert braking.up(1.9, turn_deg=0.0) is None and braking.counts["accelerating"] == 1
    assert gravity.up(2.5, turn_deg=0.0) is None  # never past the last reading
    assert gravity.up(0.5, turn_deg=0.0) is None  # before the first one
    assert gravity.counts["not_covered"] == 2
    sparse = at_rest(level, RobotGravity(GravityNoise(min_readings=60)))  # 50 in the window
    assert sparse.up(1.9, turn_deg=0.0) is None and sparse.counts["too_few"] == 1


def test_bad_readings_are_refused_with_a_reason_and_counted():
    gravity = RobotGravity()
    up = [0.0, 0.0, GRAVITY_MPS2]
    with pytest.raises(VoFusionError, match="not finite"):
        gravity.add([np.nan, 0.0, GRAVITY_MPS2], STATED, 0.0)
    no_acceleration = np.zeros(9)
    no_acceleration[0] = -1.0
    with pytest.raises(VoFusionError, match="no linear acceleration"):
        gravity.add(up, no_acceleration, 0.0)
    with pytest.raises(VoFusionError, match="saturated or broken"):
        gravity.add([0.0, 0.0, 300.0], STATED, 0.0)
    with pytest.raises(VoFusionError, match="6 covariance entries"):
        gravity.add(up, np.zeros(6), 0.0)
    assert gravity.counts["bad"] == 3 and gravity.counts["too_large"] == 1
    gravity.add(up, STATED, 1.0)
    with pytest.raises(VoFusionError, match="not after the last one"):
        gravity.add(up, STATED, 0.5)
    with pytest.raises(VoFusionError, match="wrong rate or a stall"):
        gravity.add(up, STATED, 3.0)
    assert gravity.counts["back_in_time"] == 1 and gravity.counts["gaps"] == 1
    assert len(gravity.readings) == 1  # restarted from the last message


def test_noise_settings_are_checked():
    with pytest.raises(VoFusionError, match="window_s"):
        GravityNoise(window_s=0.0)
    with pytest.raises(VoFusionError, match="keep_s"):
        GravityNoise(window_s=2.0, keep_s=1.0)


def test_the_filter_takes_the_tilt_from_up_and_leaves_the_yaw():
    """A camera pose 3 deg off in roll, pitch and yaw: the up vector corrects roll and pitch,
    nothing about the vertical; an up vector 30 deg from the predicted one is refused."""
    R_base_cam = Rotation.from_quat([-0.5, 0.5, -0.5, 0.5])  # x forward, z up -> optical
    R_map_base = Rotation.from_euler("z", 40.0, degrees=True)
    true = Transform(R_map_base * R_base_cam, np.array([5.0, 2.0, 1.5]))
    off = Rotation.from_euler("xyz", [3.0, 3.0, 3.0], degrees=True)
    pose_filter = PoseFilter(FilterConfig())
    covariance = np.diag([0.1**2] * 3 + [np.radians(5.0) ** 2] * 3)
    pose_filter.reset(Transform(off * true.rotation, true.translation), covariance, 0.0)
    gravity = at_rest(R_map_base)
    seen = gravity.up(1.9, turn_deg=0.0)
    up_cam = R_base_cam.inv().apply(seen.up)
    R = R_base_cam.as_matrix()
    result = pose_filter.update_gravity(up_cam, R.T @ seen.covariance @ R, 0.1)
    assert result.accepted, result.reason
    error = pose_filter.pose.rotation * true.rotation.inv()  # in map axes
    roll, pitch, yaw = error.as_rotvec(degrees=True)
    assert abs(roll) < 0.2 and abs(pitch) < 0.2, (roll, pitch)
    assert abs(yaw - 3.0) < 0.5  # gravity cannot see the heading
    assert rotation_error_deg(pose_filter.pose, true) < 3.5
    tipped = Rotation.from_euler("x", 30.0, degrees=True).apply(up_cam)
    refused = pose_filter.update_gravity(tipped, R.T @ seen.covariance @ R, 0.2)
    assert not refused.accepted and "up vector" in refused.reason
    assert not pose_filter.update_gravity([0.0, 0.0, 2.0], np.eye(3), 0.3).accepted
