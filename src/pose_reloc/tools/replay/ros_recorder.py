"""Records what the nodes publish (and the bag's ground truth) to an MCAP bag, and keeps the
messages the figures need: PoseNet poses, fused poses, sun estimates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message

from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.posenet.evaluate import PoseSample
from pose_reloc.ros import convert as ros_convert
from pose_reloc.ros.node_tools import LATCHED_QOS, package_share
from pose_reloc.tools.replay.bag_stream import ReplayError, message_class
from pose_reloc.tools.replay.topics import OUTPUT_TOPICS, PATH_TOPIC
from sun_bcnn.inference import SunEstimate

RECORD_QOS_DEPTH = 1000


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    definition = package_share() / "msg" / "SunDirection.msg"
    if not definition.is_file():
        definition = Path(__file__).resolve().parents[3] / "msg" / "SunDirection.msg"
    store.register(get_types_from_msg(definition.read_text(), "pose_reloc/msg/SunDirection"))
    return store


def _stamp_ns(msg: Any, fallback_ns: int) -> int:
    header = getattr(msg, "header", None)
    if header is None and getattr(msg, "transforms", None):
        header = msg.transforms[0].header
    if header is None:
        return fallback_ns
    stamp = header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec) or fallback_ns


class OutputRecorder:
    def __init__(
        self,
        node: Node,
        bag_path: Path,
        posenet_latency_ms: Callable[[], float],
        sun_latency_ms: Callable[[], float],
        extra_topics: dict[str, str] | None = None,
    ):
        from rosbags.rosbag2 import StoragePlugin, Writer

        if bag_path.exists():
            raise ReplayError(f"{bag_path} exists already: choose another --out or remove it")
        bag_path.parent.mkdir(parents=True, exist_ok=True)
        self.node = node
        self.posenet_latency_ms, self.sun_latency_ms = posenet_latency_ms, sun_latency_ms
        self.store = _typestore()
        self.writer = Writer(bag_path, version=8, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.closed = False
        self.connections: dict[str, Any] = {}
        self.last_ns = 0
        self.priors: list[tuple[float, PoseSample]] = []
        self.fused: dict[float, tuple[Transform, np.ndarray]] = {}
        self.sun: list[tuple[float, SunEstimate]] = []
        for topic, msgtype in {**OUTPUT_TOPICS, **(extra_topics or {})}.items():
            self.connections[topic] = self.writer.add_connection(
                topic, msgtype, typestore=self.store
            )
            cls = message_class(msgtype)
            qos = LATCHED_QOS if topic == "/tf_static" else RECORD_QOS_DEPTH
            node.create_subscription(cls, topic, self._callback(topic, cls), qos, raw=True)

    def _callback(self, topic: str, cls: type) -> Callable[[bytes], None]:
        def record(raw: bytes) -> None:
            msg: Any = deserialize_message(raw, cls)
            stamp_ns = _stamp_ns(msg, self.last_ns)
            self.last_ns = max(self.last_ns, stamp_ns)
            self.writer.write(self.connections[topic], stamp_ns, raw)
            try:
                self._keep(topic, msg)
            except PoseRelocError as error:  # recorded, but left out of the figures
                self.node.get_logger().warning(
                    f"{topic}: a message the figures cannot use: {error}",
                    throttle_duration_sec=5.0,
                )

        return record

    def _keep(self, topic: str, msg: Any) -> None:
        stamp = ros_convert.stamp_to_seconds(msg.header.stamp) if hasattr(msg, "header") else 0.0
        if topic == "/reloc/posenet_pose":
            T, covariance = ros_convert.pose_with_covariance_to_transform(msg)
            self.priors.append((stamp, PoseSample(T, covariance, self.posenet_latency_ms())))
        elif topic == "/reloc/pose":
            self.fused[stamp] = ros_convert.pose_with_covariance_to_transform(msg)
        elif topic == "/sun/direction":
            self.sun.append((stamp, sun_estimate(msg, self.sun_latency_ms())))

    def finish(self, path: Any, frame_id: str) -> None:
        """Write the final reloc/path and close the bag (once; a no-op after that)."""
        if self.closed:
            return
        self.closed = True
        if path:
            topic, msgtype = PATH_TOPIC
            connection = self.writer.add_connection(topic, msgtype, typestore=self.store)
            message = ros_convert.path([p for _, p in path], [t for t, _ in path], frame_id)
            self.writer.write(connection, self.last_ns, serialize_message(message))
        self.writer.close()


def sun_estimate(msg: Any, latency_ms: float) -> SunEstimate:
    """A SunEstimate from a SunDirection message (spread: the angle covariance's RMS sigma)."""
    direction, covariance, valid = ros_convert.sun_direction_from_msg(msg)
    angle_covariance = np.asarray(msg.angle_covariance, float).reshape(2, 2)
    return SunEstimate(
        direction,
        covariance,
        float(msg.azimuth),
        float(msg.zenith),
        angle_covariance,
        int(msg.sample_count),
        float(np.degrees(np.sqrt(np.trace(angle_covariance)))),
        float("nan"),
        valid,
        latency_ms,
    )
