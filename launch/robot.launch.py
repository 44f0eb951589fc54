"""ros2 launch pose_reloc robot.launch.py [image:=/camera/image_raw] [rviz:=true] ...

The three pose_reloc nodes with their parameters from config/robot.yaml, camera, odometry and IMU
topics remapped, optionally a static camera mount (when the robot description has none) and
RViz. When one of the three nodes exits (a refusal to start, a crash), the whole launch shuts
down with the reason, so nothing is left running half a graph. Uses only launch APIs present in
ROS 2 Humble (valid on Humble, Jazzy and Kilted).
"""

import os
from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    LogInfo,
    OpaqueFunction,
    SetEnvironmentVariable,
    Shutdown,
)
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = {
    "namespace": ("", "namespace of the three nodes and their topics"),
    "config": (
        PathJoinSubstitution([FindPackageShare("pose_reloc"), "config", "robot.yaml"]),
        "parameters of the three nodes",
    ),
    "image": (
        "/camera/image_raw",
        "camera image topic (Image, or CompressedImage with compressed:=true)",
    ),
    "camera_info": ("/camera/camera_info", "the camera's CameraInfo topic"),
    "odom": ("/odom", "the robot's own odometry (nav_msgs/Odometry), if it has one"),
    "imu": ("/imu/data", "the robot's IMU (sensor_msgs/Imu; its gyro is used), if it has one"),
    "compressed": ("false", "subscribe to the image topic as sensor_msgs/CompressedImage"),
    "use_sim_time": ("false", "true when replaying a bag with --clock"),
    "providers": ("[tensorrt, cuda, cpu]", "ONNX Runtime providers in priority order"),
    "rviz": ("false", "also start RViz with rviz/pose_reloc.rviz"),
    "publish_camera_tf": (
        "false",
        "publish base_frame -> camera_frame from camera_xyz/camera_rpy (no robot description)",
    ),
    "base_frame": ("base_link", "the robot's frame"),
    "camera_frame": ("camera_optical_frame", "the camera's optical frame (frame_id of its images)"),
    "camera_x": ("0.15", "camera x in base_frame (m; the demo robot's mount)"),
    "camera_y": ("0.0", "camera y in base_frame (m)"),
    "camera_z": ("1.3", "camera z in base_frame (m)"),
    "camera_roll": ("-1.5707963", "optical frame roll in base_frame (rad; -pi/2: looking ahead)"),
    "camera_pitch": ("0.0", "optical frame pitch in base_frame (rad)"),
    "camera_yaw": ("-1.5707963", "optical frame yaw in base_frame (rad; -pi/2: looking ahead)"),
}


def installed(package: str, executable: str) -> bool:
    """Whether `ros2 run package executable` would find an executable."""
    try:
        path = Path(get_package_prefix(package)) / "lib" / package / executable
    except PackageNotFoundError:
        return False
    return path.is_file() and os.access(path, os.X_OK)


def camera_mount(context: LaunchContext) -> list:
    """tf2_ros's static_transform_publisher, or pose_reloc's own where that C++ executable is not
    installed (a Python-only tf2): same arguments, same latched /tf_static message."""
    value = {name: LaunchConfiguration(name).perform(context) for name in MOUNT_ARGUMENTS}
    arguments = [item for k in AXES for item in (f"--{k}", value[f"camera_{k}"])]
    arguments += ["--frame-id", value["base_frame"], "--child-frame-id", value["camera_frame"]]
    if installed("tf2_ros", "static_transform_publisher"):
        return [
            Node(
                package="tf2_ros",
                executable="static_transform_publisher",
                name="camera_mount_publisher",
                arguments=arguments,
            )
        ]
    return [
        LogInfo(
            msg="tf2_ros's static_transform_publisher is not installed: the camera mount is "
            "published by pose_reloc's static_tf_publisher"
        ),
        Node(
            package="pose_reloc",
            executable="static_tf_publisher",
            name="camera_mount_publisher",
            arguments=arguments,
            output="screen",
        ),
    ]


AXES = ("x", "y", "z", "roll", "pitch", "yaw")
MOUNT_ARGUMENTS = ("base_frame", "camera_frame", *(f"camera_{axis}" for axis in AXES))


def generate_launch_description() -> LaunchDescription:
    arg = {name: LaunchConfiguration(name) for name in ARGUMENTS}
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in ARGUMENTS.items()
    ]
    common = {
        "use_sim_time": arg["use_sim_time"],
        "compressed": arg["compressed"],
    }
    remappings = [(topic, arg[topic]) for topic in ("image", "camera_info", "odom", "imu")]

    def pose_reloc_node(executable: str, extra: dict) -> Node:
        return Node(
            package="pose_reloc",
            executable=executable,
            name=executable,
            namespace=arg["namespace"],
            parameters=[arg["config"], {**common, **extra}],
            remappings=remappings,
            output="screen",
            emulate_tty=True,
            on_exit=Shutdown(reason=f"{executable} exited"),
        )

    nodes = [
        pose_reloc_node("posenet_node", {"providers": arg["providers"]}),
        pose_reloc_node("sun_bcnn_node", {"providers": arg["providers"]}),
        pose_reloc_node("vo_fusion_node", {}),
    ]
    camera_tf = OpaqueFunction(
        function=camera_mount, condition=IfCondition(arg["publish_camera_tf"])
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=[
            "-d",
            PathJoinSubstitution([FindPackageShare("pose_reloc"), "rviz", "pose_reloc.rviz"]),
        ],
        parameters=[{"use_sim_time": arg["use_sim_time"]}],
        condition=IfCondition(arg["rviz"]),
    )
    return LaunchDescription(
        [
            *declared,
            # Fast DDS needs its large-data transport for camera-rate images (DESIGN.md).
            SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA"),
            *nodes,
            camera_tf,
            rviz,
        ]
    )
