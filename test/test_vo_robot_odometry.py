"""vo_fusion.robot_odometry: the robot's own odometry as the visual odometry's motion prior:
interpolation between messages, the base increment in the camera's axes with its covariance, and
messages refused with a reason (non-finite, back in time, jumps)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform, rotation_error_deg, translation_error_m
from vo_fusion.errors import VoFusionError
from vo_fusion.robot_odometry import OdometryNoise, RobotOdometry, camera_motion

T_BASE_CAM = Transform.from_xyz_quat([0.15, 0.0, 1.3], [-0.5, 0.5, -0.5, 0.5])
PLANAR = np.diag([1e-4, 1e-4, 1e6, 1e6, 1e6, 1e-4])  # z, roll, pitch not measured


def base_pose(t):
    """A robot driving a left arc at 1.2 m/s, 20 deg/s."""
    yaw = np.radians(20.0) * t
    radius = 1.2 / np.radians(20.0)
    return Transform(
        Rotation.from_euler("z", yaw),
        np.array([radius * np.sin(yaw), radius * (1 - np.cos(yaw)), 0.0]),
    )


def test_the_motion_between_two_images_is_the_camera_increment_of_the_interpolated_poses():
    odometry = RobotOdometry()
    for t in np.arange(0.0, 2.0, 0.05):  # 20 Hz
        odometry.add(base_pose(t), PLANAR, t)
    # images at 0.33 s and 0.43 s fall between messages
    motion = odometry.motion(0.33, 0.43, T_BASE_CAM)
    true = (base_pose(0.33) @ T_BASE_CAM).inverse() @ (base_pose(0.43) @ T_BASE_CAM)
    assert translation_error_m(motion.delta, true) < 1e-3
    assert rotation_error_deg(motion.delta, true) < 0.01
    assert odometry.motion(1.9, 2.5, T_BASE_CAM) is None  # never extrapolated
    assert odometry.counts["used"] == 1 and odometry.counts["not_covered"] == 1
    # Pitch is not measured, and a pitch of the robot moves its camera 1.3 m up forward: alone,
    # the forward step is unknown; once the image gives the rotation, it is the wheels' length
    # (2 % + 2 mm; the camera's z-axis is forward).
    P = motion.covariance
    assert np.sqrt(P[2, 2]) > 1.0
    given_rotation = P[:3, :3] - P[:3, 3:] @ np.linalg.solve(P[3:, 3:], P[3:, :3])
    assert np.sqrt(given_rotation[2, 2]) == pytest.approx(0.02 * 0.12 + 0.002, rel=0.05)


def test_the_covariance_follows_the_mount_as_a_first_order_map():
    rng = np.random.default_rng(1)
    step = base_pose(0.1)
    base_covariance = np.diag(rng.uniform(1e-6, 1e-4, 6))
    motion = camera_motion(step, base_covariance, T_BASE_CAM)
    # Perturb the base increment the filter's way, see how the camera increment moves.
    samples = []
    for _ in range(4000):
        noise = rng.multivariate_normal(np.zeros(6), base_covariance)
        moved = Transform(
            Rotation.from_rotvec(noise[3:]) * step.rotation, step.translation + noise[:3]
        )
        camera = T_BASE_CAM.inverse() @ moved @ T_BASE_CAM
        samples.append(
            np.concatenate(
                [
                    camera.translation - motion.delta.translation,
                    (camera.rotation * motion.delta.rotation.inv()).as_rotvec(),
                ]
            )
        )
    empirical = np.cov(np.array(samples).T)
    assert np.allclose(empirical, motion.covariance, atol=0.1 * np.abs(motion.covariance).max())


def test_bad_messages_are_refused_with_a_reason_and_counted():
    odometry = RobotOdometry()
    odometry.add(base_pose(0.0), PLANAR, 0.0)
    # (a NaN pose never becomes a Transform: the node's conversion refuses it)
    with pytest.raises(VoFusionError, match="not finite"):
        odometry.add(base_pose(0.1), np.full((6, 6), np.nan), 0.1)
    with pytest.raises(VoFusionError, match="36"):
        odometry.add(base_pose(0.1), np.eye(3), 0.1)
    odometry.add(base_pose(0.1), np.zeros((6, 6)), 0.1)  # zeros: every axis measured, kept
    with pytest.raises(VoFusionError, match="jumped"):
        odometry.add(Transform(Rotation.identity(), np.array([30.0, 0.0, 0.0])), PLANAR, 0.2)
    assert len(odometry.samples) == 1  # starts again at the jump: no interval spans it
    with pytest.raises(VoFusionError, match="not after the last"):
        odometry.add(base_pose(0.05), PLANAR, 0.05)
    assert odometry.counts == {"bad": 2, "jumps": 1, "back_in_time": 1}
    with pytest.raises(VoFusionError, match="distance_fraction"):
        OdometryNoise(distance_fraction=0.0)
