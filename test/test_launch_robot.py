"""launch_testing: `ros2 launch pose_reloc robot.launch.py publish_camera_tf:=true` with the demo
bag played into it (images and camera_info only: the camera mount comes from the launch). The
fusion reaches TRACKING, `map -> odom` and the camera mount are looked up through a real tf2_ros
Buffer, and every process exits when the launch shuts down. Runs on any ROS 2 machine and here
where `make setup` built launch and tf2_ros from ../shared/ros2; skipped elsewhere."""

from __future__ import annotations

import math
import sys
import unittest
from pathlib import Path

import pytest

# `launch_test FILE` loads this file without its folder on sys.path (pytest puts it there).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from launch_support import LAUNCH_MISSING, TF2_MISSING

if LAUNCH_MISSING or TF2_MISSING:
    pytest.skip(LAUNCH_MISSING or TF2_MISSING, allow_module_level=True)
else:
    import launch_testing
    import launch_testing.actions
    import launch_testing.asserts
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch_support import (
        DEMO_CAMERA_INFO,
        DEMO_IMAGE,
        LAUNCH_DIR,
        TfProbe,
        assert_no_orphans,
        demo_bag_player,
        demo_bag_span_s,
        isolation_environment,
        rpy_of,
    )

    MOUNT = {"camera_x": "0.15", "camera_y": "0.02", "camera_z": "1.3"}
    MOUNT |= {"camera_roll": "-1.5707963", "camera_pitch": "0.0", "camera_yaw": "-1.5707963"}

    @pytest.mark.launch_test
    def generate_test_description():
        robot = IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_DIR / "robot.launch.py")),
            launch_arguments={
                "publish_camera_tf": "true",
                "providers": "[cpu]",
                "use_sim_time": "true",
                "image": DEMO_IMAGE,
                "camera_info": DEMO_CAMERA_INFO,
                "compressed": "true",
                **MOUNT,
            }.items(),
        )
        player = demo_bag_player(DEMO_IMAGE, DEMO_CAMERA_INFO)
        return LaunchDescription(
            [*isolation_environment(), robot, player, launch_testing.actions.ReadyToTest()]
        )

    class TestRobotLaunch(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            cls.tf = TfProbe()

        @classmethod
        def tearDownClass(cls):
            cls.tf.close()

        def test_1_nodes_start_with_the_shipped_models(self, proc_output):
            proc_output.assertWaitFor("prior from PoseNet", process="posenet_node", timeout=60)
            proc_output.assertWaitFor("Sun-BCNN model", process="sun_bcnn_node", timeout=60)
            proc_output.assertWaitFor("feature map", process="vo_fusion_node", timeout=60)

        def test_2_camera_mount_reaches_tf2_as_launched(self):
            mount = self.tf.lookup("base_link", "camera_optical_frame", timeout_s=30)
            t = mount.transform.translation
            self.assertAlmostEqual(t.x, 0.15, places=6)
            self.assertAlmostEqual(t.y, 0.02, places=6)
            self.assertAlmostEqual(t.z, 1.3, places=6)
            roll, pitch, yaw = rpy_of(mount)
            self.assertAlmostEqual(roll, -math.pi / 2, places=6)
            self.assertAlmostEqual(pitch, 0.0, places=6)
            self.assertAlmostEqual(yaw, -math.pi / 2, places=6)

        def test_3_fusion_tracks_and_publishes_map_to_odom(self, proc_output):
            proc_output.assertWaitFor("state TRACKING", process="vo_fusion_node", timeout=90)
            map_odom = self.tf.lookup("map", "odom", timeout_s=30)
            self.assertEqual(map_odom.header.frame_id, "map")
            self.assertEqual(map_odom.child_frame_id, "odom")
            t, q = map_odom.transform.translation, map_odom.transform.rotation
            self.assertTrue(all(math.isfinite(v) for v in (t.x, t.y, t.z, q.x, q.y, q.z, q.w)))
            # Stamped with the image it was computed from: bag time, which the nodes run on
            # through /clock (use_sim_time), not this machine's wall clock.
            start, end = demo_bag_span_s()
            stamp = map_odom.header.stamp.sec + map_odom.header.stamp.nanosec * 1e-9
            self.assertTrue(start <= stamp <= end, f"stamp {stamp} outside the bag {start}..{end}")

    @launch_testing.post_shutdown_test()
    class TestRobotShutdown(unittest.TestCase):
        def test_every_process_exits_cleanly(self, proc_info):
            launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
            assert_no_orphans(proc_info)
