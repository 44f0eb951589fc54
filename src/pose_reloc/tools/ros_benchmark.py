"""`pose-reloc benchmark posenet`: bare ONNX inference against the whole node (image message in ->
pose message out, over real rclpy/DDS in one process), on the same image."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.context import Context
from rclpy.executors import Executor
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from pose_reloc.camera import PinholeCamera
from pose_reloc.evaluation.metrics import median
from pose_reloc.posenet.localizer import PoseNetLocalizer
from pose_reloc.posenet.node import PoseNetNode
from pose_reloc.posenet.priors import PriorLocalizer
from pose_reloc.posenet.retrieval import RetrievalLocalizer
from pose_reloc.ros import convert as ros_convert
from pose_reloc.ros.executors import make_executor
from pose_reloc.ros.node_tools import RELIABLE_QOS, SENSOR_QOS, resolve_model_path


def _spin_until(executor: Executor, done: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.001)
    return bool(done())


def benchmark_posenet(
    model: str | Path,
    rgb: np.ndarray,
    camera: PinholeCamera,
    frames: int = 100,
    samples: int = 0,
    providers: Sequence[str] = ("cpu",),
    prior_source: str = "posenet",
    retrieval_index: str | Path = "",
) -> dict[str, float | str]:
    """The prior's bare work (PoseNet inference, retrieval or both, as `prior_source` says) and
    the node doing the same, both on `providers` with the same sample count and index."""
    posenet = (
        PoseNetLocalizer(model, providers, samples) if prior_source in ("posenet", "both") else None
    )
    retrieval = (
        RetrievalLocalizer(resolve_model_path(str(retrieval_index), "retrieval_demo.npz"))
        if prior_source in ("retrieval", "both")
        else None
    )
    bare = _time_bare_inference(PriorLocalizer(posenet, retrieval), rgb, frames)
    mc_samples = posenet.samples if posenet is not None else samples
    parameters = _node_parameters(model, mc_samples, providers, prior_source, str(retrieval_index))
    through_node, in_callback = _time_through_node(parameters, rgb, camera, frames)
    result: dict[str, float | str] = {
        "prior_source": prior_source,
        "samples": float(mc_samples),
        "bare_inference_ms": float(np.median(bare)),
        "node_ms": median(through_node),
        "node_callback_ms": median(in_callback),
        "frames_through_node": float(len(through_node)),
    }
    result["node_over_bare"] = float(result["node_ms"]) / float(result["bare_inference_ms"])
    return result


def _time_bare_inference(
    localizer: PriorLocalizer, rgb: np.ndarray, frames: int, warm_up: int = 5
) -> list[float]:
    for _ in range(warm_up):
        localizer.localize(rgb)
    times_ms = []
    for _ in range(frames):
        started = time.perf_counter()
        localizer.localize(rgb)
        times_ms.append(1000 * (time.perf_counter() - started))
    return times_ms


def _node_parameters(
    model: str | Path,
    samples: int,
    providers: Sequence[str],
    prior_source: str,
    retrieval_index: str,
) -> list[Parameter]:
    """posenet_node localizing every image it gets, camera at base_link."""
    return [
        Parameter("model", value=str(model)),
        Parameter("prior_source", value=prior_source),
        Parameter("retrieval_index", value=retrieval_index),
        Parameter("providers", value=list(providers)),
        Parameter("mode", value="continuous"),
        Parameter("continuous_rate_hz", value=1000.0),
        Parameter("mc_samples", value=samples),
        Parameter("camera_extrinsic", value=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]),
    ]


def _time_through_node(
    parameters: list[Parameter],
    rgb: np.ndarray,
    camera: PinholeCamera,
    frames: int,
    warm_up: int = 5,
) -> tuple[list[float], list[float]]:
    """(Image published -> pose received, the node's own callback time) per frame, in ms."""
    context = Context()
    rclpy.init(context=context, domain_id=int(time.time()) % 100 + 100)
    executor = make_executor(context)  # as the node's own entry point spins it
    node = PoseNetNode(context=context, parameter_overrides=parameters)
    feeder = rclpy.create_node("benchmark_feeder", context=context)
    for n in (node, feeder):
        executor.add_node(n)
    received: list[float] = []
    feeder.create_subscription(
        PoseWithCovarianceStamped,
        "reloc/posenet_pose",
        lambda _: received.append(time.perf_counter()),
        RELIABLE_QOS,
    )
    images = feeder.create_publisher(Image, "image", SENSOR_QOS)
    info = feeder.create_publisher(CameraInfo, "camera_info", SENSOR_QOS)
    through_node: list[float] = []
    in_callback: list[float] = []
    try:
        _spin_until(executor, lambda: images.get_subscription_count() > 0, 10.0)
        info.publish(
            ros_convert.camera_to_camera_info(camera, ros_convert.make_header(0.0, "camera"))
        )
        _spin_until(executor, lambda: node.camera is not None, 10.0)
        for i in range(frames + warm_up):
            msg = ros_convert.array_to_image_msg(
                rgb, "rgb8", ros_convert.make_header(1.0 + i, "camera")
            )
            count = len(received)
            started = time.perf_counter()
            images.publish(msg)
            if _spin_until(executor, lambda c=count: len(received) > c, 5.0) and i >= warm_up:
                through_node.append(1000 * (received[-1] - started))
                in_callback.append(node.stats["callback_ms"])
    finally:
        executor.shutdown()
        node.destroy_node()
        feeder.destroy_node()
        rclpy.try_shutdown(context=context)
    return through_node, in_callback
