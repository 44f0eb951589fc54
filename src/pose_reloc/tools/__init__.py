"""The tools on top: the `pose-reloc` command, replay of bags through the node graph, export, and
benchmarks. The only code allowed to import `sun_bcnn` and `vo_fusion` (and PoseNet) together.

- `cli`: the `pose-reloc` command, one module per sub-command.
- `replay`: a rosbag through the three nodes over rclpy, with metrics and a report (`make demo`).
- `export`: a training checkpoint of either network to an ONNX model with its card.
- `fusion_sources`: the priors and sun observations `evaluate fusion` feeds `vo_fusion`.
- `ros_benchmark`: bare inference against the running posenet_node.
"""
