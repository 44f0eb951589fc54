"""posenet_node: a first pose for a robot with no prior (the kidnapped robot) from one image.

The prior node: the pose comes from PoseNet, from image retrieval against the site's mapping frames
(`pose-reloc build-retrieval`), or from both (retrieval where PoseNet agrees with it, else PoseNet),
as `prior_source` says. Subscribes `image` (Image, or CompressedImage with compressed:=true) and
`camera_info`; publishes `reloc/posenet_pose` (PoseWithCovarianceStamped of base_link in map),
optionally `initialpose` (Nav2 AMCL) and an Isaac ROS Visual SLAM pose hint; serves
`reloc/relocalize` (std_srvs/Trigger: the next frame is localized); publishes `/diagnostics`.
Modes: startup (localize the first good frame), on_demand (only when asked), continuous
(rate-limited).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseWithCovarianceStamped
from sensor_msgs.msg import CameraInfo
from std_srvs.srv import Trigger

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform, propagate_pose_covariance, same_transform
from pose_reloc.posenet.localizer import PoseEstimate, PoseNetLocalizer
from pose_reloc.posenet.priors import PRIOR_SOURCES, PriorLocalizer
from pose_reloc.posenet.retrieval import NotRecognizedError, RetrievalLocalizer
from pose_reloc.ros import convert as ros_convert
from pose_reloc.ros.node_tools import (
    RELIABLE_QOS,
    SENSOR_QOS,
    DropCounter,
    TransformLookup,
    camera_from_info,
    diagnostics_message,
    image_for_camera,
    image_subscription,
    resolve_model_path,
    run_node,
)
from pose_reloc.ros.parameters import (
    POSITIVE,
    PolicyNode,
    declare_camera_extrinsic,
    declare_model_parameters,
    extrinsic_from_parameter,
    one_of,
)
from pose_reloc.site_identity import check_sites

MODES = ("startup", "on_demand", "continuous")


class PoseNetNode(PolicyNode):
    def __init__(self, **kwargs: Any):
        super().__init__("posenet_node", **kwargs)
        model = declare_model_parameters(self, "posenet_demo.onnx")
        p = self._declare_start_up_parameters()
        self._declare_runtime_parameters()
        source = p["prior_source"]
        posenet = (
            PoseNetLocalizer(model.path, model.providers, model.mc_samples, model.threads)
            if source in ("posenet", "both")
            else None
        )
        retrieval = (
            RetrievalLocalizer(resolve_model_path(p["retrieval_index"], "retrieval_demo.npz"))
            if source in ("retrieval", "both")
            else None
        )
        self.localizer = PriorLocalizer(posenet, retrieval)
        check_sites(p["site"], self.localizer.loaded(), self.get_logger().warning)
        self.start_applying(self._apply_parameters)
        self.get_logger().info(f"prior from {self._describe_sources()}, mode {self.mode}")
        self.drops = DropCounter(self)
        self.tf = TransformLookup(self)
        self._mount_inverse: tuple[Transform, Transform] | None = None  # T_base_cam, T_cam_base
        self.camera: PinholeCamera | None = None
        self.pending = self.mode == "startup"
        self.last_stamp = -np.inf
        self.stats: dict[str, Any] = {
            "received": 0,
            "localized": 0,
            "latency_ms": float("nan"),
            "callback_ms": float("nan"),
            "position_sigma_m": float("nan"),
            "last_source": "",
        }
        self.answers_by_source: Counter[str] = Counter()
        self.pose_publisher = self.create_publisher(
            PoseWithCovarianceStamped, "reloc/posenet_pose", RELIABLE_QOS
        )
        self.extra_publishers = [
            self.create_publisher(PoseWithCovarianceStamped, topic, RELIABLE_QOS)
            for topic in (
                p["initialpose_topic"] if p["publish_initialpose"] else "",
                p["isaac_pose_hint_topic"],
            )
            if topic
        ]
        self.diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", RELIABLE_QOS)
        self.create_subscription(CameraInfo, "camera_info", self.on_camera_info, SENSOR_QOS)
        self.image_subscription = image_subscription(self, p["compressed"], self.on_image)
        self.create_service(Trigger, "reloc/relocalize", self.on_relocalize)
        self.create_timer(1.0, self.publish_diagnostics)

    def _declare_start_up_parameters(self) -> dict[str, Any]:
        """What makes the subscriptions and publishers."""
        declare = self.declare
        return {
            "site": declare(
                "site",
                "",
                "the site this robot is at; a model or index made for another is refused "
                "(empty: no check)",
            ),
            "prior_source": declare(
                "prior_source",
                "both",
                "posenet | retrieval | both (retrieval where PoseNet agrees, else PoseNet)",
                check=one_of(PRIOR_SOURCES),
            ),
            "retrieval_index": declare(
                "retrieval_index",
                "",
                "retrieval index (pose-reloc build-retrieval); empty: models/retrieval_demo.npz",
            ),
            "compressed": declare(
                "compressed", False, "subscribe to `image` as sensor_msgs/CompressedImage"
            ),
            "publish_initialpose": declare(
                "publish_initialpose", False, "also publish to initialpose_topic (Nav2 AMCL)"
            ),
            "initialpose_topic": declare(
                "initialpose_topic", "initialpose", "topic for Nav2's initial pose"
            ),
            "isaac_pose_hint_topic": declare(
                "isaac_pose_hint_topic", "", "also publish here (Isaac ROS VSLAM hint); empty: off"
            ),
        }

    def _declare_runtime_parameters(self) -> None:
        """What `_apply_parameters` reads: a change takes effect with the next image."""
        self.declare(
            "mode",
            "startup",
            "startup | on_demand | continuous (set to startup at run time: as on_demand)",
            runtime=True,
            check=one_of(MODES),
        )
        self.declare(
            "continuous_rate_hz",
            1.0,
            "localizations per second in continuous mode",
            runtime=True,
            check=POSITIVE,
        )
        self.declare("map_frame", "map", "frame of the published pose", runtime=True)
        self.declare(
            "base_frame", "base_link", "the robot frame whose pose is published", runtime=True
        )
        declare_camera_extrinsic(self)

    def _apply_parameters(self, p: dict[str, Any]) -> None:
        self.mode = p["mode"]
        self.period_s = 1.0 / p["continuous_rate_hz"]
        self.map_frame, self.base_frame = p["map_frame"], p["base_frame"]
        self.fallback_extrinsic = extrinsic_from_parameter(p["camera_extrinsic"])

    def _describe_sources(self) -> str:
        parts = []
        if (posenet := self.localizer.posenet) is not None:
            parts.append(
                f"PoseNet {posenet.model.path} on {posenet.model.providers[0]} "
                f"({posenet.samples} MC samples)"
            )
        if (retrieval := self.localizer.retrieval) is not None:
            parts.append(f"retrieval over {retrieval.frames} frames of {retrieval.path}")
        return " and ".join(parts)

    def on_camera_info(self, msg: CameraInfo) -> None:
        self.camera = camera_from_info(msg, self.camera, self.drops) or self.camera

    def on_relocalize(
        self, request: Trigger.Request, response: Trigger.Response
    ) -> Trigger.Response:
        self.pending = True
        response.success = True
        response.message = "the next good frame will be localized"
        return response

    def _wanted(self, stamp: float) -> bool:
        if stamp < self.last_stamp - 1.0:  # time went backwards (a bag looped): start over
            self.last_stamp = -np.inf
        if self.mode == "continuous":  # at the rate, and at once when asked
            return self.pending or stamp - self.last_stamp >= self.period_s - 1e-6
        return self.pending

    def on_image(self, msg: Any) -> None:
        started = time.perf_counter()
        self.stats["received"] += 1
        stamp = ros_convert.stamp_to_seconds(msg.header.stamp)
        if not self._wanted(stamp):
            return
        rgb = image_for_camera(self, msg, self.camera, self.drops, "localizing")
        if rgb is None:
            return
        T_cam_base = self._camera_to_base(msg.header.frame_id)
        if T_cam_base is None:
            self.drops.drop(
                "no_extrinsic",
                f"no transform {msg.header.frame_id} -> {self.base_frame} in TF or camera_extrinsic",
            )
            return
        try:
            estimate = self.localizer.localize(rgb)
        except NotRecognizedError as error:
            self.drops.drop("not_recognized", str(error))
            return
        except PoseRelocError as error:
            self.drops.drop("inference", str(error))
            return
        self._publish(estimate, T_cam_base, msg.header.stamp)
        self.pending = False
        self.last_stamp = stamp
        self.stats["callback_ms"] = 1000.0 * (time.perf_counter() - started)

    def _camera_to_base(self, camera_frame: str) -> Transform | None:
        T_base_cam = self.tf.lookup(self.base_frame, camera_frame) or self.fallback_extrinsic
        if T_base_cam is None:
            return None
        cached = self._mount_inverse
        if cached is None or not same_transform(cached[0], T_base_cam):  # a mount rarely moves
            self._mount_inverse = cached = (T_base_cam, T_base_cam.inverse())
        return cached[1]

    def _publish(self, estimate: PoseEstimate, T_cam_base: Transform, stamp: Any) -> None:
        T_map_base, covariance = propagate_pose_covariance(
            estimate.covariance, estimate.T_map_cam, T_cam_base
        )
        header = ros_convert.make_header(0.0, self.map_frame)
        header.stamp = stamp
        msg = ros_convert.pose_with_covariance_stamped(T_map_base, covariance, header)
        self.pose_publisher.publish(msg)
        for publisher in self.extra_publishers:
            publisher.publish(msg)
        self.stats |= {
            "localized": self.stats["localized"] + 1,
            "latency_ms": estimate.inference_ms,
            "position_sigma_m": estimate.position_sigma_m,
            "last_source": estimate.source,
        }
        self.answers_by_source[estimate.source] += 1

    def publish_diagnostics(self) -> None:
        level = DiagnosticStatus.OK if self.camera is not None else DiagnosticStatus.WARN
        message = "ready" if self.camera is not None else "waiting for camera_info"
        posenet = self.localizer.posenet
        values = {
            "prior_source": self.localizer.source,
            "provider": posenet.model.providers[0] if posenet is not None else "",
            "mode": self.mode,
            "mc_samples": posenet.samples if posenet is not None else 0,
            "frames_received": self.stats["received"],
            "poses_published": self.stats["localized"],
            "last_latency_ms": f"{self.stats['latency_ms']:.1f}",
            "last_callback_ms": f"{self.stats['callback_ms']:.1f}",
            "last_position_sigma_m": f"{self.stats['position_sigma_m']:.2f}",
            "last_answer_from": self.stats["last_source"],
            **{f"answers_from_{k}": v for k, v in self.answers_by_source.items()},
            "frames_dropped": self.drops.total,
            **{f"dropped_{k}": v for k, v in self.drops.counts.items()},
        }
        self.diagnostics.publish(
            diagnostics_message(self, "pose_reloc: posenet_node", level, message, values)
        )


def main(args: list[str] | None = None) -> int:
    return run_node(PoseNetNode, "posenet_node", args)


if __name__ == "__main__":
    sys.exit(main())
