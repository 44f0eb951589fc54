"""Message conversion: round trips through real ROS message types, and bad fields refused."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROS_MISSING
from scipy.spatial.transform import Rotation

pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")

if not ROS_MISSING:
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from visualization_msgs.msg import Marker

    from pose_reloc.camera import PinholeCamera
    from pose_reloc.errors import (
        CameraModelError,
        ConversionError,
        ImageDecodeError,
        NotACameraImageError,
    )
    from pose_reloc.geometry import Transform
    from pose_reloc.ros import convert as rc

T = (
    Transform(Rotation.from_euler("xyz", [3, -20, 95], degrees=True), np.array([4.0, -2.5, 0.3]))
    if not ROS_MISSING
    else None
)
COV = np.diag([0.5, 0.6, 0.7, 0.01, 0.02, 0.03])


def test_stamps_round_trip_within_float64_resolution():
    stamp = rc.seconds_to_stamp(1700000000.123456789)
    assert stamp.sec == 1700000000
    assert abs(stamp.nanosec - 123456789) < 250  # a float64 resolves ~240 ns at 1.7e9 s
    assert rc.stamp_to_seconds(rc.seconds_to_stamp(12.5)) == 12.5
    with pytest.raises(ConversionError):
        rc.seconds_to_stamp(float("nan"))


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8", "mono16", "32FC1", "bgra8"])
def test_image_message_round_trip(encoding):
    from pose_reloc.images import PIXEL_FORMATS

    fmt = PIXEL_FORMATS[encoding]
    shape = (5, 7) if fmt.channels == 1 else (5, 7, fmt.channels)
    pixels = (np.arange(np.prod(shape)) % 250).reshape(shape).astype(fmt.dtype)
    msg = rc.array_to_image_msg(pixels, encoding, rc.make_header(1.0, "cam"))
    assert isinstance(msg, Image) and msg.step == 7 * fmt.channels * np.dtype(fmt.dtype).itemsize
    decoded, got_encoding = rc.image_msg_to_array(msg)
    np.testing.assert_array_equal(decoded, pixels)
    assert got_encoding == encoding


def test_compressed_message_decodes_and_converts_to_rgb():
    bgr = np.zeros((16, 16, 3), np.uint8)
    bgr[..., 2] = 250  # red in BGR
    msg = rc.array_to_compressed_msg(bgr, rc.make_header(0.0, "cam"), "png")
    assert isinstance(msg, CompressedImage) and "png" in msg.format
    rgb, encoding = rc.image_msg_to_array(msg, "rgb8")
    assert encoding == "rgb8" and rgb[0, 0].tolist() == [250, 0, 0]


def test_image_message_with_lying_size_fields_is_refused():
    msg = rc.array_to_image_msg(np.zeros((4, 4, 3), np.uint8), "rgb8", rc.make_header(0.0, "cam"))
    msg.height = 5
    with pytest.raises(ImageDecodeError, match="truncated"):
        rc.image_msg_to_array(msg)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1", "mono16", "16SC1", "64FC1", "8SC1"])
def test_a_depth_image_is_not_a_camera_frame(encoding):
    from pose_reloc.images import PIXEL_FORMATS

    pixels = np.ones((5, 7), PIXEL_FORMATS[encoding].dtype)
    msg = rc.array_to_image_msg(pixels, encoding, rc.make_header(1.0, "depth"))
    with pytest.raises(NotACameraImageError, match=encoding):
        rc.camera_image_to_rgb(msg)
    msg.data = b"short"  # checked before decoding: the encoding is the problem, not the payload
    with pytest.raises(NotACameraImageError):
        rc.camera_image_to_rgb(msg)


def test_camera_frames_convert_to_rgb():
    grey = (np.arange(35) * 7 % 256).astype(np.uint8).reshape(5, 7)
    rgb = rc.camera_image_to_rgb(rc.array_to_image_msg(grey, "mono8", rc.make_header(1.0, "cam")))
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 1], grey)
    bgr = np.zeros((8, 8, 3), np.uint8)
    bgr[..., 2] = 250
    compressed = rc.array_to_compressed_msg(bgr, rc.make_header(0.0, "cam"), "png")
    assert rc.camera_image_to_rgb(compressed)[0, 0].tolist() == [250, 0, 0]
    with pytest.raises(ImageDecodeError, match="unknown image encoding"):
        rc.camera_image_to_rgb(Image(height=1, width=1, encoding="rgb9", step=3, data=bytes(3)))


@pytest.mark.parametrize("format_field", ["16UC1; png compressed 16UC1", "png"])
def test_a_16_bit_grey_png_is_not_a_camera_frame(format_field):
    import cv2

    ok, payload = cv2.imencode(".png", np.full((6, 8), 1500, np.uint16))
    assert ok
    msg = CompressedImage(format=format_field, data=payload.tobytes())
    with pytest.raises(NotACameraImageError, match=r"16UC1|mono16"):
        rc.camera_image_to_rgb(msg)


def test_a_camera_info_of_garbage_size_is_refused():
    camera = PinholeCamera(np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]]), 320, 240, [])
    info = rc.camera_to_camera_info(camera, rc.make_header(0.0, "cam"))
    for width, height in ((4294967295, 4294967295), (320, 16385), (0, 240)):
        info.width, info.height = width, height
        with pytest.raises(CameraModelError, match=rf"{width}x{height}.*1\.\.16384"):
            rc.camera_info_to_camera(info)
    info.width, info.height = 16384, 16384
    assert rc.camera_info_to_camera(info).width == 16384


def test_camera_info_round_trip_and_bad_intrinsics():
    camera = PinholeCamera(
        np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]]),
        320,
        240,
        np.array([-0.1, 0.01, 0, 0, 0]),
    )
    info = rc.camera_to_camera_info(camera, rc.make_header(0.0, "cam"))
    again = rc.camera_info_to_camera(info)
    np.testing.assert_array_equal(again.K, camera.K)
    np.testing.assert_array_equal(again.D, camera.D)
    info.k = [float("nan")] * 9
    with pytest.raises(CameraModelError, match="NaN"):
        rc.camera_info_to_camera(info)
    info.k = [0.0] * 9
    with pytest.raises(CameraModelError, match="uncalibrated"):
        rc.camera_info_to_camera(info)
    assert isinstance(info, CameraInfo)


def test_binned_camera_info():
    info = CameraInfo(
        width=640, height=480, distortion_model="plumb_bob", d=[0.0] * 5, binning_x=2, binning_y=2
    )
    info.k = [500.0, 0, 319.5, 0, 500, 239.5, 0, 0, 1]
    camera = rc.camera_info_to_camera(info)
    assert (camera.width, camera.height, camera.fx, camera.cx) == (320, 240, 250.0, 159.5)


def test_pose_with_covariance_round_trip():
    msg = rc.pose_with_covariance_stamped(T, COV, rc.make_header(2.0, "map"))
    assert isinstance(msg, PoseWithCovarianceStamped) and msg.header.frame_id == "map"
    transform, covariance = rc.pose_with_covariance_to_transform(msg)
    np.testing.assert_allclose(transform.as_matrix(), T.as_matrix(), atol=1e-12)
    np.testing.assert_array_equal(covariance, COV)


@pytest.mark.parametrize(
    ("covariance", "message"),
    [
        (np.full(36, np.nan), "NaN"),
        (np.zeros(35), "36 entries"),
        (-np.eye(6), "positive semi-definite"),
    ],
)
def test_bad_covariances_are_refused(covariance, message):
    with pytest.raises(ConversionError, match=message):
        rc.transform_to_pose_with_covariance(T, covariance)


def test_incoming_pose_with_nan_covariance_or_zero_quaternion_is_refused():
    msg = rc.pose_with_covariance_stamped(T, COV, rc.make_header(2.0, "map"))
    msg.pose.covariance[0] = float("nan")
    with pytest.raises(ConversionError, match="NaN"):
        rc.pose_with_covariance_to_transform(msg)
    msg = rc.pose_with_covariance_stamped(T, COV, rc.make_header(2.0, "map"))
    msg.pose.pose.orientation.w = 0.0
    msg.pose.pose.orientation.x = msg.pose.pose.orientation.y = msg.pose.pose.orientation.z = 0.0
    with pytest.raises(ConversionError, match="norm"):
        rc.pose_with_covariance_to_transform(msg)


def test_transform_stamped_and_odometry_and_path():
    tf = rc.transform_stamped(T, rc.make_header(1.0, "map"), "odom")
    assert (tf.header.frame_id, tf.child_frame_id) == ("map", "odom")
    np.testing.assert_allclose(
        rc.transform_stamped_to_transform(tf).as_matrix(), T.as_matrix(), atol=1e-12
    )
    odom = rc.odometry(T, COV, rc.make_header(1.0, "odom"), "base_link", twist_linear=[1.0, 0, 0])
    assert odom.child_frame_id == "base_link" and odom.twist.twist.linear.x == 1.0
    np.testing.assert_array_equal(np.reshape(odom.pose.covariance, (6, 6)), COV)
    path = rc.path([T, T.inverse()], [1.0, 2.0], "map")
    assert len(path.poses) == 2 and rc.stamp_to_seconds(path.poses[1].header.stamp) == 2.0
    with pytest.raises(ConversionError):
        rc.path([T], [1.0, 2.0], "map")


def test_arrow_marker():
    marker = rc.arrow_marker(
        rc.make_header(0.0, "cam"), [0, 0, 0], [0, -1, 1], (1.0, 0.8, 0.0, 1.0), "sun"
    )
    assert marker.type == Marker.ARROW and len(marker.points) == 2 and marker.points[1].y == -1.0
    with pytest.raises(ConversionError):
        rc.arrow_marker(rc.make_header(0.0, "cam"), [0, 0, 0], [np.nan, 0, 0], (1, 1, 1, 1), "sun")


def test_sun_direction_round_trip_and_refusals():
    header = rc.make_header(5.0, "camera_optical_frame")
    msg = rc.sun_direction_msg(
        header, [0.6, -0.8, 0.0], np.eye(3) * 0.01, 1.57, 0.64, np.eye(2) * 0.02, 32, True
    )
    direction, covariance, valid = rc.sun_direction_from_msg(msg)
    np.testing.assert_allclose(direction, [0.6, -0.8, 0.0])
    np.testing.assert_allclose(covariance, np.eye(3) * 0.01)
    assert valid and msg.sample_count == 32 and msg.header.frame_id == "camera_optical_frame"
    msg.direction.x = 0.9
    with pytest.raises(ConversionError, match="not a unit vector"):
        rc.sun_direction_from_msg(msg)
    with pytest.raises(ConversionError, match="NaN"):
        rc.sun_direction_msg(header, [0, 0, 1.0], np.full(9, np.nan), 0.0, 0.0, np.eye(2), 1, True)
