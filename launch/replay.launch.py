"""ros2 launch pose_reloc replay.launch.py bag:=PATH [image:=...] [rate:=1.0] [rviz:=true]

Plays a bag with /clock into the three nodes on sim time (robot.launch.py), e.g. the demo bag:
bag:=data/demo/kidnap_drive (its images are compressed: the default here). The player is
`ros2 bag play --clock`, or pose_reloc's bag_player where rosbag2 is not installed
(player:=auto, the default, says which and why). When the player exits (the bag is over, or it
failed) the launch shuts down, unless shutdown_after_play:=false.
Uses only launch APIs present in ROS 2 Humble.
"""

from typing import NoReturn

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
    Shutdown,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PASSED_ON = {
    "image": ("/camera/image_raw/compressed", "image topic in the bag"),
    "camera_info": ("/camera/camera_info", "CameraInfo topic in the bag"),
    "compressed": ("true", "the image topic is sensor_msgs/CompressedImage"),
    "config": (
        PathJoinSubstitution([FindPackageShare("pose_reloc"), "config", "robot.yaml"]),
        "parameters of the three nodes",
    ),
    "providers": ("[tensorrt, cuda, cpu]", "ONNX Runtime providers in priority order"),
    "rviz": ("true", "start RViz"),
    "namespace": ("", "namespace of the three nodes"),
}
OWN = {
    "bag": (None, "rosbag2 folder to play"),
    "rate": ("1.0", "playback rate"),
    "player": (
        "auto",
        "ros2bag (`ros2 bag play`), pose_reloc (bag_player) or auto: ros2bag if installed",
    ),
    "shutdown_after_play": ("true", "shut the launch down when the player exits"),
}
PLAYER_CHOICES = ("auto", "ros2bag", "pose_reloc")
# The nodes subscribe the image before the first one is played (bag_player waits for them).
IMAGE_SUBSCRIBERS = "3"


def ros2bag_installed() -> bool:
    try:
        get_package_prefix("ros2bag")
        return True
    except PackageNotFoundError:
        return False


def player_and_nodes(context: LaunchContext) -> list:
    """The player and the three nodes; neither when the chosen player cannot run (said why)."""
    value = {name: LaunchConfiguration(name).perform(context) for name in OWN}
    choice = value["player"]
    if choice not in PLAYER_CHOICES:
        return refuse(f"player:={choice} is not one of {', '.join(PLAYER_CHOICES)}")
    if choice == "ros2bag" and not ros2bag_installed():
        return refuse(
            "player:=ros2bag but `ros2 bag` (ros2bag, rosbag2) is not installed: install "
            "ros-$ROS_DISTRO-ros2bag and ros-$ROS_DISTRO-rosbag2-storage-mcap, or use player:=auto"
        )
    shutdown = value["shutdown_after_play"].lower() in ("true", "1", "yes")
    on_exit = [Shutdown(reason="the bag player exited")] if shutdown else []
    robot = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("pose_reloc"), "launch", "robot.launch.py"])
        ),
        launch_arguments={
            **{name: LaunchConfiguration(name) for name in PASSED_ON},
            "use_sim_time": "true",
        }.items(),
    )
    if choice == "ros2bag" or (choice == "auto" and ros2bag_installed()):
        play = ExecuteProcess(
            cmd=["ros2", "bag", "play", value["bag"], "--clock", "--rate", value["rate"]],
            output="screen",
            on_exit=on_exit,
        )
        return [robot, play]
    notes = []
    if choice == "auto":
        notes.append(
            LogInfo(
                msg="`ros2 bag` (ros2bag) is not installed: playing with pose_reloc's bag_player"
            )
        )
    image = LaunchConfiguration("image").perform(context)
    play = Node(
        package="pose_reloc",
        executable="bag_player",
        name="bag_player",
        arguments=[
            *(value["bag"], "--clock", "--rate", value["rate"]),
            *("--wait-for", image, IMAGE_SUBSCRIBERS),
        ],
        output="screen",
        on_exit=on_exit,
    )
    return [*notes, robot, play]


def refuse(reason: str) -> NoReturn:
    """Stop before anything starts: `ros2 launch` prints the reason and exits with 1."""
    raise RuntimeError(reason)


def generate_launch_description() -> LaunchDescription:
    declared = [
        DeclareLaunchArgument(name, description=description)
        if default is None
        else DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in {**OWN, **PASSED_ON}.items()
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=player_and_nodes)])
