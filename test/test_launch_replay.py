"""launch_testing: `replay.launch.py` plays the demo bag with `ros2 bag play --clock` into the three
nodes on sim time, and the fusion node reaches TRACKING. Runs on any ROS 2 machine with rosbag2;
skipped where launch is not installed."""

from __future__ import annotations

import unittest

import pytest
from launch_support import DEMO_BAG, LAUNCH_DIR, LAUNCH_MISSING

if LAUNCH_MISSING:
    pytest.skip(LAUNCH_MISSING, allow_module_level=True)
else:
    import launch_testing.actions
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    @pytest.mark.launch_test
    def generate_test_description():
        replay = IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_DIR / "replay.launch.py")),
            launch_arguments={"bag": str(DEMO_BAG), "rviz": "false", "providers": "[cpu]"}.items(),
        )
        return LaunchDescription([replay, launch_testing.actions.ReadyToTest()])

    class TestReplayLaunch(unittest.TestCase):
        def test_fusion_tracks_the_demo_bag(self, proc_output):
            proc_output.assertWaitFor("state TRACKING", timeout=90)
