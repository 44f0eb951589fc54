"""Shared node-layer tools: TF lookups without tf2_ros, drop counting, model paths."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import ROS_MISSING
from scipy.spatial.transform import Rotation

pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")

if not ROS_MISSING:
    from tf2_msgs.msg import TFMessage

    from pose_reloc.geometry import Transform
    from pose_reloc.ros import convert as ros_convert
    from pose_reloc.ros.node_tools import (
        LATCHED_QOS,
        RELIABLE_QOS,
        DropCounter,
        TransformLookup,
        resolve_model_path,
    )


def random_transform(seed):
    rng = np.random.default_rng(seed)
    return Transform(Rotation.random(random_state=seed), rng.normal(size=3))


@pytest.mark.parametrize("backend", ["tf2_ros", "tf_cache"])
def test_chained_lookups_across_tf_and_tf_static(ros, backend):
    if backend == "tf2_ros" and importlib.util.find_spec("tf2_ros") is None:
        pytest.skip("tf2_ros is not installed (`make setup` builds it where ../shared/ros2 exists)")
    node = ros.node("user")
    lookup = TransformLookup(node, use_tf2=backend == "tf2_ros")
    assert (lookup.buffer is not None) == (backend == "tf2_ros")
    T_map_odom, T_odom_base, T_base_cam = (
        random_transform(1),
        random_transform(2),
        random_transform(3),
    )
    publisher = ros.node("broadcaster")
    static = publisher.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
    dynamic = publisher.create_publisher(TFMessage, "/tf", RELIABLE_QOS)

    def stamped(T, parent, child):
        return ros_convert.transform_stamped(T, ros_convert.make_header(1.0, parent), child)

    static.publish(TFMessage(transforms=[stamped(T_base_cam, "base_link", "camera")]))
    ros.wait_for_subscribers(dynamic)
    dynamic.publish(
        TFMessage(
            transforms=[
                stamped(T_map_odom, "map", "odom"),
                stamped(T_odom_base, "odom", "base_link"),
            ]
        )
    )
    assert ros.spin_until(lambda: lookup.lookup("map", "camera") is not None)
    expected = T_map_odom @ T_odom_base @ T_base_cam
    np.testing.assert_allclose(
        lookup.lookup("map", "camera").as_matrix(), expected.as_matrix(), atol=1e-9
    )
    np.testing.assert_allclose(
        lookup.lookup("camera", "map").as_matrix(), expected.inverse().as_matrix(), atol=1e-9
    )
    np.testing.assert_allclose(
        lookup.lookup("odom", "camera").as_matrix(),
        (T_odom_base @ T_base_cam).as_matrix(),
        atol=1e-9,
    )
    assert lookup.lookup("map", "nowhere") is None
    if backend == "tf_cache":  # a cycle in published TF must not hang a lookup (tf2 refuses it)
        dynamic.publish(TFMessage(transforms=[stamped(T_map_odom, "odom", "map")]))
        assert ros.spin_until(lambda: "map" in lookup.links)
    assert lookup.lookup("camera", "elsewhere") is None


def test_drop_counter_counts_every_drop_by_reason(ros):
    counter = DropCounter(ros.node("dropper"))
    for _ in range(3):
        counter.drop("bad_image", "x")
    counter.drop("size_mismatch", "y")
    assert counter.counts == {"bad_image": 3, "size_mismatch": 1} and counter.total == 4


def test_model_paths_default_to_the_package_models_folder():
    assert resolve_model_path("", "posenet_demo.onnx").parts[-2:] == ("models", "posenet_demo.onnx")
    assert str(resolve_model_path("/abs/m.onnx", "x.onnx")) == "/abs/m.onnx"


STOPPED_MID_CALLBACK = """
import sys
import rclpy
from rclpy.node import Node
from std_msgs.msg import String
from pose_reloc.ros.node_tools import run_node

class Stopper(Node):
    def __init__(self):
        super().__init__("stopper")
        self.publisher = self.create_publisher(String, "chatter", 10)
        self.create_timer(0.01, self.tick)

    def tick(self):
        rclpy.shutdown()  # what SIGINT does while this callback runs
        self.publisher.publish(String(data="after"))  # raises: the context is invalid

sys.exit(run_node(Stopper, "stopper"))
"""

CRASHING_CALLBACK = STOPPED_MID_CALLBACK.replace(
    "rclpy.shutdown()  # what SIGINT does while this callback runs", "raise ValueError('a bug')"
)


def test_a_callback_cut_off_by_shutdown_is_a_clean_exit_but_a_bug_is_not():
    import subprocess
    import sys

    stopped = subprocess.run(
        [sys.executable, "-c", STOPPED_MID_CALLBACK], capture_output=True, text=True, timeout=60
    )
    assert stopped.returncode == 0, stopped.stderr
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_CALLBACK], capture_output=True, text=True, timeout=60
    )
    assert crashed.returncode != 0 and "a bug" in crashed.stderr
