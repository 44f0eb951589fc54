"""pose_reloc's static_tf_publisher reads tf2_ros static_transform_publisher's arguments the same way:
roll/pitch/yaw about fixed x, y, z (tf2's setRPY) or a quaternion, never both."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROS_MISSING

pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")


def parse(*arguments: str):
    from pose_reloc.ros.static_tf import build_parser, transform_from_args

    args = build_parser().parse_args([*arguments, "--frame-id", "a", "--child-frame-id", "b"])
    return transform_from_args(args)


def test_rpy_is_about_fixed_axes_as_tf2_set_rpy():
    roll, pitch, yaw = 0.3, -0.2, 1.1
    T = parse("--x", "1", "--z", "2", "--roll", str(roll), "--pitch", str(pitch), "--yaw", str(yaw))
    c, s = np.cos, np.sin
    Rx = np.array([[1, 0, 0], [0, c(roll), -s(roll)], [0, s(roll), c(roll)]])
    Ry = np.array([[c(pitch), 0, s(pitch)], [0, 1, 0], [-s(pitch), 0, c(pitch)]])
    Rz = np.array([[c(yaw), -s(yaw), 0], [s(yaw), c(yaw), 0], [0, 0, 1]])
    np.testing.assert_allclose(T.rotation.as_matrix(), Rz @ Ry @ Rx, atol=1e-12)
    np.testing.assert_allclose(T.translation, [1.0, 0.0, 2.0])


def test_the_demo_mount_looks_ahead_along_base_x():
    T_base_cam = parse("--roll", "-1.5707963", "--yaw", "-1.5707963")
    # The optical axis (camera z) points along base_link x; image down (camera y) is base -z.
    np.testing.assert_allclose(T_base_cam.rotation.apply([0, 0, 1]), [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(T_base_cam.rotation.apply([0, 1, 0]), [0, 0, -1], atol=1e-6)


def test_a_quaternion_is_normalised_and_bad_ones_refused():
    T = parse("--qz", "2", "--qw", "2")
    np.testing.assert_allclose(T.rotation.as_quat(), [0, 0, np.sqrt(0.5), np.sqrt(0.5)])
    with pytest.raises(ValueError, match="not a rotation"):
        parse("--qx", "0", "--qw", "0")
    with pytest.raises(ValueError, match="not both"):
        parse("--roll", "0.1", "--qw", "1")
    with pytest.raises(ValueError, match="not a rotation"):
        parse("--qx", "nan", "--qw", "1")
