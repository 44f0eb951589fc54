"""What a robot records besides its camera (`pose_reloc.synth.sensors`): wheel odometry that drifts
as configured and never jumps, an IMU with its bias and gravity, and both in the synthetic bag."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from pose_reloc.synth.config import SceneConfigError, SensorsConfig
from pose_reloc.synth.sensors import GRAVITY_MPS2, imu_samples, wheel_odometry

NOISELESS = SensorsConfig(
    wheel_scale_error=0.0,
    wheel_yaw_drift_deg_per_m=0.0,
    wheel_noise=0.0,
    wheel_yaw_noise_deg=0.0,
    gyro_bias_deg_s=0.0,
    gyro_noise_deg_s=0.0,
    accel_noise_mps2=0.0,
)


def circle_drive(steps=200, speed=1.2, rate=10.0, radius=8.0, start_yaw_deg=30.0):
    """Base poses on a circle (counter-clockwise), heading along it, starting at some map pose."""
    angle = np.arange(steps) * speed / rate / radius
    start = Transform(
        Rotation.from_euler("z", start_yaw_deg, degrees=True), np.array([5.0, -3.0, 0.0])
    )
    poses = [
        start
        @ Transform(
            Rotation.from_rotvec([0.0, 0.0, a]),
            np.array([radius * np.sin(a), radius * (1.0 - np.cos(a)), 0.0]),
        )
        for a in angle
    ]
    return poses, list(np.arange(steps) / rate), speed, speed / radius


def test_noiseless_odometry_is_the_true_motion_since_the_first_pose():
    poses, times, _, _ = circle_drive()
    samples = wheel_odometry(poses, times, [True] * len(poses), NOISELESS, np.random.default_rng(0))
    for pose, sample in zip(poses[::20], samples[::20], strict=True):
        expected = poses[0].inverse() @ pose
        np.testing.assert_allclose(sample.T_odom_base.as_matrix(), expected.as_matrix(), atol=1e-9)


def test_odometry_drifts_by_the_configured_scale_and_heading_bias():
    poses, times, speed, _ = circle_drive(steps=400)
    config = replace(NOISELESS, wheel_scale_error=0.03, wheel_yaw_drift_deg_per_m=0.5)
    samples = wheel_odometry(poses, times, [True] * len(poses), config, np.random.default_rng(0))
    odom_path = sum(
        np.linalg.norm(b.T_odom_base.translation - a.T_odom_base.translation)
        for a, b in itertools.pairwise(samples)
    )
    true_path = speed * (times[-1] - times[0])
    assert odom_path / true_path == pytest.approx(1.03, abs=1e-3)
    true_turn = (poses[0].inverse() @ poses[-1]).rotation
    odom_turn = samples[-1].T_odom_base.rotation
    extra_deg = np.degrees((true_turn.inv() * odom_turn).as_rotvec()[2])
    assert extra_deg == pytest.approx(0.5 * true_path, rel=0.02)
    # The white-noise covariance grows with distance, z / roll / pitch stay unmeasured.
    noisy = wheel_odometry(
        poses, times, [True] * len(poses), SensorsConfig(), np.random.default_rng(1)
    )
    assert noisy[-1].pose_covariance[0, 0] > noisy[50].pose_covariance[0, 0] > 0.0
    assert noisy[-1].pose_covariance[2, 2] >= 1e6 and noisy[-1].pose_covariance[5, 5] > 0.0
    assert noisy[100].linear_mps == pytest.approx(speed * 1.02, rel=0.1)


def test_a_kidnap_moves_no_wheel():
    poses, times, _, _ = circle_drive(steps=60)
    teleported = Transform(Rotation.from_euler("z", 170, degrees=True), np.array([60.0, 40.0, 0.0]))
    poses = poses[:30] + [teleported @ poses[0].inverse() @ p for p in poses[30:]]
    moved = [True] * 30 + [False] + [True] * 29
    samples = wheel_odometry(poses, times, moved, SensorsConfig(), np.random.default_rng(0))
    jump = samples[29].T_odom_base.inverse() @ samples[30].T_odom_base
    assert np.linalg.norm(jump.as_matrix() - np.eye(4)) == 0.0 and samples[30].linear_mps == 0.0
    samples = wheel_odometry(poses, times, moved, NOISELESS, np.random.default_rng(0))
    step_before = np.linalg.norm(
        samples[29].T_odom_base.translation - samples[28].T_odom_base.translation
    )
    step_after = np.linalg.norm(
        samples[32].T_odom_base.translation - samples[31].T_odom_base.translation
    )
    assert step_after == pytest.approx(step_before, rel=1e-6)


def test_imu_measures_the_turn_rate_with_its_bias_and_gravity():
    poses, times, speed, yaw_rate = circle_drive(steps=300)
    config = replace(NOISELESS, gyro_bias_deg_s=0.3, gyro_noise_deg_s=0.2, accel_noise_mps2=0.05)
    samples = imu_samples(poses, times, [True] * len(poses), config, np.random.default_rng(2))
    gyro_z = np.array([s.angular_velocity_radps[2] for s in samples[1:]])
    assert np.degrees(gyro_z.mean() - yaw_rate) == pytest.approx(0.3, abs=0.05)
    force = np.array([s.linear_acceleration_mps2 for s in samples[2:]])
    assert force[:, 2].mean() == pytest.approx(GRAVITY_MPS2, abs=0.02)
    assert force[:, 1].mean() == pytest.approx(speed * yaw_rate, abs=0.02)  # centripetal
    assert samples[0].angular_velocity_radps[2] == pytest.approx(np.radians(0.3), abs=0.02)


def test_the_accelerometer_follows_the_path_where_the_heading_leads_the_tangent():
    # a robot whose heading runs 15 degrees ahead of its path (skid steering through a turn):
    # the specific force is the path's acceleration, not the speed times the turn rate
    poses, times, speed, yaw_rate = circle_drive(steps=120)
    lead = Transform(Rotation.from_euler("z", 15.0, degrees=True), np.zeros(3))
    crabbing = [pose @ lead for pose in poses]
    samples = imu_samples(crabbing, times, [True] * len(poses), NOISELESS, np.random.default_rng(3))
    for i in range(2, len(poses) - 2, 10):
        in_map = crabbing[i].rotation.apply(samples[i].linear_acceleration_mps2)
        towards_centre = poses[i].rotation.apply([0.0, 1.0, 0.0])  # the path's left
        expected = speed * yaw_rate * towards_centre + np.array([0.0, 0.0, GRAVITY_MPS2])
        np.testing.assert_allclose(in_map, expected, atol=0.01)
    assert np.allclose(samples[0].linear_acceleration_mps2, [0.0, 0.0, GRAVITY_MPS2])


def test_a_scale_error_of_half_or_more_is_refused():
    from synth_fixtures import small_config

    with pytest.raises(SceneConfigError, match=r"sensors\.wheel_scale_error"):
        small_config(sensors={"wheel_scale_error": 0.6})
    with pytest.raises(SceneConfigError, match=r"sensors\.wheel_noise"):
        small_config(sensors={"wheel_noise": -0.1})


def test_a_mapping_bag_holds_odometry_and_imu_beside_every_image_and_gps_fixes(tmp_path):
    from rosbags.highlevel import AnyReader
    from synth_fixtures import small_config

    from pose_reloc.synth.generate import synthesize
    from pose_reloc.synth.render import RenderError

    config = small_config(trajectory={"speed_mps": 3.0})
    try:
        report = synthesize(config, "mapping", 4.0, tmp_path / "data", bag_path=tmp_path / "bag")
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    assert report.frames == 40  # 4 s at the camera's 10 Hz
    with AnyReader([tmp_path / "bag"]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        odometry = [
            reader.deserialize(raw, c.msgtype)
            for c, _, raw in reader.messages([c for c in reader.connections if c.topic == "/odom"])
        ]
    assert counts["/odom"] == counts["/imu/data"] == counts["/camera/image_raw/compressed"] == 40
    assert counts["/gps/fix"] == 4  # 1 Hz
    assert odometry[0].header.frame_id == "odom" and odometry[0].child_frame_id == "base_link"
    travelled = np.hypot(odometry[-1].pose.pose.position.x, odometry[-1].pose.pose.position.y)
    assert 0.5 * 3.0 * 3.9 < travelled < 1.1 * 3.0 * 3.9
