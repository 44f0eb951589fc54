"""launch_testing: `ros2 launch pose_reloc replay.launch.py bag:=data/demo/kidnap_drive` plays the
demo bag with /clock into the three nodes on sim time (with `ros2 bag play`, or pose_reloc's
bag_player where rosbag2 is not installed, saying so), the fusion reaches TRACKING, and when the
bag is over the launch shuts itself down with every process gone. Skipped where ROS 2 launch is
not installed."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

import pytest

# `launch_test FILE` loads this file without its folder on sys.path (pytest puts it there).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from launch_support import LAUNCH_MISSING

if LAUNCH_MISSING:
    pytest.skip(LAUNCH_MISSING, allow_module_level=True)
else:
    import launch_testing
    import launch_testing.actions
    import launch_testing.asserts
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch_support import DEMO_BAG, LAUNCH_DIR, assert_no_orphans, isolation_environment

    RATE = 2.0  # the 60 s bag in 30 s

    @pytest.mark.launch_test
    def generate_test_description():
        replay = IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_DIR / "replay.launch.py")),
            launch_arguments={
                "bag": str(DEMO_BAG),
                "rate": str(RATE),
                "rviz": "false",
                "providers": "[cpu]",
            }.items(),
        )
        return LaunchDescription(
            [*isolation_environment(), replay, launch_testing.actions.ReadyToTest()]
        )

    class TestReplayLaunch(unittest.TestCase):
        def test_1_fusion_tracks_the_demo_bag(self, proc_output):
            proc_output.assertWaitFor("state TRACKING", process="vo_fusion_node", timeout=90)

        def test_2_the_launch_ends_with_the_bag(self, proc_info):
            # Nothing in this test stops the nodes: the player's exit shuts the launch down.
            for name in ("posenet_node", "sun_bcnn_node", "vo_fusion_node"):
                proc_info.assertWaitForShutdown(process=name, timeout=60 / RATE + 60)

    @launch_testing.post_shutdown_test()
    class TestReplayShutdown(unittest.TestCase):
        def test_every_process_exits_cleanly(self, proc_info):
            launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
            assert_no_orphans(proc_info)
