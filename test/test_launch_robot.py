"""launch_testing: `robot.launch.py` (with the static camera mount) starts the three nodes with the
shipped models and map, and they stay up. Runs on any ROS 2 machine (`launch_test` or pytest);
skipped where launch is not installed."""

from __future__ import annotations

import unittest

import pytest
from launch_support import LAUNCH_DIR, LAUNCH_MISSING

if LAUNCH_MISSING:
    pytest.skip(LAUNCH_MISSING, allow_module_level=True)
else:
    import launch_testing
    import launch_testing.actions
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    @pytest.mark.launch_test
    def generate_test_description():
        robot = IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_DIR / "robot.launch.py")),
            launch_arguments={"publish_camera_tf": "true", "providers": "[cpu]"}.items(),
        )
        return LaunchDescription([robot, launch_testing.actions.ReadyToTest()])

    class TestRobotLaunch(unittest.TestCase):
        def test_the_three_nodes_start_with_the_shipped_models(self, proc_output):
            proc_output.assertWaitFor("PoseNet model", timeout=60)
            proc_output.assertWaitFor("Sun-BCNN model", timeout=60)
            proc_output.assertWaitFor("feature map", timeout=60)

    @launch_testing.post_shutdown_test()
    class TestRobotShutdown(unittest.TestCase):
        def test_nodes_exit_cleanly(self, proc_info):
            launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
