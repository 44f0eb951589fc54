"""The node layer: the only part of the base that touches ROS 2.

- `convert`: every conversion between ROS messages and the base's types (images, camera info, poses,
  covariances, markers).
- `node_tools`: what the three nodes share (QoS, TF lookups, counted drops, diagnostics, the model
  parameters and their runtime policy, the entry point).
- `static_tf`: a `static_transform_publisher` stand-in for robots without tf2_ros's C++ one.
"""
