"""sun_bcnn_node: the sun direction seen by a camera, with uncertainty, from each image.

Subscribes `image` (Image, or CompressedImage with compressed:=true). For each image taken (at most
`rate_hz` per second of image time) publishes, with the image's header (stamp and camera frame):
- `sun/direction` (pose_reloc/SunDirection): unit vector, 3x3 and (azimuth, zenith) covariances,
  sample count, and `valid` (false when the MC-dropout samples disagree: overcast, covered lens);
- `sun/direction_vector` (geometry_msgs/Vector3Stamped), only for valid estimates, for consumers
  that cannot read a validity flag;
- `sun/marker` (visualization_msgs/Marker): an arrow from the camera along the direction, green when
  valid and grey (half transparent) when not, its head as wide as the spread of the samples at
  the arrow's tip (length x tan(spread));
and `/diagnostics` once a second (latency, validity rate, drops).
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Vector3Stamped
from pose_reloc.msg import SunDirection
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from pose_reloc.errors import PoseRelocError
from pose_reloc.ros import convert as ros_convert
from pose_reloc.ros.node_tools import (
    RELIABLE_QOS,
    DropCounter,
    camera_rgb,
    diagnostics_message,
    image_subscription,
    run_node,
)
from pose_reloc.ros.parameters import (
    POSITIVE,
    PolicyNode,
    declare_model_parameters,
    number_in,
)
from sun_bcnn.inference import (
    SunEstimate,
    SunEstimator,
)

VALID_RGBA = (0.1, 0.9, 0.1, 0.9)
INVALID_RGBA = (0.5, 0.5, 0.5, 0.5)
VALIDITY_WINDOW = 20  # estimates the diagnostics' validity rate is taken over


class SunBcnnNode(PolicyNode):
    def __init__(self, **kwargs: Any):
        super().__init__("sun_bcnn_node", **kwargs)
        model = declare_model_parameters(self, "sun_bcnn_demo.onnx")
        compressed = self.declare(
            "compressed", False, "subscribe to `image` as sensor_msgs/CompressedImage"
        )
        self._declare_runtime_parameters()
        self.estimator = SunEstimator(model.path, model.providers, model.mc_samples, model.threads)
        self.start_applying(self._apply_parameters)
        self.get_logger().info(
            f"Sun-BCNN model {self.estimator.model.path} on {self.estimator.model.providers[0]} "
            f"({self.estimator.samples} MC samples"
            + ("" if self.estimator.dropout_live else ", dropout not live: validity is not tested")
            + ")"
        )
        self.drops = DropCounter(self)
        self.last_stamp = -np.inf
        self.recent_valid: deque[bool] = deque(maxlen=VALIDITY_WINDOW)
        self.stats: dict[str, Any] = {
            "received": 0,
            "estimated": 0,
            "valid": 0,
            "latency_ms": float("nan"),
            "spread_deg": float("nan"),
        }
        self.direction_publisher = self.create_publisher(
            SunDirection, "sun/direction", RELIABLE_QOS
        )
        self.vector_publisher = self.create_publisher(
            Vector3Stamped, "sun/direction_vector", RELIABLE_QOS
        )
        self.marker_publisher = self.create_publisher(Marker, "sun/marker", RELIABLE_QOS)
        self.diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", RELIABLE_QOS)
        self.image_subscription = image_subscription(self, compressed, self.on_image)
        self.create_timer(1.0, self.publish_diagnostics)

    def _declare_runtime_parameters(self) -> None:
        """What `_apply_parameters` reads: a change takes effect with the next image."""
        self.declare(
            "rate_hz",
            2.0,
            "estimates per second of image time (0: every image)",
            runtime=True,
            check=number_in(0.0, float("inf"), "0 (every image) or positive"),
        )
        self.declare(
            "max_spread_deg",
            -1.0,
            "an estimate whose samples scatter more than this (RMS angle, deg) is not valid; "
            "-1: the value calibrated into the model",
            runtime=True,
            check=number_in(1e-9, 180.0, "in (0, 180] or -1", also=(-1.0,)),
        )
        self.declare(
            "min_mean_norm",
            -1.0,
            "an estimate whose mean of unit samples is shorter than this (0..1) is not valid; "
            "-1: the value calibrated into the model",
            runtime=True,
            check=number_in(0.0, 1.0, "in [0, 1] or -1", also=(-1.0,)),
        )
        self.declare(
            "marker_length_m",
            1.0,
            "length of the sun/marker arrow in RViz",
            runtime=True,
            check=POSITIVE,
        )

    def _apply_parameters(self, p: dict[str, Any]) -> None:
        self.period_s = _period(p["rate_hz"])
        self.marker_length_m = p["marker_length_m"]
        for name in ("max_spread_deg", "min_mean_norm"):  # -1: the model's calibrated value
            value = self.estimator.model_thresholds[name] if p[name] < 0 else float(p[name])
            setattr(self.estimator, name, value)

    def _wanted(self, stamp: float) -> bool:
        if stamp < self.last_stamp:  # time went backwards (a bag looped, a simulator reset)
            self.last_stamp = -np.inf
        return stamp - self.last_stamp >= self.period_s - 1e-6

    def on_image(self, msg: Any) -> None:
        self.stats["received"] += 1
        stamp = ros_convert.stamp_to_seconds(msg.header.stamp)
        if not self._wanted(stamp):
            return
        rgb = camera_rgb(msg, self.drops)
        if rgb is None:
            return
        try:
            estimate = self.estimator.estimate(rgb)
        except PoseRelocError as error:
            self.drops.drop("inference", str(error))
            return
        self._publish(estimate, msg.header)
        self.last_stamp = stamp

    def _publish(self, estimate: SunEstimate, header: Header) -> None:
        self.direction_publisher.publish(sun_direction_msg(estimate, header))
        if estimate.valid:
            vector = ros_convert.vector3(estimate.direction)
            self.vector_publisher.publish(Vector3Stamped(header=header, vector=vector))
        self.marker_publisher.publish(self._marker(estimate, header))
        self.recent_valid.append(estimate.valid)
        self.stats |= {
            "estimated": self.stats["estimated"] + 1,
            "valid": self.stats["valid"] + int(estimate.valid),
            "latency_ms": estimate.inference_ms,
            "spread_deg": estimate.spread_deg,
        }

    def _marker(self, estimate: SunEstimate, header: Header) -> Marker:
        length = self.marker_length_m
        spread = np.radians(min(estimate.spread_deg, 60.0))
        shaft = max(0.02 * length, 0.5 * length * np.tan(spread))  # head width: length x tan
        return ros_convert.arrow_marker(
            header,
            np.zeros(3),
            length * estimate.direction,
            VALID_RGBA if estimate.valid else INVALID_RGBA,
            "sun_bcnn",
            shaft_diameter=float(shaft),
            lifetime_s=max(1.0, 3.0 * self.period_s),
        )

    def publish_diagnostics(self) -> None:
        valid_rate = float(np.mean(self.recent_valid)) if self.recent_valid else float("nan")
        if self.stats["received"] == 0:
            level, message = DiagnosticStatus.WARN, "no image received yet"
        elif self.recent_valid and valid_rate == 0.0:
            level, message = (
                DiagnosticStatus.WARN,
                "sun not visible (every recent estimate invalid)",
            )
        else:
            level, message = DiagnosticStatus.OK, "running"
        values = {
            "provider": self.estimator.model.providers[0],
            "mc_samples": self.estimator.samples,
            "frames_received": self.stats["received"],
            "estimates_published": self.stats["estimated"],
            "valid_estimates": self.stats["valid"],
            "recent_valid_rate": f"{valid_rate:.2f}",
            "last_latency_ms": f"{self.stats['latency_ms']:.1f}",
            "last_spread_deg": f"{self.stats['spread_deg']:.1f}",
            "frames_dropped": self.drops.total,
            **{f"dropped_{k}": v for k, v in self.drops.counts.items()},
        }
        self.diagnostics.publish(
            diagnostics_message(self, "pose_reloc: sun_bcnn_node", level, message, values)
        )


def sun_direction_msg(estimate: SunEstimate, header: Header) -> SunDirection:
    """The SunDirection message of an estimate (header: the image's, camera optical frame)."""
    return ros_convert.sun_direction_msg(
        header,
        estimate.direction,
        estimate.covariance,
        estimate.azimuth,
        estimate.zenith,
        estimate.angle_covariance,
        estimate.samples,
        estimate.valid,
    )


def _period(rate_hz: float) -> float:
    return 0.0 if rate_hz == 0 else 1.0 / rate_hz


def main(args: list[str] | None = None) -> int:
    return run_node(SunBcnnNode, "sun_bcnn_node", args)


if __name__ == "__main__":
    sys.exit(main())
