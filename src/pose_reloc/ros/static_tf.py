"""`ros2 run pose_reloc static_tf_publisher --x X ... --frame-id base_link --child-frame-id cam`:
one latched transform on /tf_static, with the arguments of tf2_ros's `static_transform_publisher`.
`robot.launch.py` uses it for `publish_camera_tf:=true` where that C++ executable is not installed
(a Python-only tf2 install), so the camera mount never depends on rclcpp being present."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import rclpy
from rclpy.node import Node
from scipy.spatial.transform import Rotation
from tf2_msgs.msg import TFMessage

from pose_reloc.geometry import Transform
from pose_reloc.ros import convert as ros_convert
from pose_reloc.ros.node_tools import LATCHED_QOS, run_node


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="static_tf_publisher",
        description="publish one static transform frame-id -> child-frame-id on /tf_static",
    )
    for axis in ("x", "y", "z"):
        parser.add_argument(f"--{axis}", type=float, default=0.0, help=f"translation {axis} (m)")
    for angle in ("roll", "pitch", "yaw"):
        parser.add_argument(f"--{angle}", type=float, default=None, help=f"{angle} (rad)")
    for component in ("qx", "qy", "qz", "qw"):
        parser.add_argument(f"--{component}", type=float, default=None, help="quaternion part")
    parser.add_argument("--frame-id", required=True, help="parent frame")
    parser.add_argument("--child-frame-id", required=True, help="child frame")
    return parser


def transform_from_args(args: argparse.Namespace) -> Transform:
    """T_parent_child from the arguments: roll/pitch/yaw (fixed axes x, y, z, as tf2's
    setRPY) or a quaternion, not both; a quaternion must be finite and non-zero."""
    angles = [args.roll, args.pitch, args.yaw]
    quaternion = [args.qx, args.qy, args.qz, args.qw]
    if any(a is not None for a in angles) and any(q is not None for q in quaternion):
        raise ValueError("give roll/pitch/yaw or qx/qy/qz/qw, not both")
    if any(q is not None for q in quaternion):
        q = np.array([0.0 if v is None else v for v in quaternion])
        if not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-9:
            raise ValueError(f"quaternion {q.tolist()} is not a rotation")
        rotation = Rotation.from_quat(q / np.linalg.norm(q))
    else:
        rotation = Rotation.from_euler("xyz", [0.0 if a is None else a for a in angles])
    translation = np.array([args.x, args.y, args.z])
    if not np.all(np.isfinite(translation)) or not np.all(np.isfinite(rotation.as_quat())):
        raise ValueError("the transform has a non-finite value")
    return Transform(rotation, translation)


class StaticTfPublisher(Node):
    """Publishes T_parent_child once on /tf_static (latched: late subscribers get it too)."""

    def __init__(self, T_parent_child: Transform, parent: str, child: str):
        super().__init__("static_tf_publisher")
        header = ros_convert.make_header(0.0, parent)
        header.stamp = self.get_clock().now().to_msg()
        stamped = ros_convert.transform_stamped(T_parent_child, header, child)
        self.publisher = self.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
        self.publisher.publish(TFMessage(transforms=[stamped]))
        self.get_logger().info(f"publishing {parent} -> {child} on /tf_static")


def main(argv: Sequence[str] | None = None) -> int:
    command_line = ["static_tf_publisher", *(sys.argv[1:] if argv is None else argv)]
    parser = build_parser()
    args = parser.parse_args(rclpy.utilities.remove_ros_args(command_line)[1:])
    try:
        T_parent_child = transform_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    return run_node(
        lambda: StaticTfPublisher(T_parent_child, args.frame_id, args.child_frame_id),
        "static_tf_publisher",
        command_line,
    )
