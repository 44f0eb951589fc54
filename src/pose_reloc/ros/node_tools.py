"""Node-layer pieces the three nodes share: QoS profiles, TF lookups (tf2_ros where it exists, a
/tf_static + /tf cache where it does not), counted and throttled drops, diagnostics, model paths
and the package's share folder."""

from __future__ import annotations

import importlib.util
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
import rclpy.executors
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from numpy.typing import NDArray
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CompressedImage, Image
from tf2_msgs.msg import TFMessage

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import NotACameraImageError, PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.ros import convert as ros_convert
from pose_reloc.ros.stop_signals import init_without_rclpy_signals, spin_until_stopped

SENSOR_QOS = qos_profile_sensor_data
LATCHED_QOS = QoSProfile(
    depth=1,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    reliability=ReliabilityPolicy.RELIABLE,
    history=HistoryPolicy.KEEP_LAST,
)
RELIABLE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def package_share() -> Path:
    """share/pose_reloc of the install (ament index), else the source tree (running from a checkout)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("pose_reloc"))
    except Exception:  # ament index missing or package not registered: fall back to the checkout
        return Path(__file__).resolve().parents[2]


def resolve_model_path(value: str, default_name: str) -> Path:
    """A model parameter: empty = the shipped model; relative = relative to the package share."""
    path = Path(value) if value else Path("models") / default_name
    return path if path.is_absolute() else package_share() / path


class DropCounter:
    """Counts dropped messages by reason and logs each reason throttled (the node keeps running)."""

    def __init__(self, node: Node, throttle_s: float = 5.0):
        self.node, self.throttle_s = node, throttle_s
        self.counts: Counter[str] = Counter()
        self._last_logged: dict[str, float] = {}

    def drop(self, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        now = time.monotonic()
        if now - self._last_logged.get(reason, -1e9) >= self.throttle_s:
            self._last_logged[reason] = now
            self.node.get_logger().warning(
                f"dropped a message ({reason}): {detail} [{self.counts[reason]} so far]"
            )

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class TransformLookup:
    """T_target_source lookups: tf2_ros's Buffer where tf2_ros exists, otherwise a cache of /tf_static
    and /tf (latest transform per child frame) with chained lookups, which suffices for fixed
    sensor mounts and the latest pose."""

    def __init__(self, node: Node, use_tf2: bool | None = None):
        """use_tf2: None picks tf2_ros where it is installed; False forces the cache."""
        self.node = node
        self.buffer: Any = None
        self.links: dict[str, tuple[str, Transform]] = {}
        if use_tf2 is None:
            use_tf2 = importlib.util.find_spec("tf2_ros") is not None
        if use_tf2:
            import tf2_ros

            self.buffer = tf2_ros.Buffer()
            self.listener = tf2_ros.TransformListener(self.buffer, node)
        else:
            node.create_subscription(TFMessage, "/tf_static", self._store, LATCHED_QOS)
            node.create_subscription(TFMessage, "/tf", self._store, RELIABLE_QOS)

    def _store(self, msg: TFMessage) -> None:
        for stamped in msg.transforms:
            try:
                self.links[stamped.child_frame_id] = (
                    stamped.header.frame_id,
                    ros_convert.transform_stamped_to_transform(stamped),
                )
            except PoseRelocError as error:
                self.node.get_logger().warning(
                    f"ignored a bad transform: {error}", throttle_duration_sec=5.0
                )

    def lookup(self, target: str, source: str) -> Transform | None:
        if target == source:
            return Transform.identity()
        if self.buffer is not None:
            from rclpy.time import Time

            try:
                stamped = self.buffer.lookup_transform(target, source, Time())
            except (
                Exception
            ):  # tf2's LookupException, ConnectivityException, ExtrapolationException
                return None
            return ros_convert.transform_stamped_to_transform(stamped)
        return self._chain(target, source)

    def _ancestors(self, frame: str) -> dict[str, Transform]:
        """{ancestor: T_ancestor_frame} for the frame itself and every frame above it, nearest first."""
        chain = {frame: Transform.identity()}
        current, T_current_frame = frame, Transform.identity()
        while current in self.links:
            parent, T_parent_current = self.links[current]
            if parent in chain:  # a cycle in published TF: stop rather than loop forever
                break
            T_current_frame = T_parent_current @ T_current_frame
            current = parent
            chain[current] = T_current_frame
        return chain

    def _chain(self, target: str, source: str) -> Transform | None:
        above_source = self._ancestors(source)
        for ancestor, T_ancestor_target in self._ancestors(target).items():
            if ancestor in above_source:
                return T_ancestor_target.inverse() @ above_source[ancestor]
        return None


def camera_rgb(msg: Any, drops: DropCounter) -> NDArray[np.uint8] | None:
    """A camera frame as RGB, or None with the reason counted: `not_a_camera_image` for a depth,
    disparity or generic-type encoding (16UC1, 32FC1, mono16, ...), `bad_image` for a payload
    that cannot be decoded."""
    try:
        return ros_convert.camera_image_to_rgb(msg)
    except NotACameraImageError as error:
        drops.drop("not_a_camera_image", str(error))
    except PoseRelocError as error:
        drops.drop("bad_image", str(error))
    return None


def camera_from_info(
    msg: Any, previous: PinholeCamera | None, drops: DropCounter
) -> PinholeCamera | None:
    """The camera a CameraInfo describes, or None with `bad_camera_info` counted (NaN or
    non-positive focal lengths, a size outside 1..MAX_IMAGE_SIDE, ...): the caller keeps `previous`."""
    try:
        return ros_convert.camera_info_to_camera(msg)
    except PoseRelocError as error:
        kept = "the previous camera_info is kept" if previous is not None else "no camera yet"
        drops.drop("bad_camera_info", f"{error} ({kept})")
        return None


def image_for_camera(
    node: Node, msg: Any, camera: PinholeCamera | None, drops: DropCounter, purpose: str
) -> NDArray[np.uint8] | None:
    """The image as RGB when it fits `camera` (the latest camera_info); otherwise the reason is
    counted in `drops` (no camera_info yet, not a camera's encoding, undecodable, size differs)
    and None returned."""
    if camera is None:
        node.get_logger().info(f"waiting for camera_info before {purpose}", once=True)
        drops.drop("no_camera_info", "no camera_info received yet")
        return None
    rgb = camera_rgb(msg, drops)
    if rgb is None:
        return None
    if rgb.shape[:2] != (camera.height, camera.width):
        drops.drop(
            "size_mismatch",
            f"image {rgb.shape[1]}x{rgb.shape[0]}, camera_info {camera.width}x{camera.height}",
        )
        return None
    return rgb


def image_subscription(
    node: Node, compressed: bool, callback: Callable[[Any], None], topic: str = "image"
) -> Any:
    """Subscribe to `topic` as CompressedImage or Image (sensor-data QoS); remap it at launch."""
    return node.create_subscription(
        CompressedImage if compressed else Image, topic, callback, SENSOR_QOS
    )


def diagnostics_message(
    node: Node, name: str, level: bytes, message: str, values: dict[str, Any]
) -> DiagnosticArray:
    status = DiagnosticStatus(
        level=level, name=name, message=message, hardware_id=node.get_fully_qualified_name()
    )
    status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
    array = DiagnosticArray(status=[status])
    array.header.stamp = node.get_clock().now().to_msg()
    return array


def run_node(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """A node's console entry point: init, build (a PoseRelocError is a clean refusal to start,
    exit code 1), spin until SIGINT, SIGTERM or shutdown (an error once the context is shut down
    is part of stopping), clean up. The signals only set a flag that the spin loop polls
    (stop_signals says why)."""
    import sys

    stop = init_without_rclpy_signals(args)
    try:
        node = make_node()
    except PoseRelocError as error:
        print(f"[{name}] cannot start: {error}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    try:
        spin_until_stopped(node, stop)
    except rclpy.executors.ExternalShutdownException:
        pass
    except Exception:
        # A callback that was running when the context was shut down fails on its next
        # publish ("publisher's context is invalid"): that is the stop, not a crash.
        if rclpy.ok():
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        stop.restore()
    return 0
