"""`pose-reloc benchmark posenet`: bare ONNX inference against the posenet_node over rclpy."""

from __future__ import annotations

import argparse
import json

from pose_reloc.tools.cli.common import Commands, add_command, add_model_arguments


def add_parser(commands: Commands) -> None:
    parser = add_command(commands, "posenet", "bare ONNX inference vs the posenet_node over rclpy")
    add_model_arguments(parser, "posenet ONNX model")
    parser.add_argument(
        "--data", default="data/demo/kidnap_drive", help="dataset whose first image is used"
    )
    parser.add_argument("--frames", type=int, default=100, help="timed runs")
    parser.add_argument(
        "--prior-source",
        choices=["posenet", "retrieval", "both"],
        default="posenet",
        help="what the node and the bare run both do (the node's own default is both)",
    )
    parser.add_argument(
        "--retrieval-index", default="", help="retrieval index (default: the shipped demo's)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset

    frame = next(iter(read_dataset(args.data)))
    from pose_reloc.tools.ros_benchmark import benchmark_posenet  # rclpy: only when benchmarking

    result = benchmark_posenet(
        args.model,
        frame.image(),
        frame.camera,
        args.frames,
        args.samples,
        args.providers,
        args.prior_source,
        args.retrieval_index,
    )
    print(
        f"prior {result['prior_source']} ({result['samples']:.0f} MC samples), 1 image "
        f"{frame.camera.width}x{frame.camera.height}: "
        f"bare {result['bare_inference_ms']:.2f} ms, through the node (Image in -> pose out over "
        f"DDS) {result['node_ms']:.2f} ms: {result['node_over_bare']:.2f}x; of that, "
        f"{result['node_callback_ms']:.2f} ms in its image callback (decode, resize, inference, publish)"
    )
    print(json.dumps(result))
    return 0
