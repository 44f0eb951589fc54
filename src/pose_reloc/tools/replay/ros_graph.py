"""The three nodes composed in one process over real rclpy/DDS, fed a bag in lockstep.

The player publishes each bag message on its own topic (as `ros2 bag play --clock` does, /clock
included; the nodes run on sim time) and, after each image, spins until every node has taken
that image before the next one goes out. Nothing is dropped for lack of CPU, so the run is
repeatable, and the wall time it takes measures what the graph can sustain: `realtime_factor` =
recorded seconds / wall seconds. Every output topic is recorded to an MCAP bag.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message
from rosgraph_msgs.msg import Clock
from std_srvs.srv import Trigger

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.rosbag import POSE_TYPES, static_chain
from pose_reloc.errors import PoseRelocError
from pose_reloc.posenet.node import PoseNetNode
from pose_reloc.ros import convert as ros_convert
from pose_reloc.ros.node_tools import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS, package_share
from pose_reloc.tools.replay.bag_stream import BagMessage, BagStream, ReplayError, message_class
from pose_reloc.tools.replay.results import FrameState, ReplayLog
from pose_reloc.tools.replay.ros_recorder import OutputRecorder
from sun_bcnn.node import SunBcnnNode
from vo_fusion.node import VoFusionNode
from vo_fusion.tracking import TrackingState

DELIVERY_TIMEOUT_S = 10.0
MATCH_TIMEOUT_S = 10.0
POLL_S = 0.0005  # sleep between rounds over the executors while waiting for DDS
SETTLE_SPINS = 4  # spins after every node took an image: services, priors and sun arrive


@dataclass
class ReplaySettings:
    bag: Path
    out: Path
    image_topic: str = "/camera/image_raw/compressed"
    camera_info_topic: str | None = "/camera/camera_info"
    camera_info_file: Path | None = None  # ROS camera_calibration YAML, when the bag has none
    gt_topic: str | None = "/ground_truth/pose"
    gt_sun_topic: str | None = "/ground_truth/sun"
    base_frame: str = "base_link"
    config: Path | None = None  # the nodes' parameters; None: share/pose_reloc/config/robot.yaml
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)  # per node, over config
    domain_id: int | None = None
    max_images: int | None = None


class ReplayGraph:
    """posenet_node, sun_bcnn_node and vo_fusion_node with a bag player and an output recorder."""

    def __init__(self, settings: ReplaySettings, stream: BagStream, camera: PinholeCamera | None):
        self.settings, self.stream, self.camera = settings, stream, camera
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        # One context (a DDS participant) and executor per node, as if each ran in its own
        # process: with all nodes in one participant, Fast DDS was seen to leave a matched
        # reader or a service without any message in about 1 run in 5.
        self.members: list[tuple[Node, SingleThreadedExecutor, Context]] = []
        try:
            self.posenet = self._add(PoseNetNode, "posenet_node")
            self.sun = self._add(SunBcnnNode, "sun_bcnn_node")
            self.fusion = self._add(VoFusionNode, "vo_fusion_node")
            self.player = self._plain_node("bag_player")
            self.recorder = OutputRecorder(
                self._plain_node("recorder"),
                settings.out / "outputs",
                posenet_latency_ms=lambda: float(self.posenet.stats["latency_ms"]),
                sun_latency_ms=lambda: float(self.sun.stats["latency_ms"]),
                extra_topics={
                    topic: stream.topics[topic]
                    for topic in (settings.gt_topic, settings.gt_sun_topic, "/tf_static")
                    if topic in stream.topics
                },
            )
        except BaseException:
            self.close()
            raise
        self.publishers: dict[str, Any] = {}
        self.clock = self.player.create_publisher(Clock, "/clock", 10)
        self.statics: dict[str, tuple[str, Any]] = {}

    # --- set-up -------------------------------------------------------------------------------
    def _node_arguments(self) -> list[str]:
        config = self.settings.config or package_share() / "config" / "robot.yaml"
        if not config.is_file():
            raise ReplayError(f"node parameters {config} do not exist: give --config FILE.yaml")
        remaps = ["-r", f"image:={self.settings.image_topic}"]
        if self.settings.camera_info_topic:
            remaps += ["-r", f"camera_info:={self.settings.camera_info_topic}"]
        return ["--ros-args", "--params-file", str(config), *remaps]

    def _add(self, node_type: Callable[..., Node], name: str) -> Any:
        values = {"use_sim_time": True, "compressed": self.stream.compressed}
        values |= self.settings.parameters.get(name, {})
        context = self._context()
        node = node_type(
            context=context,
            cli_args=self._node_arguments(),
            parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
        )
        return self._keep(node, context)

    def _plain_node(self, name: str) -> Node:
        context = self._context()
        return self._keep(Node(name, context=context), context)

    def _context(self) -> Context:
        context = Context()
        rclpy.init(context=context, domain_id=self.settings.domain_id)
        return context

    def _keep(self, node: Node, context: Context) -> Any:
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        self.members.append((node, executor, context))
        return node

    def _spin(self, timeout_s: float) -> None:
        """One round over every node's executor: each runs what is ready without waiting; then a
        short sleep (at most timeout_s) lets DDS deliver between participants."""
        for _, executor, _ in self.members:
            executor.spin_once(timeout_sec=0.0)
        time.sleep(min(timeout_s, POLL_S))

    def _publisher(self, topic: str, msgtype: str) -> Any:
        if topic not in self.publishers:
            qos = (
                SENSOR_QOS
                if topic in (self.settings.image_topic, self.settings.camera_info_topic)
                else LATCHED_QOS
                if topic == "/tf_static"
                else RELIABLE_QOS
            )
            self.publishers[topic] = self.player.create_publisher(
                message_class(msgtype), topic, qos
            )
        return self.publishers[topic]

    # --- the run ------------------------------------------------------------------------------
    def run(self, progress: Callable[[str], None] = print) -> ReplayLog:
        settings = self.settings
        log = ReplayLog(str(settings.bag), self.stream.duration_s)
        topics = [t for t in self.stream.topics if t != "/clock"]
        total = self.stream.count(settings.image_topic)
        if settings.max_images is not None:
            total = min(total, settings.max_images)
        for topic in topics:  # made up front, so discovery is done before the first message
            self._publisher(topic, self.stream.topics[topic])
        if self.camera is not None:
            self._publisher(self._camera_info_topic, "sensor_msgs/msg/CameraInfo")
        self._wait_for_graph()
        self._prime_camera_info()
        started = time.perf_counter()
        for message in self.stream.messages(topics):
            msg: Any = deserialize_message(message.raw, message_class(message.msgtype))
            self.clock.publish(
                Clock(clock=ros_convert.seconds_to_stamp(message.log_time_ns * 1e-9))
            )
            self._observe(message, msg, log)
            if message.topic == settings.image_topic:
                if log.images_published >= total:
                    break
                if self.camera is not None:
                    self._publish_camera_info(msg.header)
                self._step(message.topic, msg, log)
                if log.images_published % 50 == 0 or log.images_published == total:
                    progress(self._progress_line(log, total, started))
            else:
                self._publisher(message.topic, message.msgtype).publish(msg)
        log.wall_s = time.perf_counter() - started
        log.error = self.stream.error
        self._flush()
        self.recorder.finish(self.fusion.path, self.fusion.map_frame)
        log.priors, log.fused, log.sun = (
            self.recorder.priors,
            self.recorder.fused,
            self.recorder.sun,
        )
        log.prior_source = self.posenet.localizer.source
        log.prior_answers = dict(self.posenet.answers_by_source)
        log.published = {
            "prior_poses": int(self.posenet.stats["localized"]),
            "sun_estimates": int(self.sun.stats["estimated"]),
        }
        log.drops = {
            node.get_name(): dict(node.drops.counts)
            for node in (self.posenet, self.sun, self.fusion)
        }
        return log

    def _flush(self) -> None:
        """Let the last image's outputs reach the recorder before its bag is closed."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while time.monotonic() < deadline and (
            len(self.recorder.priors) < self.posenet.stats["localized"]
            or len(self.recorder.sun) < self.sun.stats["estimated"]
        ):
            self._spin(POLL_S)

    def _wait_for_graph(self) -> None:
        """Until DDS has matched every output to its readers (publisher side: the recorder and,
        for priors and sun, the fusion node) and the relocalize service to its client, so
        nothing is lost to discovery."""
        wanted = [
            (self.posenet.pose_publisher, 2),
            (self.sun.direction_publisher, 2),
            (self.fusion.pose_publisher, 1),
            (self.publishers[self.settings.image_topic], 3),
        ]
        if self._camera_info_topic in self.publishers:
            wanted.append((self.publishers[self._camera_info_topic], 2))
        deadline = time.monotonic() + MATCH_TIMEOUT_S
        while time.monotonic() < deadline and not (
            all(publisher.get_subscription_count() >= count for publisher, count in wanted)
            and self.fusion.relocalize.service_is_ready()
        ):
            self._spin(0.05)
        if not self._relocalize_round_trip():
            self.player.get_logger().warning(
                "reloc/relocalize did not answer the fusion node before the run: relocalization "
                "requests may go unanswered"
            )
        for publisher, count in wanted:
            if publisher.get_subscription_count() < count:
                self.player.get_logger().warning(
                    f"{publisher.topic_name}: {publisher.get_subscription_count()} of {count} "
                    f"readers matched after {MATCH_TIMEOUT_S:.0f} s; outputs may be missed"
                )

    def _relocalize_round_trip(self, attempts: int = 3) -> bool:
        """One answered call through the fusion node's own client before the first image: its
        first request is then not lost to discovery (seen with Fast DDS in one process)."""
        for _ in range(attempts):
            future = self.fusion.relocalize.call_async(Trigger.Request())
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and not future.done():
                self._spin(0.02)
            if future.done():
                return True
        return False

    def _prime_camera_info(self) -> None:
        """The bag's first camera_info before its first image (bags often log it just after)."""
        topic = self.settings.camera_info_topic
        if self.camera is not None or not topic or topic not in self.stream.topics:
            return
        for message in self.stream.messages([topic]):
            msg: Any = deserialize_message(message.raw, message_class(message.msgtype))
            nodes = (self.posenet, self.fusion)
            deadline = time.monotonic() + DELIVERY_TIMEOUT_S
            while any(n.camera is None for n in nodes) and time.monotonic() < deadline:
                self._publisher(topic, message.msgtype).publish(msg)  # best effort: again
                self._spin(0.05)
            return

    def _publish_camera_info(self, header: Any) -> None:
        assert self.camera is not None
        info = ros_convert.camera_to_camera_info(self.camera, header)
        self._publisher(self._camera_info_topic, "sensor_msgs/msg/CameraInfo").publish(info)

    @property
    def _camera_info_topic(self) -> str:
        return self.settings.camera_info_topic or "camera_info"

    def _step(self, topic: str, msg: Any, log: ReplayLog) -> None:
        """One image through the graph, in lockstep."""
        began = time.perf_counter()
        log.images_published += 1
        count = log.images_published
        sun_used_before = self.fusion.core.sun_counts["used"]
        self._publisher(topic, self.stream.topics[topic]).publish(msg)
        nodes = (self.posenet, self.sun, self.fusion)
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while any(n.stats["received"] < count for n in nodes) and time.monotonic() < deadline:
            self._spin(0.05)
        if any(n.stats["received"] < count for n in nodes):
            log.undelivered_images += 1
            for node in nodes:  # resynchronise so one lost image does not stall the rest
                node.stats["received"] = count
        for _ in range(SETTLE_SPINS):
            self._spin(0.002)
        last = self.fusion.last
        stamp = ros_convert.stamp_to_seconds(msg.header.stamp)
        log.frames.append(
            FrameState(
                stamp,
                last.state if last is not None else TrackingState.UNINITIALIZED,
                last.reason if last is not None else "no image tracked yet",
                self.fusion.frame_ms,
                last.map_inliers if last is not None else 0,
                self.fusion.core.sun_counts["used"] > sun_used_before,
            )
        )
        log.step_ms.append(1000.0 * (time.perf_counter() - began))

    def _observe(self, message: BagMessage, msg: Any, log: ReplayLog) -> None:
        """Ground truth and the camera mount, from the bag."""
        stamp = message.log_time_ns * 1e-9
        if hasattr(msg, "header"):
            stamp = ros_convert.stamp_to_seconds(msg.header.stamp)
        try:
            if message.topic == self.settings.gt_topic and message.msgtype in POSE_TYPES:
                pose = msg.pose.pose if hasattr(msg.pose, "pose") else msg.pose
                log.ground_truth.append((stamp, ros_convert.pose_msg_to_transform(pose)))
            elif message.topic == self.settings.gt_sun_topic and hasattr(msg, "vector"):
                vector = ros_convert.vector3_to_array(msg.vector)
                log.sun_truth_map.append((stamp, vector / np.linalg.norm(vector)))
            elif message.topic == "/tf_static":
                for t in msg.transforms:
                    self.statics[t.child_frame_id] = (
                        t.header.frame_id,
                        ros_convert.transform_stamped_to_transform(t),
                    )
            elif message.topic == self.settings.image_topic and log.T_base_cam is None:
                log.T_base_cam = static_chain(
                    self.statics, self.settings.base_frame, msg.header.frame_id
                )
        except PoseRelocError:
            pass  # no usable ground truth or mount: the figures that need them are left out

    def _progress_line(self, log: ReplayLog, total: int, started: float) -> str:
        elapsed = time.perf_counter() - started
        state = log.frames[-1].state.value if log.frames else "-"
        rate = log.images_published / elapsed if elapsed > 0 else float("nan")
        return f"  image {log.images_published}/{total}  {state:<13} {rate:5.1f} images/s"

    def close(self) -> None:
        """Close the outputs bag (readable even after an interrupted run) and the ROS graph."""
        if getattr(self, "recorder", None) is not None:
            self.recorder.finish([], self.fusion.map_frame)
        for node, executor, context in self.members:
            executor.remove_node(node)
            node.destroy_node()
            executor.shutdown()
            rclpy.try_shutdown(context=context)
        self.members.clear()
