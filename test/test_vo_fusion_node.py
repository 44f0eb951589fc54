"""vo_fusion_node over real rclpy: a PoseNet-like prior becomes a tracked pose with TF map->odom,
odometry and a path; it asks for relocalization when it needs a prior; bad input is survived."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROS_MISSING
from test_vo_feature_map import MAP_SECONDS, mapping_config, render
from test_vo_fusion import POSENET_COVARIANCE, posenet_like
from test_vo_odometry import drive_config

pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")

if not ROS_MISSING:
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from nav_msgs.msg import Odometry, Path
    from pose_reloc.msg import SunDirection
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, Image
    from std_srvs.srv import Trigger
    from tf2_msgs.msg import TFMessage

    from pose_reloc.geometry import Transform, propagate_pose_covariance, translation_error_m
    from pose_reloc.ros import convert as ros_convert
    from pose_reloc.ros.node_tools import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS
    from vo_fusion.build_map import build_map
    from vo_fusion.errors import VoFusionError
    from vo_fusion.node import VoFusionNode

T_BASE_CAM = (
    Transform.from_xyz_quat([0.15, 0.0, 1.3], [-0.5, 0.5, -0.5, 0.5]) if not ROS_MISSING else None
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if ROS_MISSING:
        pytest.skip(ROS_MISSING)
    root = tmp_path_factory.mktemp("fusion_node")
    frames = render(mapping_config(), "drive", MAP_SECONDS, root / "map")
    map_path = build_map(frames, "orb", max_features=1000, log=lambda _: None).save(
        root / "map.npz"
    )
    return map_path, render(drive_config(), "drive", 3.0, root / "drive")


class Rig:
    """A vo_fusion_node, a feeder of images/camera_info/mount/priors, and a relocalize service."""

    def __init__(self, ros, map_path, **parameters):
        overrides = [Parameter("map", value=str(map_path))]
        overrides += [Parameter(k, value=v) for k, v in parameters.items()]
        self.ros = ros
        self.node = ros.add(VoFusionNode(context=ros.context, parameter_overrides=overrides))
        self.feeder = ros.node("feeder")
        self.images = self.feeder.create_publisher(Image, "image", SENSOR_QOS)
        self.info = self.feeder.create_publisher(CameraInfo, "camera_info", SENSOR_QOS)
        self.priors = self.feeder.create_publisher(
            PoseWithCovarianceStamped, "reloc/posenet_pose", RELIABLE_QOS
        )
        self.tf_static = self.feeder.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
        self.requests = []
        self.feeder.create_service(Trigger, "reloc/relocalize", self._on_relocalize)
        self.poses = ros.collect(PoseWithCovarianceStamped, "reloc/pose")
        self.odometry = ros.collect(Odometry, "odometry/visual")
        self.paths = ros.collect(Path, "reloc/path")
        self.tf = ros.collect(TFMessage, "/tf")
        self.diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
        ros.wait_for_subscribers(self.images)
        ros.wait_for_subscribers(self.priors)

    def _on_relocalize(self, request, response):
        self.requests.append(request)
        response.success = True
        return response

    def start(self, frame):
        header = ros_convert.make_header(0.0, "base_link")
        mount = ros_convert.transform_stamped(T_BASE_CAM, header, "camera")
        self.tf_static.publish(TFMessage(transforms=[mount]))
        self.publish_info(frame.camera, frame.stamp)

    def publish_info(self, camera, stamp):
        self.info.publish(
            ros_convert.camera_to_camera_info(camera, ros_convert.make_header(stamp, "camera"))
        )
        self.ros.spin_until(lambda: self.node.camera is not None, 5.0)

    def prior(self, T_map_cam, stamp):
        T_map_base, covariance = propagate_pose_covariance(
            POSENET_COVARIANCE, T_map_cam, T_BASE_CAM.inverse()
        )
        header = ros_convert.make_header(stamp, "map")
        before = self.node.core.prior
        self.priors.publish(
            ros_convert.pose_with_covariance_stamped(T_map_base, covariance, header)
        )
        self.ros.spin_until(lambda: self.node.core.prior is not before, 5.0)

    def send(self, pixels, stamp):
        before = self.node.last
        msg = ros_convert.array_to_image_msg(
            pixels, "rgb8", ros_convert.make_header(stamp, "camera")
        )
        self.images.publish(msg)
        assert self.ros.spin_until(lambda: self.node.last is not before, 10.0), "image lost"
        return self.node.last


def base_of(T_map_cam):
    return T_map_cam @ T_BASE_CAM.inverse()


def test_a_prior_becomes_a_tracked_pose_with_tf_odometry_and_path(ros, world):
    map_path, drive = world
    rig = Rig(ros, map_path)
    rig.start(drive[0])
    first = rig.send(drive[0].image(), drive[0].stamp)
    assert first.state.value == "RELOCALIZING"
    assert ros.spin_until(lambda: len(rig.requests) == 1), "no relocalization request at start"
    rig.prior(posenet_like(drive[1].T_wc), drive[1].stamp)
    for frame in drive[1:15]:
        output = rig.send(frame.image(), frame.stamp)
        assert output.state.value == "TRACKING", output.reason
    assert ros.spin_until(lambda: len(rig.poses) == 14 and len(rig.odometry) == 14)
    pose, covariance = ros_convert.pose_with_covariance_to_transform(rig.poses[-1])
    assert rig.poses[-1].header.frame_id == "map"
    assert translation_error_m(pose, base_of(drive[14].T_wc)) < 0.3
    assert np.all(np.linalg.eigvalsh(covariance) > 0) and covariance[0, 0] < 0.1
    # map -> odom composed with odom -> base_link (the odometry message) is the published pose.
    stamp = rig.poses[-1].header.stamp
    assert ros.spin_until(
        lambda: any(t.header.stamp == stamp for msg in rig.tf for t in msg.transforms)
    )
    map_odom = [
        t
        for msg in rig.tf
        for t in msg.transforms
        if t.child_frame_id == "odom" and t.header.stamp == stamp
    ]
    T_map_odom = ros_convert.transform_stamped_to_transform(map_odom[0])
    odometry = next(m for m in rig.odometry if m.header.stamp == stamp)
    T_odom_base, _ = ros_convert.pose_with_covariance_to_transform(odometry.pose)
    assert translation_error_m(T_map_odom @ T_odom_base, pose) < 1e-6
    assert rig.odometry[-1].header.frame_id == "odom"
    assert rig.odometry[-1].child_frame_id == "base_link"
    assert translation_error_m(T_map_odom @ T_odom_base, pose) < 1e-6
    assert ros.spin_until(lambda: len(rig.paths) > 0 and len(rig.paths[-1].poses) == 14)
    assert ros.spin_until(lambda: len(rig.diagnostics) > 0, 3.0)
    values = {kv.key: kv.value for kv in rig.diagnostics[-1].status[0].values}
    assert values["state"] == "TRACKING" and int(values["map_inliers"]) > 20


def test_bad_priors_and_featureless_images_are_survived_and_loss_asks_for_a_prior(ros, world):
    map_path, drive = world
    rig = Rig(ros, map_path, lost_after_failures=2, relocalize_retry_s=0.5)
    rig.start(drive[0])
    header = ros_convert.make_header(drive[0].stamp, "map")
    bad = PoseWithCovarianceStamped(header=header)
    bad.pose.pose.orientation.w = 1.0
    bad.pose.covariance = [float("nan")] * 36
    rig.priors.publish(bad)
    assert ros.spin_until(lambda: rig.node.drops.counts["bad_prior"] == 1, 5.0)
    rig.prior(posenet_like(drive[0].T_wc), drive[0].stamp)
    assert rig.send(drive[0].image(), drive[0].stamp).state.value == "TRACKING"
    black = np.zeros((240, 320, 3), np.uint8)
    requests_before = len(rig.requests)
    states = [rig.send(black, drive[0].stamp + 0.1 * k).state.value for k in range(1, 4)]
    assert "LOST" in states
    assert ros.spin_until(lambda: len(rig.requests) > requests_before, 5.0)
    # While lost the published covariance grows: no small covariance for a lost robot.
    assert ros.spin_until(lambda: len(rig.poses) >= 3)
    first_cov = np.array(rig.poses[0].pose.covariance).reshape(6, 6)
    last_cov = np.array(rig.poses[-1].pose.covariance).reshape(6, 6)
    assert np.trace(last_cov[:3, :3]) > np.trace(first_cov[:3, :3])
    # A wrong-size image is dropped and counted, and the node is still alive.
    rig.images.publish(
        ros_convert.array_to_image_msg(
            np.zeros((48, 64, 3), np.uint8), "rgb8", ros_convert.make_header(0.0, "camera")
        )
    )
    assert ros.spin_until(lambda: rig.node.drops.counts["size_mismatch"] == 1, 5.0)
    # Time going backwards resets; a new camera_info resets too.
    looped = rig.send(drive[0].image(), drive[0].stamp - 10.0)
    assert looped.reset and looped.state.value == "RELOCALIZING"
    rig.prior(posenet_like(drive[1].T_wc), drive[1].stamp)
    assert rig.send(drive[1].image(), drive[1].stamp).state.value == "TRACKING"
    rig.publish_info(drive[0].camera.scaled(640, 480), drive[1].stamp)
    assert ros.spin_until(lambda: rig.node.core.state.value == "UNINITIALIZED", 5.0)


def test_depth_images_and_a_garbage_camera_info_are_refused_and_the_camera_kept(ros, world):
    map_path, drive = world
    rig = Rig(ros, map_path)
    rig.start(drive[0])
    camera = rig.node.camera
    depth = np.full((camera.height, camera.width), 1500, np.uint16)  # the size fits: 16UC1 not
    for encoding in ("16UC1", "mono16"):
        rig.images.publish(
            ros_convert.array_to_image_msg(
                depth, encoding, ros_convert.make_header(drive[0].stamp, "camera_depth")
            )
        )
    assert ros.spin_until(lambda: rig.node.drops.counts["not_a_camera_image"] == 2, 5.0)
    assert rig.node.last is None, "a depth image was tracked"
    garbage = ros_convert.camera_to_camera_info(
        camera, ros_convert.make_header(drive[0].stamp, "camera")
    )
    garbage.width = garbage.height = 4294967295
    rig.info.publish(garbage)
    assert ros.spin_until(lambda: rig.node.drops.counts["bad_camera_info"] == 1, 5.0)
    assert rig.node.camera is camera, "the previous camera was not kept"
    assert rig.send(drive[0].image(), drive[0].stamp).state.value == "RELOCALIZING"


def test_priors_and_sun_directions_outside_their_frames_are_dropped(ros, world):
    map_path, drive = world
    rig = Rig(ros, map_path)
    suns = rig.feeder.create_publisher(SunDirection, "sun/direction", RELIABLE_QOS)
    ros.wait_for_subscribers(suns)
    drops = rig.node.drops.counts

    def sun(frame, stamp):
        header = ros_convert.make_header(stamp, frame)
        return ros_convert.sun_direction_msg(
            header, [0.0, -0.6, 0.8], 1e-3 * np.eye(3), 0.0, 0.5, 1e-3 * np.eye(2), 10, True
        )

    suns.publish(sun("camera", drive[0].stamp))  # no camera_info nor image yet: frame unknown
    assert ros.spin_until(lambda: drops["sun_before_camera"] == 1, 5.0)
    rig.start(drive[0])  # camera_info in "camera"
    suns.publish(sun("camera_rear", drive[0].stamp))  # before any image: against camera_info's
    assert ros.spin_until(lambda: drops["sun_wrong_frame"] == 1, 5.0)
    T_map_base, covariance = propagate_pose_covariance(
        POSENET_COVARIANCE, posenet_like(drive[0].T_wc), T_BASE_CAM.inverse()
    )
    odom_prior = ros_convert.pose_with_covariance_stamped(
        T_map_base, covariance, ros_convert.make_header(drive[0].stamp, "odom")
    )
    rig.priors.publish(odom_prior)
    assert ros.spin_until(lambda: drops["prior_wrong_frame"] == 1, 5.0)
    assert rig.node.core.prior is None
    rig.send(drive[0].image(), drive[0].stamp)  # frame "camera"
    suns.publish(sun("camera_rear", drive[1].stamp))
    assert ros.spin_until(lambda: drops["sun_wrong_frame"] == 2, 5.0)
    assert rig.node.core.sun is None
    suns.publish(sun("camera", drive[1].stamp))  # the tracked camera's: kept for its image
    assert ros.spin_until(lambda: rig.node.core.sun is not None, 5.0)
    rig.prior(posenet_like(drive[1].T_wc), drive[1].stamp)
    assert rig.node.core.prior is not None
    assert rig.node.drops.total == 4


def test_a_pose_without_new_images_is_reported_stale_and_its_std_grows(ros, world):
    map_path, drive = world
    rig = Rig(ros, map_path, use_sim_time=True, stale_after_s=3.0)
    clock = rig.feeder.create_publisher(Clock, "/clock", 10)
    ros.wait_for_subscribers(clock)

    def set_clock(seconds):
        clock.publish(Clock(clock=ros_convert.seconds_to_stamp(seconds)))
        target = round(seconds * 1e9)
        assert ros.spin_until(lambda: rig.node.get_clock().now().nanoseconds == target, 5.0)

    def diagnostics_after(count, want):
        found = []

        def seen():
            found[:] = [d.status[0] for d in rig.diagnostics[count:] if want(d.status[0])]
            return bool(found)

        assert ros.spin_until(seen, 5.0), [d.status[0].message for d in rig.diagnostics[count:]]
        return found[-1], {kv.key: kv.value for kv in found[-1].values}

    set_clock(100.0)  # sim time stands still while the images come: nothing is stale
    rig.start(drive[0])
    rig.send(drive[0].image(), drive[0].stamp)
    rig.prior(posenet_like(drive[1].T_wc), drive[1].stamp)
    for frame in drive[1:4]:
        assert rig.send(frame.image(), frame.stamp).state.value == "TRACKING"
    count = len(rig.diagnostics)
    set_clock(112.0)  # 12 s without an image
    status, values = diagnostics_after(count, lambda s: "stale" in s.message)
    assert status.level == DiagnosticStatus.WARN
    assert "no image for 12.0 s" in status.message and values["stale"] == "True"
    assert values["state"] == "TRACKING" and float(values["seconds_since_image"]) == 12.0
    assert float(values["position_std_m"]) > 5.0  # 0.5 m/s for 12 s, as the filter coasts
    assert float(values["rotation_std_deg"]) > 50.0
    # Images again: current at once, the std is the filter's again.
    assert rig.send(drive[4].image(), drive[4].stamp).state.value == "TRACKING"
    count = len(rig.diagnostics)
    set_clock(114.0)  # 2 s after that image: within stale_after_s
    status, values = diagnostics_after(count, lambda s: "stale" not in s.message)
    assert status.level == DiagnosticStatus.OK, (status.message, values)
    assert values["stale"] == "False" and float(values["position_std_m"]) < 1.0


@pytest.mark.parametrize("problem", ["missing", "empty", "corrupt"])
def test_a_bad_map_stops_the_node_from_starting_with_the_file_named(ros, tmp_path, problem):
    path = tmp_path / "city_map.npz"
    if problem == "empty":
        path.write_bytes(b"")
    elif problem == "corrupt":
        path.write_bytes(b"PK\x03\x04 not a map")
    with pytest.raises(VoFusionError, match=r"city_map\.npz"):
        VoFusionNode(context=ros.context, parameter_overrides=[Parameter("map", value=str(path))])


def test_a_map_of_another_site_stops_the_node_from_starting(ros, world, tmp_path):
    from pose_reloc.site_identity import SiteMismatchError
    from vo_fusion.feature_map import FeatureMap

    feature_map = FeatureMap.load(world[0])
    feature_map.metadata["site"] = "yard"
    path = feature_map.save(tmp_path / "yard_map.npz")

    def node(site):
        return VoFusionNode(
            context=ros.context,
            parameter_overrides=[Parameter("map", value=str(path)), Parameter("site", value=site)],
        )

    with pytest.raises(
        SiteMismatchError, match=r"yard_map\.npz was made for site 'yard'.*'car park'"
    ):
        node("car park")
    assert ros.add(node("yard")).core.map.site == "yard"


def test_core_parameters_are_read_at_start_so_run_time_changes_are_refused(ros, world):
    map_path, _ = world
    rig = Rig(
        ros,
        map_path,
        map_features=1500,
        lost_kept_fraction=0.4,
        relocalize_above_std_m=12.0,
        relocalize_features=2500,
        relocalize_min_inliers=20,
    )
    assert rig.node.core.refine_config.max_features == 1500
    assert rig.node.core.refine_config.min_inliers == 30
    relocalize = rig.node.core.relocalize_config
    assert (relocalize.max_features, relocalize.min_inliers) == (2500, 20)
    assert rig.node.core.config.lost_kept_fraction == 0.4
    assert rig.node.core.config.relocalize_above_std_m == 12.0
    for name, value in (("lost_after_failures", 7), ("map_features", 500), ("map", "other.npz")):
        result = rig.node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful
        assert f"parameter {name} is read at start-up only" in result.reason
        assert rig.node.describe_parameter(name).read_only
    assert rig.node.core.config.lost_after_failures == 3


def test_simple_parameters_apply_at_run_time_and_bad_values_are_refused(ros, world):
    map_path, _ = world
    rig = Rig(ros, map_path, use_sun=False)
    suns = rig.feeder.create_publisher(SunDirection, "sun/direction", RELIABLE_QOS)
    ros.wait_for_subscribers(suns)
    header = ros_convert.make_header(100.0, "camera")
    sun = ros_convert.sun_direction_msg(
        header, [0.0, -0.6, 0.8], 1e-3 * np.eye(3), 0.0, 0.5, 1e-3 * np.eye(2), 10, True
    )
    suns.publish(sun)  # ignored: use_sun is off
    ros.spin_for(0.3)
    assert rig.node.drops.total == 0
    assert rig.node.set_parameters([Parameter("use_sun", value=True)])[0].successful
    suns.publish(sun)  # now looked at: before any camera_info its frame cannot be checked
    assert ros.spin_until(lambda: rig.node.drops.counts["sun_before_camera"] == 1, 5.0)
    assert rig.node.set_parameters(
        [Parameter("path_length", value=5), Parameter("stale_after_s", value=4.0)]
    )[0].successful
    assert rig.node.path.maxlen == 5 and rig.node.stale_after_s == 4.0
    for name, value, problem in (
        ("stale_after_s", 0.0, "must be positive"),
        ("origin_lat", 95.0, "must be in [-90, 90]"),
        ("path_length", -1, "must be 0 or positive"),
    ):
        result = rig.node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful
        assert result.reason == f"parameter {name} = {value!r} {problem}"
    assert rig.node.get_parameter("stale_after_s").value == 4.0 and rig.node.stale_after_s == 4.0
    assert rig.node.origin[0] == 43.6629 and rig.node.path.maxlen == 5


# The robot's odom frame in the map: 40 m away and turned 30 degrees.
T_MAP_ODOM = (
    Transform.from_xyz_quat([40.0, -5.0, 0.0], [0.0, 0.0, 0.2588190, 0.9659258])
    if not ROS_MISSING
    else None
)


def odometry(frame, header_frame="odom", child="base_link", stamp=None):
    """The robot's planar odometry message at a frame (its true base pose in T_MAP_ODOM)."""
    T_odom_base = T_MAP_ODOM.inverse() @ base_of(frame.T_wc)
    msg = Odometry(child_frame_id=child)
    msg.header = ros_convert.make_header(frame.stamp if stamp is None else stamp, header_frame)
    msg.pose = ros_convert.transform_to_pose_with_covariance(
        T_odom_base, np.diag([1e-4, 1e-4, 1e6, 1e6, 1e6, 1e-4])
    )
    return msg


def published_map_odom(ros, rig):
    """The map -> odom transform the node published with its last pose."""
    stamp = rig.poses[-1].header.stamp

    def find():
        for msg in rig.tf:
            for t in msg.transforms:
                if t.child_frame_id == "odom" and t.header.stamp == stamp:
                    return t
        return None

    assert ros.spin_until(lambda: find() is not None)
    return ros_convert.transform_stamped_to_transform(find())


class WheelFeeder:
    """Publishes the robot's odometry to the rig's node and waits until the node took it."""

    def __init__(self, ros, rig):
        self.ros, self.rig = ros, rig
        self.wheels = rig.feeder.create_publisher(Odometry, "odom", RELIABLE_QOS)
        ros.wait_for_subscribers(self.wheels)
        self.counts = rig.node.core.robot_odometry.counts

    def _seen(self):
        core = self.rig.node.core
        return (
            sum(self.counts.values()) + self.rig.node.drops.total + len(core.robot_odometry.samples)
        )

    def publish(self, msg):
        seen = self._seen()
        self.wheels.publish(msg)
        self.ros.spin_until(lambda: self._seen() != seen, 5.0)


def tracking_with_wheels(ros, world, frames):
    """A rig tracking the first `frames` frames with their odometry; every 5th frame also gets
    an odometry message in the wrong frame and one with a NaN position."""
    map_path, drive = world
    rig = Rig(ros, map_path)
    wheels = WheelFeeder(ros, rig)
    rig.start(drive[0])
    wheels.publish(odometry(drive[0]))
    rig.send(drive[0].image(), drive[0].stamp)
    rig.prior(posenet_like(drive[1].T_wc), drive[1].stamp)
    for index, frame in enumerate(drive[1:frames], start=1):
        wheels.publish(odometry(frame))
        if index == 5:
            wheels.publish(odometry(frame, header_frame="map"))  # not the robot's odom frame
            broken = odometry(frame, stamp=frame.stamp + 0.01)
            broken.pose.pose.position.x = float("nan")
            wheels.publish(broken)
        output = rig.send(frame.image(), frame.stamp)
        assert output.state.value == "TRACKING", output.reason
    return rig, wheels


def test_the_robot_odometry_is_the_motion_prior_and_map_to_odom_fits_it(ros, world):
    """Wheel odometry on `odom`: the visual odometry tracks around it, map -> odom is published
    against the robot's odom -> base_link, and bad messages are dropped without harm."""
    rig, wheels = tracking_with_wheels(ros, world, 12)
    drops = rig.node.drops.counts
    assert drops["odometry_wrong_frame"] == 1 and drops["bad_odometry"] == 1
    assert wheels.counts["used"] >= 9
    assert translation_error_m(published_map_odom(ros, rig), T_MAP_ODOM) < 0.3


def test_odometry_back_in_time_or_jumping_starts_over_and_an_uncovered_image_gets_no_map_to_odom(
    ros, world
):
    _, drive = world
    rig, wheels = tracking_with_wheels(ros, world, 8)
    # An odometry that went back in time starts over; a jump of 50 m in 0.1 s is refused.
    wheels.publish(odometry(drive[3]))
    assert wheels.counts["back_in_time"] == 1
    jumped = odometry(drive[8])
    jumped.pose.pose.position.y += 50.0
    wheels.publish(jumped)
    assert wheels.counts["jumps"] == 1
    assert rig.node.drops.counts["bad_odometry"] == 3
    # An image the odometry does not reach yet: tracked by vision alone, and no map -> odom
    # against another odom for it.
    poses_before = len(rig.poses)
    output = rig.send(drive[9].image(), drive[9].stamp)
    assert output.state.value == "TRACKING", output.reason
    assert ros.spin_until(lambda: len(rig.poses) > poses_before)
    stamp = rig.poses[-1].header.stamp
    assert not any(
        t.child_frame_id == "odom" and t.header.stamp == stamp
        for msg in rig.tf
        for t in msg.transforms
    )


class GyroFeeder:
    """Publishes gyro rates (given in base_link) from a gyro mounted at T_base_imu in imu_link,
    and waits until the node took each."""

    def __init__(self, ros, rig, T_base_imu):
        from sensor_msgs.msg import Imu

        self.ros, self.rig, self.T_base_imu, self.Imu = ros, rig, T_base_imu, Imu
        self.publisher = rig.feeder.create_publisher(Imu, "imu", RELIABLE_QOS)
        ros.wait_for_subscribers(self.publisher)
        header = ros_convert.make_header(0.0, "base_link")
        rig.tf_static.publish(
            TFMessage(
                transforms=[
                    ros_convert.transform_stamped(T_BASE_CAM, header, "camera"),
                    ros_convert.transform_stamped(T_base_imu, header, "imu_link"),
                ]
            )
        )
        ros.spin_until(lambda: rig.node.tf.lookup("base_link", "imu_link") is not None, 5.0)

    def _taken(self):
        gyro = self.rig.node.core.robot_gyro
        return len(gyro.rates) + self.rig.node.drops.total + sum(gyro.counts.values())

    def publish(self, stamp, rate_base, frame="imu_link", force_base=(0.0, 0.0, 9.80665)):
        from geometry_msgs.msg import Vector3

        rate = self.T_base_imu.rotation.inv().apply(rate_base)
        force = self.T_base_imu.rotation.inv().apply(force_base)
        msg = self.Imu(
            angular_velocity=Vector3(x=rate[0], y=rate[1], z=rate[2]),
            linear_acceleration=Vector3(x=force[0], y=force[1], z=force[2]),
        )
        msg.header = ros_convert.make_header(stamp, frame)
        msg.angular_velocity_covariance = list(np.eye(3).reshape(9) * np.radians(0.1) ** 2)
        msg.linear_acceleration_covariance = list(np.eye(3).reshape(9) * 0.05**2)
        before = self._taken()
        self.publisher.publish(msg)
        assert self.ros.spin_until(lambda: self._taken() != before, 5.0)


def true_rate(previous, frame):
    """base_link's mean angular velocity between two frames, in its own axes."""
    turn = base_of(previous.T_wc).inverse() @ base_of(frame.T_wc)
    return turn.rotation.as_rotvec() / (frame.stamp - previous.stamp)


def test_the_imu_in_its_own_frame_is_turned_into_the_base_and_bad_readings_are_dropped(ros, world):
    """An IMU mounted upside down in imu_link (TF says so): its rates reach the core in
    base_link's axes and every image is tracked with them, and its accelerometer's up corrects
    the tilt once a second; a reading in a frame TF does not know, one with a NaN rate and one
    with a NaN acceleration are dropped with their reasons, and tracking goes on."""
    from scipy.spatial.transform import Rotation

    map_path, drive = world
    rig = Rig(ros, map_path)
    rig.start(drive[0])
    gyro = GyroFeeder(
        ros, rig, Transform(Rotation.from_euler("x", 180.0, degrees=True), np.array([0, 0, 0.3]))
    )
    core, drops = rig.node.core, rig.node.drops
    gyro.publish(drive[0].stamp, np.zeros(3))
    rig.send(drive[0].image(), drive[0].stamp)
    rig.prior(posenet_like(drive[1].T_wc), drive[1].stamp)
    for index in range(1, 15):
        previous, frame = drive[index - 1], drive[index]
        up_base = base_of(frame.T_wc).rotation.inv().apply([0.0, 0.0, 9.80665])
        gyro.publish(frame.stamp, true_rate(previous, frame), force_base=up_base)
        assert np.allclose(core.robot_gyro.rates[-1].value, true_rate(previous, frame), atol=1e-9)
        assert np.allclose(core.robot_gravity.readings[-1].value, up_base, atol=1e-9)
        if index == 5:
            gyro.publish(frame.stamp + 0.01, np.zeros(3), frame="somewhere_else")
            gyro.publish(frame.stamp + 0.01, np.array([np.nan, 0.0, 0.0]))
            gyro.publish(frame.stamp + 0.02, np.zeros(3), force_base=np.array([np.nan, 0, 0]))
        output = rig.send(frame.image(), frame.stamp)
        assert output.state.value == "TRACKING", output.reason
    assert drops.counts["imu_wrong_frame"] == 1 and drops.counts["bad_imu"] == 1
    assert drops.counts["bad_imu_acceleration"] == 1
    assert core.robot_gyro.counts["used"] >= 7
    assert core.robot_gravity.counts["tilt_corrected"] >= 1
