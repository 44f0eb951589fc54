"""vo_fusion_node: where the robot's pose becomes accurate and continuous.

Subscribes `image` (Image, or CompressedImage with compressed:=true), `camera_info`,
`reloc/posenet_pose` (PoseWithCovarianceStamped of base_link in map: the prior), `sun/direction`
(pose_reloc/SunDirection, camera frame), and where the robot has them `odom` (nav_msgs/Odometry
of base_link in odom: wheels, VIO) and `imu` (sensor_msgs/Imu, in base_link or a frame TF turns
into it: its angular velocity the visual odometry's rotation prior, its linear acceleration a
tilt update where the robot was quasi-static), the visual odometry's motion prior. Publishes `reloc/pose`
(PoseWithCovarianceStamped of base_link in map; only once the map has confirmed a prior),
`odometry/visual` (Odometry of base_link in odom), `reloc/path` (Path in map), TF `map -> odom`
(and `odom -> base_link` with publish_odom_tf), and `/diagnostics` (state, reason, inliers,
drops; WARN "stale" once no image has been fused for stale_after_s). Calls `reloc/relocalize`
(std_srvs/Trigger) when it needs a PoseNet prior: at start, when tracking is lost, and while
tracking on odometry alone has left the position more than relocalize_above_std_m uncertain.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseWithCovarianceStamped
from nav_msgs.msg import Odometry
from nav_msgs.msg import Path as PathMsg
from pose_reloc.msg import SunDirection
from rclpy.time import Time
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, Imu
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform, propagate_pose_covariance
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
    package_share,
    run_node,
)
from pose_reloc.ros.parameters import (
    POSITIVE,
    PolicyNode,
    declare_camera_extrinsic,
    extrinsic_from_parameter,
    number_in,
)
from pose_reloc.site_identity import check_sites
from pose_reloc.sun import sun_at
from vo_fusion.feature_map import FeatureMap
from vo_fusion.fusion import (
    RELOCALIZE_REFINE,
    TRACKING_REFINE,
    FusionConfig,
    FusionCore,
    FusionOutput,
    TrackingState,
)
from vo_fusion.imu_readings import in_base_frame

LEVELS = {
    TrackingState.TRACKING: DiagnosticStatus.OK,
    TrackingState.RELOCALIZING: DiagnosticStatus.WARN,
    TrackingState.UNINITIALIZED: DiagnosticStatus.WARN,
    TrackingState.LOST: DiagnosticStatus.ERROR,
}


# Read into the FusionCore (and its map refinement) when it is built: it cannot change them safely.
CORE_PARAMETERS = (
    ("map_fix_period_s", 0.0, "map refinement at most this often (0: every frame)"),
    ("map_features", 1000, "ORB features per image for the map fix"),
    ("relocalize_features", 2000, "ORB features of an image confirming a prior when lost"),
    ("relocalize_min_inliers", 30, "map inliers that confirm a prior when lost"),
    ("lost_after_failures", 3, "untracked frames in a row before LOST"),
    (
        "lost_kept_fraction",
        0.5,
        "odometry keeping fewer of its points (and no map fix): LOST at once",
    ),
    ("lost_position_std_m", 10.0, "position std added when tracking is lost (m)"),
    ("lost_rotation_std_deg", 20.0, "rotation std added when tracking is lost"),
    ("relocalize_retry_s", 0.1, "ask posenet_node again this often while lost"),
    (
        "relocalize_above_std_m",
        5.0,
        "tracking with a position std above this (m): posenet_node is asked too",
    ),
    ("uncertain_retry_s", 1.0, "... this often (s)"),
    ("sun_min_interval_s", 5.0, "at most one sun update this often (s)"),
)


class VoFusionNode(PolicyNode):
    def __init__(self, **kwargs: Any):
        super().__init__("vo_fusion_node", **kwargs)
        p = self._declare_start_up_parameters()
        self._declare_runtime_parameters()
        feature_map, map_path = load_map(p["map"])
        check_sites(p["site"], [("map", map_path, feature_map.site)], self.get_logger().warning)
        self.core = FusionCore(
            feature_map,
            self._fusion_config(p),
            refine=replace(TRACKING_REFINE, max_features=p["map_features"]),
            relocalize=replace(
                RELOCALIZE_REFINE,
                max_features=p["relocalize_features"],
                min_inliers=p["relocalize_min_inliers"],
            ),
        )
        self.get_logger().info(
            f"feature map {p['map'] or 'default'}: {len(self.core.map)} "
            f"{self.core.map.descriptor_type} points in frame {self.core.map.frame_id}"
        )
        self.drops = DropCounter(self)
        self.tf = TransformLookup(self)
        self.camera: PinholeCamera | None = None
        self.last: FusionOutput | None = None
        self._camera_frame: str | None = None
        self._image_frame: str | None = None  # of the last image decoded for tracking
        self.path: deque[tuple[float, Transform]] = deque(maxlen=0)  # sized by path_length
        self.pose_publisher = self.create_publisher(
            PoseWithCovarianceStamped, "reloc/pose", RELIABLE_QOS
        )
        self.odometry_publisher = self.create_publisher(Odometry, "odometry/visual", RELIABLE_QOS)
        self.path_publisher = self.create_publisher(PathMsg, "reloc/path", RELIABLE_QOS)
        self.tf_publisher = self.create_publisher(TFMessage, "/tf", RELIABLE_QOS)
        self.diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", RELIABLE_QOS)
        self.relocalize: Any = self.create_client(Trigger, "reloc/relocalize")
        self.create_subscription(CameraInfo, "camera_info", self.on_camera_info, SENSOR_QOS)
        self.create_subscription(
            PoseWithCovarianceStamped, "reloc/posenet_pose", self.on_prior, RELIABLE_QOS
        )
        self.create_subscription(SunDirection, "sun/direction", self.on_sun, RELIABLE_QOS)
        self.create_subscription(Odometry, "odom", self.on_odometry, SENSOR_QOS)
        self.create_subscription(Imu, "imu", self.on_imu, SENSOR_QOS)
        self.image_subscription = image_subscription(self, p["compressed"], self.on_image)
        self.create_timer(1.0, self.publish_diagnostics)
        # Node clock (sim time with use_sim_time): a paused bag is not a stale pose.
        self._last_fused: Time | None = None  # node-clock time of the last image fused
        self._stale = False
        self._stale_timer: Timer | None = None
        self.stale_after_s = 0.0  # the parameter's, once applied
        self.frame_ms = float("nan")
        self.stats: dict[str, int] = {"received": 0}
        self.start_applying(self._apply_parameters)

    def _declare_start_up_parameters(self) -> dict[str, Any]:
        """The map, the image subscription and what the fusion core is built from."""
        p = {
            "site": self.declare(
                "site",
                "",
                "the site this robot is at; a map made for another is refused (empty: no check)",
            ),
            "map": self.declare(
                "map", "", "feature map file (pose-reloc build-map); empty: the demo map"
            ),
            "compressed": self.declare(
                "compressed", False, "subscribe to `image` as sensor_msgs/CompressedImage"
            ),
        }
        for name, default, description in CORE_PARAMETERS:
            p[name] = self.declare(name, default, description)
        return p

    def _declare_runtime_parameters(self) -> None:
        """What `_apply_parameters` reads: frames, outputs, the sun's use and the staleness."""
        declare = partial(self.declare, runtime=True)
        declare("map_frame", "map", "fixed frame of the map")
        declare("odom_frame", "odom", "continuous odometry frame")
        declare("base_frame", "base_link", "the robot's frame")
        declare_camera_extrinsic(self)
        declare("publish_odom_tf", False, "also publish odom -> base_link (no wheel odometry)")
        declare(
            "path_length",
            1000,
            "poses kept in reloc/path",
            check=number_in(0, float("inf"), "0 or positive"),
        )
        declare("use_sun", True, "correct orientation with sun/direction")
        declare(
            "use_robot_odometry",
            True,
            "the robot's own odometry on odom (nav_msgs/Odometry: wheels, VIO) is the visual "
            "odometry's motion prior (its distance, vision's rotation), and map -> odom is "
            "published against its odom -> base_link",
        )
        declare(
            "use_gyro",
            True,
            "the robot's gyro on imu (sensor_msgs/Imu angular velocity) is the visual "
            "odometry's rotation prior (turns at corners)",
        )
        declare(
            "use_gravity",
            True,
            "the robot's accelerometer on imu (sensor_msgs/Imu linear acceleration) corrects "
            "the tilt where the robot was quasi-static (needs use_gyro: the gyro tells when)",
        )
        declare(
            "origin_lat",
            43.6629,
            "map origin latitude (deg)",
            check=number_in(-90.0, 90.0, "in [-90, 90]"),
        )
        declare(
            "origin_lon",
            -79.3957,
            "map origin longitude (deg)",
            check=number_in(-180.0, 180.0, "in [-180, 180]"),
        )
        declare("origin_alt", 100.0, "map origin altitude (m)")
        declare("yaw_to_enu_deg", 0.0, "angle from east to the map's x axis (deg, CCW)")
        declare(
            "stale_after_s",
            1.0,
            "no image fused for this long (node clock): diagnostics WARN 'stale' and the "
            "reported std grows; the state is kept until images return (s)",
            check=POSITIVE,
        )

    def _apply_parameters(self, p: dict[str, Any]) -> None:
        self.map_frame, self.odom_frame = p["map_frame"], p["odom_frame"]
        self.base_frame, self.publish_odom_tf = p["base_frame"], p["publish_odom_tf"]
        self.use_sun, self.use_robot_odometry = p["use_sun"], p["use_robot_odometry"]
        self.use_gyro = p["use_gyro"]
        self.use_gravity = p["use_gravity"] and self.use_gyro
        if not self.use_robot_odometry:
            self.core.robot_odometry.clear()
        if not self.use_gyro:
            self.core.robot_gyro.clear()
        if not self.use_gravity:
            self.core.robot_gravity.clear()
        self.origin = (p["origin_lat"], p["origin_lon"], p["origin_alt"], p["yaw_to_enu_deg"])
        self.fallback_extrinsic = extrinsic_from_parameter(p["camera_extrinsic"])
        if self.path.maxlen != p["path_length"]:
            self.path = deque(self.path, maxlen=p["path_length"])  # the latest poses kept
        self._check_staleness_every(float(p["stale_after_s"]))

    def _check_staleness_every(self, stale_after_s: float) -> None:
        if self._stale_timer is not None:
            if stale_after_s == self.stale_after_s:
                return
            self.destroy_timer(self._stale_timer)
        self.stale_after_s = stale_after_s
        self._stale_timer = self.create_timer(min(1.0, 0.5 * stale_after_s), self.check_stale)

    @staticmethod
    def _fusion_config(p: dict[str, Any]) -> FusionConfig:
        return FusionConfig(
            map_fix_period_s=p["map_fix_period_s"],
            lost_after_failures=p["lost_after_failures"],
            lost_kept_fraction=p["lost_kept_fraction"],
            sun_min_interval_s=p["sun_min_interval_s"],
            relocalize_retry_s=p["relocalize_retry_s"],
            relocalize_above_std_m=p["relocalize_above_std_m"],
            uncertain_retry_s=p["uncertain_retry_s"],
            lost_position_std_m=p["lost_position_std_m"],
            lost_rotation_std_deg=p["lost_rotation_std_deg"],
        )

    # --- inputs -------------------------------------------------------------------------------
    def on_camera_info(self, msg: CameraInfo) -> None:
        camera = camera_from_info(msg, self.camera, self.drops)
        if camera is None:
            return
        if self.camera is not None and not _same_camera(self.camera, camera):
            self.get_logger().warning(
                "camera_info changed (new intrinsics or size): fusion restarts from a new prior"
            )
            self.core.reset()
        self.camera = camera
        self._camera_frame = msg.header.frame_id or self._camera_frame

    def on_prior(self, msg: PoseWithCovarianceStamped) -> None:
        if msg.header.frame_id != self.map_frame:
            self.drops.drop(
                "prior_wrong_frame",
                f"prior in frame {msg.header.frame_id!r}, not the map frame {self.map_frame!r}: "
                "give posenet_node and vo_fusion_node the same map_frame",
            )
            return
        try:
            T_map_base, covariance = ros_convert.pose_with_covariance_to_transform(msg)
            T_base_cam = self._camera_mount(self._camera_frame or "")
            if T_base_cam is None:
                self.drops.drop("no_extrinsic", "no camera mount yet: prior not used")
                return
            T_map_cam, covariance_cam = propagate_pose_covariance(
                covariance, T_map_base, T_base_cam
            )
            self.core.on_prior(
                T_map_cam, covariance_cam, ros_convert.stamp_to_seconds(msg.header.stamp)
            )
        except PoseRelocError as error:
            self.drops.drop("bad_prior", str(error))

    def on_sun(self, msg: Any) -> None:
        if not self.use_sun:
            return
        frame = msg.header.frame_id
        # The tracked images' frame; before the first image, the one camera_info names (a sun
        # estimate often arrives before the fusion has finished its first image).
        camera_frame = self._image_frame or self._camera_frame
        if camera_frame is None:
            self.drops.drop(
                "sun_before_camera",
                f"sun direction in frame {frame!r} before any camera_info or image: its frame "
                "cannot be checked against the camera's",
            )
            return
        if frame != camera_frame:
            self.drops.drop(
                "sun_wrong_frame",
                f"sun direction in frame {frame!r}, the camera's images are in "
                f"{camera_frame!r}: run sun_bcnn_node on the same image topic",
            )
            return
        try:
            sun_cam, covariance, valid = ros_convert.sun_direction_from_msg(msg)
        except PoseRelocError as error:
            self.drops.drop("bad_sun", str(error))
            return
        if not valid:
            return
        stamp = ros_convert.stamp_to_seconds(msg.header.stamp)
        try:
            sun_map, elevation = self._ephemeris(stamp)
            self.core.on_sun(sun_cam, covariance, sun_map, elevation, stamp)
        except PoseRelocError as error:
            self.drops.drop("bad_sun", str(error))

    def on_odometry(self, msg: Odometry) -> None:
        if not self.use_robot_odometry:
            return
        frames = (msg.header.frame_id, msg.child_frame_id)
        if frames != (self.odom_frame, self.base_frame):
            self.drops.drop(
                "odometry_wrong_frame",
                f"odometry of {frames[1]!r} in {frames[0]!r}, not of base_frame "
                f"{self.base_frame!r} in odom_frame {self.odom_frame!r}: map -> odom would not "
                "fit the robot's odom -> base_link (set odom_frame and base_frame to its frames)",
            )
            return
        try:
            T_odom_base = ros_convert.pose_msg_to_transform(msg.pose.pose)
            stamp = ros_convert.stamp_to_seconds(msg.header.stamp)
            self.core.on_odometry(T_odom_base, np.asarray(msg.pose.covariance), stamp)
        except PoseRelocError as error:
            self.drops.drop("bad_odometry", str(error))

    def on_imu(self, msg: Imu) -> None:
        if not self.use_gyro:
            return
        frame = msg.header.frame_id
        T_base_imu = (
            Transform.identity()
            if frame == self.base_frame
            else self.tf.lookup(self.base_frame, frame)
        )
        if T_base_imu is None:
            self.drops.drop(
                "imu_wrong_frame",
                f"imu in {frame!r}: no transform {self.base_frame} -> {frame!r} in TF",
            )
            return
        w, a = msg.angular_velocity, msg.linear_acceleration
        rate, covariance = in_base_frame(
            [w.x, w.y, w.z], msg.angular_velocity_covariance, T_base_imu.rotation
        )
        try:
            stamp = ros_convert.stamp_to_seconds(msg.header.stamp)
            self.core.on_gyro(rate, covariance, stamp)
        except PoseRelocError as error:
            self.drops.drop("bad_imu", str(error))
            return
        if not self.use_gravity:
            return
        force, covariance = in_base_frame(
            [a.x, a.y, a.z], msg.linear_acceleration_covariance, T_base_imu.rotation
        )
        try:
            self.core.on_accel(force, covariance, stamp)
        except PoseRelocError as error:
            self.drops.drop("bad_imu_acceleration", str(error))

    def _ephemeris(self, stamp: float) -> tuple[np.ndarray, float]:
        return sun_at(stamp, *self.origin)

    def on_image(self, msg: Any) -> None:
        started = time.perf_counter()
        self.stats["received"] += 1
        camera = self.camera
        rgb = image_for_camera(self, msg, camera, self.drops, "tracking")
        if rgb is None or camera is None:
            return
        self._camera_frame = self._image_frame = msg.header.frame_id
        T_base_cam = self._camera_mount(msg.header.frame_id)
        if T_base_cam is None:
            self.drops.drop(
                "no_extrinsic",
                f"no transform {self.base_frame} -> {msg.header.frame_id} in TF or camera_extrinsic",
            )
            return
        stamp = ros_convert.stamp_to_seconds(msg.header.stamp)
        output = self.core.on_image(
            rgb, camera, stamp, T_base_cam if self.use_robot_odometry or self.use_gyro else None
        )
        if self._stale:
            self.get_logger().info(
                f"images again after {self.seconds_since_image():.1f} s: the pose is current"
            )
            self._stale = False
        self._last_fused = self.get_clock().now()
        self._report(output)
        self._publish(output, T_base_cam, msg.header.stamp)
        self.frame_ms = 1000.0 * (time.perf_counter() - started)

    def _camera_mount(self, camera_frame: str) -> Transform | None:
        return self.tf.lookup(self.base_frame, camera_frame) or self.fallback_extrinsic

    # --- outputs ------------------------------------------------------------------------------
    def _report(self, output: FusionOutput) -> None:
        previous = self.last.state if self.last is not None else None
        if output.reset:
            self.get_logger().warning("time went backwards (bag looped?): fusion reset")
            self.path.clear()
        if output.state is not previous:
            self.get_logger().info(f"state {output.state.value}: {output.reason}")
        if output.request_relocalization:
            self._request_prior()
        self.last = output

    def _request_prior(self) -> None:
        if not self.relocalize.service_is_ready():
            self.get_logger().info(
                "reloc/relocalize is not available (is posenet_node running?)",
                throttle_duration_sec=10.0,
            )
            return
        self.relocalize.call_async(Trigger.Request())

    def _publish(self, output: FusionOutput, T_base_cam: Transform, stamp: Any) -> None:
        if output.T_map_cam is None or output.covariance is None or output.T_odom_cam is None:
            return
        T_cam_base = T_base_cam.inverse()
        T_map_base, covariance = propagate_pose_covariance(
            output.covariance, output.T_map_cam, T_cam_base
        )
        T_odom_base = output.T_odom_cam @ T_cam_base
        # With the robot's odometry, its odom -> base_link is in TF: map -> odom must fit it.
        # Where its messages do not reach this image yet, no map -> odom this frame (TF users
        # interpolate between the published ones) rather than one against another odom.
        robot_active = self.use_robot_odometry and bool(self.core.robot_odometry.samples)
        robot = self.core.robot_odometry.pose_at(output.stamp) if robot_active else None
        T_odom_base_tf = robot.T_odom_base if robot is not None else T_odom_base
        map_header = ros_convert.make_header(0.0, self.map_frame)
        map_header.stamp = stamp
        odom_header = ros_convert.make_header(0.0, self.odom_frame)
        odom_header.stamp = stamp
        self.pose_publisher.publish(
            ros_convert.pose_with_covariance_stamped(T_map_base, covariance, map_header)
        )
        odom_covariance = output.odom_covariance
        if odom_covariance is None:
            odom_covariance = np.zeros((6, 6))
        _, odom_covariance = propagate_pose_covariance(
            odom_covariance, output.T_odom_cam, T_cam_base
        )
        self.odometry_publisher.publish(
            ros_convert.odometry(T_odom_base, odom_covariance, odom_header, self.base_frame)
        )
        transforms = []
        if robot is not None or not robot_active:
            transforms.append(
                ros_convert.transform_stamped(
                    T_map_base @ T_odom_base_tf.inverse(), map_header, self.odom_frame
                )
            )
        if self.publish_odom_tf and transforms:
            transforms.append(
                ros_convert.transform_stamped(T_odom_base_tf, odom_header, self.base_frame)
            )
        if transforms:
            self.tf_publisher.publish(TFMessage(transforms=transforms))
        self.path.append((output.stamp, T_map_base))
        self.path_publisher.publish(
            ros_convert.path(
                [pose for _, pose in self.path], [t for t, _ in self.path], self.map_frame
            )
        )

    def seconds_since_image(self) -> float | None:
        """Node-clock seconds since the last image was fused; None before the first."""
        if self._last_fused is None:
            return None
        now = self.get_clock().now()
        if now < self._last_fused:  # the sim clock went back (bag looped): count from now
            self._last_fused = now
        return float((now - self._last_fused).nanoseconds) * 1e-9

    def check_stale(self) -> None:
        """Once no image has been fused for stale_after_s: say so (log, diagnostics at once)."""
        since = self.seconds_since_image()
        if self._stale or since is None or since < self.stale_after_s:
            return
        self._stale = True
        self.get_logger().warning(
            f"no image fused for {since:.1f} s: the pose is stale (state "
            f"{self.core.state.value} kept until images return)"
        )
        self.publish_diagnostics()

    def publish_diagnostics(self) -> None:
        last = self.last
        state = last.state if last is not None else self.core.state
        since = self.seconds_since_image()
        stale = since is not None and since >= self.stale_after_s
        elapsed = since or 0.0
        level, message = LEVELS[state], state.value
        reason = last.reason if last is not None else "no image yet"
        if stale:
            level = max(level, DiagnosticStatus.WARN)
            message = f"stale: no image for {elapsed:.1f} s ({state.value} before)"
            reason = f"stale: no image for {elapsed:.1f} s; last image: {reason}"
        values = {
            "state": state.value,
            "reason": reason,
            "stale": stale,
            "seconds_since_image": "none yet" if since is None else f"{since:.1f}",
            "odometry_inliers": last.odometry_inliers if last is not None else 0,
            "map_inliers": last.map_inliers if last is not None else 0,
            "frames_received": self.stats["received"],
            "last_frame_ms": f"{self.frame_ms:.1f}",
            "map_points": len(self.core.map),
            "reanchored": self.core.reanchored,
            **{f"sun_{k}": v for k, v in self.core.sun_counts.items()},
            **{f"robot_odometry_{k}": v for k, v in self.core.robot_odometry.counts.items()},
            **{f"robot_gyro_{k}": v for k, v in self.core.robot_gyro.counts.items()},
            **{f"robot_gravity_{k}": v for k, v in self.core.robot_gravity.counts.items()},
            "frames_dropped": self.drops.total,
            **{f"dropped_{k}": v for k, v in self.drops.counts.items()},
        }
        if last is not None and last.covariance is not None:
            std = np.sqrt(np.maximum(np.diag(last.covariance), 0.0))
            if stale:  # the robot may have moved since: grow as the filter does when coasting
                config = self.core.filter.config
                rates = np.array(
                    [config.lost_position_growth_m_per_s] * 3
                    + [np.radians(config.lost_rotation_growth_deg_per_s)] * 3
                )
                std = np.hypot(std, rates * elapsed)
            values["position_std_m"] = f"{float(np.max(std[:3])):.3f}"
            values["rotation_std_deg"] = f"{float(np.degrees(np.max(std[3:]))):.2f}"
        self.diagnostics.publish(
            diagnostics_message(self, "pose_reloc: vo_fusion_node", level, message, values)
        )


def load_map(value: str) -> tuple[FeatureMap, Path]:
    """The `map` parameter's file (empty: the demo map shipped in share/pose_reloc/models), and
    its path."""
    path = Path(value) if value else Path("models") / "demo_map.npz"
    if not path.is_absolute():
        path = package_share() / path
    return FeatureMap.load(path), path


def _same_camera(a: PinholeCamera, b: PinholeCamera) -> bool:
    return (
        (a.width, a.height) == (b.width, b.height)
        and np.allclose(a.K, b.K)
        and np.array_equal(a.D, b.D)
    )


def main(args: list[str] | None = None) -> int:
    return run_node(VoFusionNode, "vo_fusion_node", args)


if __name__ == "__main__":
    sys.exit(main())
