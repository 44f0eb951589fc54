"""The node layer: the only part of the base that touches ROS 2.

- `convert`: every conversion between ROS messages and the base's types (images, camera info, poses,
  covariances, markers).
- `node_tools`: what the three nodes share (QoS, TF lookups, counted drops, diagnostics, model
  paths, the entry point).
- `parameters`: the one parameter policy (`PolicyNode`: each parameter is applied at run time or
  read at start-up and refused with a reason) and the model parameters posenet and sun share.
- `static_tf`: a `static_transform_publisher` stand-in for robots without tf2_ros's C++ one.
"""
