"""The robot's own odometry and gyro read from a bag as `evaluate fusion --robot-odometry /odom
--imu /imu/data` feeds them to the fusion: every message, in base_link, with the camera mount of
/tf_static; integrated between image stamps, the gyro gives the base's true turn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest


@pytest.fixture(scope="module")
def sensor_bag(tmp_path_factory):
    from synth_fixtures import small_config

    from pose_reloc.synth.generate import synthesize
    from pose_reloc.synth.render import RenderError

    root = tmp_path_factory.mktemp("robot_feed")
    config = small_config(  # a left turn at a crossing, up to 6 degrees per frame
        trajectory={"waypoints": [[1.8, -8.0], [1.8, 1.8], [-12.0, 1.8]], "rate_hz": 10.0}
    )
    try:
        synthesize(config, "drive", 11.0, root / "data", bag_path=root / "bag")
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    return root / "bag"


def test_the_feed_holds_every_odometry_and_gyro_message_and_the_gyro_gives_the_turn(sensor_bag):
    from pose_reloc.datasets import read_dataset
    from pose_reloc.tools.fusion_sources import robot_feed
    from vo_fusion.robot_gyro import RobotGyro

    frames = list(read_dataset(sensor_bag))
    feed = robot_feed(sensor_bag, "/odom", "/imu/data")
    assert len(feed.odometry) == len(feed.imu) == len(frames) == 110
    assert {reading.frame_id for reading in feed.imu} == {"base_link"}
    gyro = RobotGyro()  # keeps 10 s: fed as the drive goes, as the fusion feeds it
    readings = iter(feed.imu)
    T_cam_base = feed.T_base_cam.inverse()
    turns, errors = [], []
    for previous, frame in itertools.pairwise(frames):
        while not gyro.rates or gyro.rates[-1].stamp < frame.stamp:
            reading = next(readings)
            gyro.add(reading.angular_velocity, reading.angular_velocity_covariance, reading.stamp)
        true = (previous.T_wc @ T_cam_base).inverse() @ (frame.T_wc @ T_cam_base)
        measured = gyro.rotation(previous.stamp, frame.stamp)
        turns.append(np.degrees(true.rotation.magnitude()))
        errors.append(np.degrees((measured.rotation.inv() * true.rotation).magnitude()))
    assert max(turns) > 2.0  # the drive turns
    assert max(errors) < 0.06  # 0.1 deg/s of noise and 0.05 deg/s of bias over 0.1 s
    only_imu = robot_feed(sensor_bag, None, "/imu/data", gravity=True)
    assert not only_imu.odometry and len(only_imu.imu) == 110 and only_imu.gravity
    # The accelerometer: where the drive goes straight (frames 30-55), up in the base's axes.
    for frame, reading in list(zip(frames, feed.imu, strict=True))[30:55]:
        up = (frame.T_wc @ T_cam_base).rotation.inv().apply([0.0, 0.0, 1.0])
        force = reading.linear_acceleration
        assert np.degrees(np.arccos(up @ force / np.linalg.norm(force))) < 1.0


def test_a_topic_of_another_type_is_refused_with_its_name(sensor_bag):
    from pose_reloc.datasets.record import DatasetError
    from pose_reloc.tools.fusion_sources import robot_feed

    with pytest.raises(DatasetError, match="no sensor_msgs/Imu topic /odom"):
        robot_feed(sensor_bag, None, "/odom")
