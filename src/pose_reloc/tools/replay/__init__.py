"""Replay a rosbag through the three nodes over real rclpy (`pose-reloc demo`, `pose-reloc replay`):
bag reading (`bag_stream`, ROS-free), the composed graph and its recorder (`ros_graph`,
`ros_recorder`), what it measured (`results`, ROS-free), the report (`report`) and the run (`run`)."""
