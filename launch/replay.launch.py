"""ros2 launch pose_reloc replay.launch.py bag:=PATH [image:=...] [rate:=1.0] [rviz:=true]

`ros2 bag play --clock` of a bag and the three nodes on sim time (robot.launch.py), e.g. the demo
bag: bag:=data/demo/kidnap_drive (its images are compressed: the default here).
Uses only launch APIs present in ROS 2 Humble.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
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


def generate_launch_description() -> LaunchDescription:
    declared = [
        DeclareLaunchArgument("bag", description="rosbag2 folder to play"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
    ] + [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in PASSED_ON.items()
    ]
    robot = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("pose_reloc"), "launch", "robot.launch.py"])
        ),
        launch_arguments={
            **{name: LaunchConfiguration(name) for name in PASSED_ON},
            "use_sim_time": "true",
        }.items(),
    )
    play = ExecuteProcess(
        cmd=[
            *("ros2", "bag", "play", LaunchConfiguration("bag")),
            *("--clock", "--rate", LaunchConfiguration("rate")),
        ],
        output="screen",
    )
    return LaunchDescription([*declared, robot, play])
