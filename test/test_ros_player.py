"""bag_player (the `ros2 bag play` stand-in replay.launch.py uses where rosbag2 is missing) over real
rclpy: every message of the chosen topics arrives, in order and at no more than the asked speed,
with /clock at the recorded times; bad arguments are refused by name."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import ROS_MISSING

DEMO_BAG = Path(__file__).resolve().parents[1] / "data" / "demo" / "kidnap_drive"
IMAGE = "/camera/image_raw/compressed"
INFO = "/camera/camera_info"
pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")


def test_plays_the_chosen_topics_in_order_with_clock_at_the_asked_rate(ros):
    from geometry_msgs.msg import PoseStamped
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, CompressedImage

    from pose_reloc.ros.node_tools import RELIABLE_QOS
    from pose_reloc.tools.replay.bag_stream import BagStream
    from pose_reloc.tools.replay.ros_player import BagPlayer

    rate = 20.0
    with BagStream(DEMO_BAG, image_topic=None, camera_info_topic=None) as stream:
        expected = stream.count(IMAGE)
        player = BagPlayer(ros.node("bag_player"), stream, rate, clock=True, topics=[IMAGE, INFO])
        images = ros.collect(CompressedImage, IMAGE, 1000)
        infos = ros.collect(CameraInfo, INFO, 1000)
        clocks = ros.collect(Clock, "/clock", 5000)
        ground_truth = ros.collect(PoseStamped, "/ground_truth/pose", RELIABLE_QOS)
        for publisher in (player.publishers[IMAGE], player.publishers[INFO], player.clock):
            assert ros.wait_for_subscribers(publisher)
        ros.spin_for(0.2)
        started = time.monotonic()
        playing = threading.Thread(target=player.play)
        playing.start()
        assert ros.spin_until(lambda: not playing.is_alive() and len(images) == expected, 60.0)
        elapsed = time.monotonic() - started
        ros.spin_until(lambda: len(infos) == expected and len(clocks) == 2 * expected, 5.0)
        duration_s = stream.duration_s
    assert len(images) == len(infos) == expected == 600
    assert not ground_truth, "a topic left out of --topics was played"
    assert elapsed >= duration_s / rate * 0.95, "played faster than the asked rate"
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in images]
    assert stamps == sorted(stamps)
    clock_s = [c.clock.sec + c.clock.nanosec * 1e-9 for c in clocks]
    assert len(clock_s) == 2 * expected  # one before each message
    assert clock_s == sorted(clock_s)
    assert clock_s[-1] - clock_s[0] == pytest.approx(duration_s, abs=0.11)


def test_a_shutdown_while_playing_stops_the_player_without_an_error():
    import rclpy
    from rclpy.node import Node

    from pose_reloc.tools.replay.bag_stream import BagStream
    from pose_reloc.tools.replay.ros_player import BagPlayer

    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("bag_player", context=context)
    with BagStream(DEMO_BAG, image_topic=None, camera_info_topic=None) as stream:
        player = BagPlayer(node, stream, rate=5.0, clock=True, topics=[IMAGE, INFO])
        outcome: dict[str, object] = {}

        def play() -> None:
            try:
                outcome["count"] = player.play()
            except Exception as error:  # what the launch test saw: "publisher's context is invalid"
                outcome["error"] = error

        playing = threading.Thread(target=play)
        playing.start()
        deadline = time.monotonic() + 30.0
        while player.published < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        context.shutdown()  # what rclpy's signal handler does on SIGINT
        playing.join(timeout=10.0)
        total = stream.count(IMAGE) + stream.count(INFO)
    assert not playing.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert 20 <= outcome["count"] < total  # type: ignore[operator]


def test_bad_arguments_are_refused_by_name(ros):
    from pose_reloc.errors import PoseRelocError
    from pose_reloc.tools.replay.bag_stream import BagStream
    from pose_reloc.tools.replay.ros_player import BagPlayer

    node = ros.node("bag_player")
    with BagStream(DEMO_BAG, image_topic=None, camera_info_topic=None) as stream:
        with pytest.raises(PoseRelocError, match="has no topic /camera/depth"):
            BagPlayer(node, stream, topics=["/camera/depth"])
        with pytest.raises(PoseRelocError, match="rate must be positive"):
            BagPlayer(node, stream, rate=0.0)
        player = BagPlayer(node, stream, topics=[INFO])
        with pytest.raises(PoseRelocError, match="no topic /nothing to wait on"):
            player.wait_for_subscribers("/nothing", 1, timeout_s=0.1)
        assert not player.wait_for_subscribers(INFO, 1, timeout_s=0.2)  # nobody listens
