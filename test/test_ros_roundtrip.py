"""Messages really cross DDS between two nodes (rmw_fastrtps_cpp), and static TF is latched."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROS_MISSING

pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")

if not ROS_MISSING:
    from pose_reloc.msg import SunDirection
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from rclpy.utilities import get_rmw_implementation_identifier
    from sensor_msgs.msg import Image
    from tf2_msgs.msg import TFMessage

    from pose_reloc.geometry import Transform
    from pose_reloc.ros import convert as ros_convert

LATCHED = (
    dict(
        depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
    )
    if not ROS_MISSING
    else {}
)


def test_the_middleware_is_real_dds(ros):
    assert get_rmw_implementation_identifier() == "rmw_fastrtps_cpp"


def test_image_crosses_dds_between_two_nodes_unchanged(ros):
    talker = ros.node("talker")
    publisher = talker.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
    received = ros.collect(Image, "camera/image_raw", qos_profile_sensor_data)
    assert ros.wait_for_subscribers(publisher), "the listener was never discovered"
    pixels = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    msg = ros_convert.array_to_image_msg(
        pixels, "rgb8", ros_convert.make_header(12.5, "camera_optical")
    )
    # Best-effort: a sample sent before the reader is fully matched can be lost, so send until one lands.
    assert ros.spin_until(lambda: publisher.publish(msg) or bool(received), timeout_s=10.0)
    decoded, encoding = ros_convert.image_msg_to_array(received[0])
    assert encoding == "rgb8"
    np.testing.assert_array_equal(decoded, pixels)
    assert received[0].header.frame_id == "camera_optical"
    assert ros_convert.stamp_to_seconds(received[0].header.stamp) == pytest.approx(12.5)


def test_sun_direction_message_round_trip(ros):
    talker = ros.node("sun_talker")
    publisher = talker.create_publisher(SunDirection, "sun/direction", 10)
    received = ros.collect(SunDirection, "sun/direction", 10)
    assert ros.wait_for_subscribers(publisher)
    sun = SunDirection(header=ros_convert.make_header(3.0, "camera_optical"))
    sun.direction = ros_convert.vector3([0.6, -0.8, 0.0])
    sun.covariance = np.diag([0.01, 0.02, 0.03]).reshape(-1).tolist()
    sun.azimuth, sun.zenith = 1.2, 0.4
    sun.sample_count, sun.valid = 32, True
    publisher.publish(sun)
    assert ros.spin_until(lambda: bool(received))
    got = received[0]
    np.testing.assert_allclose(ros_convert.vector3_to_array(got.direction), [0.6, -0.8, 0.0])
    np.testing.assert_allclose(np.reshape(got.covariance, (3, 3)), np.diag([0.01, 0.02, 0.03]))
    assert (got.sample_count, got.valid, got.azimuth) == (32, True, 1.2)


def test_static_tf_reaches_a_subscriber_that_joins_late(ros):
    broadcaster = ros.node("static_broadcaster")
    publisher = broadcaster.create_publisher(TFMessage, "/tf_static", QoSProfile(**LATCHED))
    T_base_cam = Transform.from_xyz_quat([0.2, 0.0, 1.1], [-0.5, 0.5, -0.5, 0.5])
    stamp = ros_convert.make_header(0.0, "base_link")
    publisher.publish(
        TFMessage(transforms=[ros_convert.transform_stamped(T_base_cam, stamp, "camera_optical")])
    )
    ros.spin_for(0.5)  # published with nobody listening
    received = ros.collect(TFMessage, "/tf_static", QoSProfile(**LATCHED))
    assert ros.spin_until(lambda: bool(received)), (
        "a late subscriber missed the latched static transform"
    )
    got = ros_convert.transform_stamped_to_transform(received[0].transforms[0])
    assert received[0].transforms[0].child_frame_id == "camera_optical"
    np.testing.assert_allclose(got.as_matrix(), T_base_cam.as_matrix(), atol=1e-12)
