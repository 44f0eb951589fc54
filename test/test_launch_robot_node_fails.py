"""launch_testing: when one node of `robot.launch.py` cannot start (here posenet_node, given a model
file that does not exist), the launch says why and shuts the other nodes down instead of leaving
half a graph running. Skipped where ROS 2 launch is not installed."""

from __future__ import annotations

import sys
import tempfile
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
    from launch_support import LAUNCH_DIR, assert_no_orphans, isolation_environment

    MISSING_MODEL = "/nonexistent/posenet_model.onnx"

    @pytest.mark.launch_test
    def generate_test_description():
        config = Path(tempfile.mkdtemp(prefix="pose_reloc_launch_")) / "bad_model.yaml"
        config.write_text(f"posenet_node:\n  ros__parameters:\n    model: {MISSING_MODEL}\n")
        robot = IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_DIR / "robot.launch.py")),
            launch_arguments={"config": str(config), "providers": "[cpu]"}.items(),
        )
        return LaunchDescription(
            [*isolation_environment(), robot, launch_testing.actions.ReadyToTest()]
        )

    class TestOneNodeFails(unittest.TestCase):
        def test_the_launch_shuts_down_the_other_nodes(self, proc_output, proc_info):
            proc_output.assertWaitFor(
                f"cannot start: model file {MISSING_MODEL}", process="posenet_node", timeout=60
            )
            # Nothing in this test stops them: only the launch's own shutdown does.
            for name in ("sun_bcnn_node", "vo_fusion_node"):
                proc_info.assertWaitForShutdown(process=name, timeout=60)

    @launch_testing.post_shutdown_test()
    class TestShutdown(unittest.TestCase):
        def test_the_failed_node_says_so_and_nothing_is_left_running(self, proc_info):
            launch_testing.asserts.assertExitCodes(
                proc_info, allowable_exit_codes=[1], process="posenet_node"
            )
            for name in ("sun_bcnn_node", "vo_fusion_node"):
                launch_testing.asserts.assertExitCodes(
                    proc_info, allowable_exit_codes=[0, -2, -15], process=name
                )
            assert_no_orphans(proc_info)
