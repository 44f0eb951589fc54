"""The topics the three nodes publish (unnamespaced), with their types (ROS-free)."""

# Everything the three nodes publish, except reloc/path (written once, at the end: a growing
# path re-sent every frame would fill the bag).
OUTPUT_TOPICS = {
    "/reloc/posenet_pose": "geometry_msgs/msg/PoseWithCovarianceStamped",
    "/reloc/pose": "geometry_msgs/msg/PoseWithCovarianceStamped",
    "/odometry/visual": "nav_msgs/msg/Odometry",
    "/tf": "tf2_msgs/msg/TFMessage",
    "/sun/direction": "pose_reloc/msg/SunDirection",
    "/sun/direction_vector": "geometry_msgs/msg/Vector3Stamped",
    "/sun/marker": "visualization_msgs/msg/Marker",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}
PATH_TOPIC = ("/reloc/path", "nav_msgs/msg/Path")
