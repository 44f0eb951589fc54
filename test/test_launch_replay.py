"""`ros2 launch pose_reloc replay.launch.py` through the real ros2 command line: the demo bag played
(with `ros2 bag play`, or bag_player where rosbag2 is not installed, saying so) gets the fusion to
TRACKING and the launch ends by itself with the bag; with player:=ros2bag where rosbag2 is missing it
names what to install and exits with 1 before any node starts; with a bag that does not exist the
player says so and the launch shuts down instead of idling with nodes that never get an image.
(Run as a command, not under launch_testing: a launch that ends by itself races launch_testing's
active tests.) Skipped where ros2cli/launch are not installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from launch_support import DEMO_BAG, LAUNCH_MISSING, ros2_launch

ROS2 = shutil.which("ros2")
pytestmark = pytest.mark.skipif(
    bool(LAUNCH_MISSING) or ROS2 is None,
    reason=LAUNCH_MISSING or "the ros2 command is not installed",
)


def ros2bag_installed() -> bool:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("ros2bag")
    except PackageNotFoundError:
        return False
    return True


def ros2_launch_replay(*arguments: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return ros2_launch("replay.launch.py", "rviz:=false", *arguments, timeout_s=timeout_s)


NODES = ("posenet_node", "sun_bcnn_node", "vo_fusion_node")


def test_the_demo_bag_is_tracked_and_the_launch_ends_with_it():
    rate = 2.0  # the 60 s bag in 30 s
    result = ros2_launch_replay(
        f"bag:={DEMO_BAG}", f"rate:={rate}", "providers:=[cpu]", timeout_s=60 / rate + 120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "[vo_fusion_node]: state TRACKING" in output
    if not ros2bag_installed():
        assert (
            "`ros2 bag` (ros2bag) is not installed: playing with pose_reloc's bag_player" in output
        )
        assert re.search(r"\[bag_player-\d+\]: process has finished cleanly", output)
    # Nothing stopped the nodes but the launch itself when the player was done.
    for node in NODES:
        assert re.search(rf"\[{node}-\d+\]: process has finished cleanly", output), node


def test_player_ros2bag_without_rosbag2_says_what_to_install_and_starts_nothing(tmp_path):
    if ros2bag_installed():
        pytest.skip("ros2bag is installed: this case is for machines without it")
    result = ros2_launch_replay(f"bag:={tmp_path}", "player:=ros2bag", timeout_s=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "`ros2 bag` (ros2bag, rosbag2) is not installed" in output
    assert "ros2bag and ros-$ROS_DISTRO-rosbag2-storage-mcap" in output
    assert "process started" not in output


def test_a_player_that_fails_shuts_the_launch_down(tmp_path):
    missing = tmp_path / "no_such_bag"
    result = ros2_launch_replay(
        f"bag:={missing}", "player:=pose_reloc", "providers:=[cpu]", timeout_s=120
    )
    output = result.stdout + result.stderr
    assert f"bag {missing} does not exist" in output
    assert re.search(r"\[bag_player-\d+\]: process has died \[pid \d+, exit code 1", output)
    assert re.search(r"process\[bag_player-\d+\] was required: shutting down", output)
    # Nothing stopped the nodes but the launch itself, and `ros2 launch` returned (no timeout).
    for node in NODES:
        assert re.search(rf"\[{node}-\d+\]: process (has finished cleanly|has died)", output), node
