"""What the launch_testing tests share: whether ROS 2's launch, launch_testing and tf2_ros are
installed (a plain `import launch` is not proof: the repository's own launch/ folder imports as a
namespace package where ROS 2 has none), an isolated DDS domain for the launched processes, and a
probe that looks transforms up through a real tf2_ros Buffer."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

try:
    from launch import LaunchDescription  # noqa: F401
    from launch_testing.actions import ReadyToTest  # noqa: F401

    LAUNCH_MISSING: str | None = None
except ImportError:
    LAUNCH_MISSING = (
        "ROS 2 launch and launch_testing are not installed: `make setup` builds them where "
        "../shared/ros2 exists; any ROS 2 install has them"
    )
try:
    import tf2_ros  # noqa: F401

    TF2_MISSING: str | None = None
except ImportError:
    TF2_MISSING = "tf2_ros is not installed (`make setup` builds it where ../shared/ros2 exists)"

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_DIR = ROOT / "launch"
DEMO_BAG = ROOT / "data" / "demo" / "kidnap_drive"
DEMO_IMAGE = "/camera/image_raw/compressed"
DEMO_CAMERA_INFO = "/camera/camera_info"
# Below the range ros_harness uses (100-229), one per pytest process.
LAUNCH_DOMAIN_ID = 20 + os.getpid() % 70


def isolation_environment() -> list[Any]:
    """Launch actions that keep the launched graph on its own domain, on this machine."""
    from launch.actions import SetEnvironmentVariable

    local = [SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")]
    if os.environ.get("ROS_DISTRO") == "humble":  # before ROS_AUTOMATIC_DISCOVERY_RANGE existed
        local.append(SetEnvironmentVariable("ROS_LOCALHOST_ONLY", "1"))
    return [SetEnvironmentVariable("ROS_DOMAIN_ID", str(LAUNCH_DOMAIN_ID)), *local]


def demo_bag_player(*topics: str, rate: float = 1.0) -> Any:
    """pose_reloc's bag_player playing the demo bag with /clock once the three nodes subscribe."""
    from launch_ros.actions import Node

    return Node(
        package="pose_reloc",
        executable="bag_player",
        name="bag_player",
        arguments=[
            *(str(DEMO_BAG), "--clock", "--rate", str(rate), "--wait-for", DEMO_IMAGE, "3"),
            *(("--topics", *topics) if topics else ()),
        ],
        output="screen",
    )


def ros2_launch(launch_file: str, *arguments: str, timeout_s: float) -> Any:
    """`ros2 launch pose_reloc LAUNCH_FILE ARGS` run to its end on the launch domain (the command,
    as a user runs it: for launches that end by themselves, which race launch_testing's tests)."""
    import shutil
    import subprocess

    ros2 = shutil.which("ros2")
    assert ros2 is not None, "the ros2 command is not installed"
    environment = os.environ | {
        "ROS_DOMAIN_ID": str(LAUNCH_DOMAIN_ID),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    return subprocess.run(
        [ros2, "launch", "pose_reloc", launch_file, *arguments],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=environment,
        check=False,
    )


def started_pids(output: str) -> dict[str, int]:
    """{process name: pid} from `ros2 launch`'s "process started with pid [N]" lines."""
    import re

    return {
        name: int(pid)
        for name, pid in re.findall(
            r"\[INFO\] \[([\w-]+)\]: process started with pid \[(\d+)\]", output
        )
    }


def demo_bag_span_s() -> tuple[float, float]:
    """The demo bag's first and last recorded times (s since the epoch), from its metadata."""
    import yaml

    info = yaml.safe_load((DEMO_BAG / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    start = info["starting_time"]["nanoseconds_since_epoch"] * 1e-9
    return start, start + info["duration"]["nanoseconds"] * 1e-9


class TfProbe:
    """An rclpy node on the launch's domain with a tf2_ros Buffer and TransformListener."""

    def __init__(self) -> None:
        import rclpy
        import tf2_ros
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=LAUNCH_DOMAIN_ID)
        self.node = rclpy.create_node("tf_probe", context=self.context)
        self.buffer = tf2_ros.Buffer()
        self.listener = tf2_ros.TransformListener(self.buffer, self.node, spin_thread=False)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def lookup(self, target: str, source: str, timeout_s: float) -> Any:
        """The latest T_target_source as a TransformStamped, spinning until it exists."""
        from rclpy.time import Time

        deadline = time.monotonic() + timeout_s
        while not self.buffer.can_transform(target, source, Time()):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"tf2_ros found no {target} -> {source} within {timeout_s:.0f} s; "
                    f"frames: {self.buffer.all_frames_as_string()}"
                )
            self.executor.spin_once(timeout_sec=0.1)
        return self.buffer.lookup_transform(target, source, Time())

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def rpy_of(stamped: Any) -> tuple[float, float, float]:
    """Roll, pitch, yaw (fixed axes x, y, z) of a TransformStamped's rotation."""
    from scipy.spatial.transform import Rotation

    q = stamped.transform.rotation
    roll, pitch, yaw = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_euler("xyz")
    return float(roll), float(pitch), float(yaw)


def process_gone(pid: int) -> bool:
    """True when no process `pid` exists any more (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def assert_no_orphans(proc_info: Any) -> None:
    """Every process the launch started has exited."""
    alive = [
        f"{p.process_details['name']} (pid {p.process_details['pid']})"
        for p in proc_info.processes()
        if p.process_details and not process_gone(p.process_details["pid"])
    ]
    assert not alive, f"still running after the launch shut down: {alive}"
