"""posenet_node over real rclpy: modes, the relocalize service, TF extrinsic, bad input survived."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROS_MISSING
from onnx_models import fake_posenet_model, mean_colour_model

pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")

if not ROS_MISSING:
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from std_srvs.srv import Trigger
    from tf2_msgs.msg import TFMessage

    from pose_reloc.camera import PinholeCamera
    from pose_reloc.errors import PoseRelocError
    from pose_reloc.geometry import Transform
    from pose_reloc.posenet.node import PoseNetNode
    from pose_reloc.ros import convert as ros_convert
    from pose_reloc.ros.node_tools import LATCHED_QOS, SENSOR_QOS

CAMERA = (
    PinholeCamera(np.array([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]]), 32, 24, np.zeros(5))
    if not ROS_MISSING
    else None
)
T_BASE_CAM = (
    Transform.from_xyz_quat([0.2, 0.0, 1.3], [-0.5, 0.5, -0.5, 0.5]) if not ROS_MISSING else None
)


class Rig:
    """A posenet_node plus a test node that feeds it and collects what it publishes."""

    def __init__(self, ros, tmp_path, **parameters):
        model = fake_posenet_model(tmp_path / "posenet.onnx", noise_m=0.1)
        overrides = [Parameter("model", value=str(model)), Parameter("providers", value=["cpu"])]
        parameters.setdefault("prior_source", "posenet")  # the fake model's answers, unmixed
        overrides += [Parameter(k, value=v) for k, v in parameters.items()]
        self.ros = ros
        self.node = ros.add(PoseNetNode(context=ros.context, parameter_overrides=overrides))
        self.feeder = ros.node("feeder")
        compressed = parameters.get("compressed", False)
        self.images = self.feeder.create_publisher(
            CompressedImage if compressed else Image, "image", SENSOR_QOS
        )
        self.info = self.feeder.create_publisher(CameraInfo, "camera_info", SENSOR_QOS)
        self.tf_static = self.feeder.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
        self.poses = ros.collect(PoseWithCovarianceStamped, "reloc/posenet_pose")
        self.client = self.feeder.create_client(Trigger, "reloc/relocalize")
        self.stamp = 100.0
        ros.wait_for_subscribers(self.images)

    def publish_mount(self):
        header = ros_convert.make_header(0.0, "base_link")
        self.tf_static.publish(
            TFMessage(transforms=[ros_convert.transform_stamped(T_BASE_CAM, header, "camera")])
        )

    def publish_info(self):
        self.info.publish(
            ros_convert.camera_to_camera_info(CAMERA, ros_convert.make_header(self.stamp, "camera"))
        )
        self.ros.spin_until(lambda: self.node.camera is not None, 5.0)

    def send(self, msg=None, colour=(255, 0, 0)):
        if msg is None:
            pixels = np.zeros((24, 32, 3), np.uint8)
            pixels[...] = colour
            msg = ros_convert.array_to_image_msg(
                pixels, "rgb8", ros_convert.make_header(self.stamp, "camera")
            )
        self.stamp += 0.1
        received_before = self.node.stats["received"]
        self.images.publish(msg)
        assert self.ros.spin_until(lambda: self.node.stats["received"] > received_before, 5.0), (
            "image never arrived"
        )


def expected_base_position(colour):
    T_map_cam = Transform.from_xyz_quat(10.0 * np.asarray(colour) / 255.0, [-0.5, 0.5, -0.5, 0.5])
    return (T_map_cam @ T_BASE_CAM.inverse()).translation


def test_startup_mode_localizes_the_first_frame_then_waits_for_the_service(ros, tmp_path):
    rig = Rig(ros, tmp_path)
    rig.publish_mount()
    rig.publish_info()
    rig.send(colour=(255, 0, 0))
    assert ros.spin_until(lambda: len(rig.poses) == 1)
    pose, covariance = ros_convert.pose_with_covariance_to_transform(rig.poses[0])
    assert rig.poses[0].header.frame_id == "map"
    np.testing.assert_allclose(pose.translation, expected_base_position((255, 0, 0)), atol=0.15)
    assert 0.0 < covariance[0, 0] < 0.05 and np.all(np.linalg.eigvalsh(covariance) > 0)
    rig.send(colour=(0, 255, 0))
    ros.spin_for(0.3)
    assert len(rig.poses) == 1, "startup mode localizes once"
    assert rig.client.wait_for_service(timeout_sec=5.0)
    future = rig.client.call_async(Trigger.Request())
    assert ros.spin_until(future.done) and future.result().success
    rig.send(colour=(0, 255, 0))
    assert ros.spin_until(lambda: len(rig.poses) == 2)
    second, _ = ros_convert.pose_with_covariance_to_transform(rig.poses[1])
    np.testing.assert_allclose(second.translation, expected_base_position((0, 255, 0)), atol=0.15)


def test_bad_images_are_dropped_and_counted_and_the_next_good_one_is_localized(ros, tmp_path):
    rig = Rig(ros, tmp_path, camera_extrinsic=[0.2, 0.0, 1.3, -0.5, 0.5, -0.5, 0.5])
    rig.send()  # before camera_info: waits
    assert rig.node.drops.counts["no_camera_info"] == 1
    rig.publish_info()
    header = ros_convert.make_header(rig.stamp, "camera")
    unknown = Image(
        header=header, height=24, width=32, encoding="rgb9", step=96, data=bytes(96 * 24)
    )
    empty = Image(header=header, height=0, width=0, encoding="rgb8", step=0, data=b"")
    big = ros_convert.array_to_image_msg(np.zeros((48, 64, 3), np.uint8), "rgb8", header)
    for msg in (unknown, empty, big):
        rig.send(msg)
    counts = rig.node.drops.counts
    assert counts["bad_image"] == 2 and counts["size_mismatch"] == 1
    assert rig.poses == []
    rig.send(colour=(0, 0, 255))
    assert ros.spin_until(lambda: len(rig.poses) == 1), "the node stopped working after bad input"


def test_depth_images_and_a_garbage_camera_info_are_refused_and_the_camera_kept(ros, tmp_path):
    rig = Rig(ros, tmp_path, camera_extrinsic=[0.2, 0.0, 1.3, -0.5, 0.5, -0.5, 0.5])
    rig.publish_info()
    header = ros_convert.make_header(rig.stamp, "camera_depth")
    for encoding, dtype in (("16UC1", np.uint16), ("32FC1", np.float32), ("mono16", np.uint16)):
        depth = np.full((24, 32), 1500, dtype)  # the camera's size: only the encoding is wrong
        rig.send(ros_convert.array_to_image_msg(depth, encoding, header))
    assert rig.node.drops.counts["not_a_camera_image"] == 3
    garbage = ros_convert.camera_to_camera_info(CAMERA, ros_convert.make_header(0.0, "camera"))
    garbage.width = garbage.height = 4294967295
    rig.info.publish(garbage)
    assert ros.spin_until(lambda: rig.node.drops.counts["bad_camera_info"] == 1, 5.0)
    assert (rig.node.camera.width, rig.node.camera.height) == (32, 24), "the camera was replaced"
    assert rig.poses == []
    rig.send(colour=(0, 0, 255))
    assert ros.spin_until(lambda: len(rig.poses) == 1), "the node stopped working after bad input"


def test_truncated_compressed_images_are_dropped(ros, tmp_path):
    rig = Rig(
        ros, tmp_path, compressed=True, camera_extrinsic=[0.2, 0.0, 1.3, -0.5, 0.5, -0.5, 0.5]
    )
    rig.publish_info()
    good = ros_convert.array_to_compressed_msg(
        np.full((24, 32, 3), 200, np.uint8), ros_convert.make_header(0.0, "camera")
    )
    truncated = CompressedImage(
        header=good.header, format=good.format, data=bytes(good.data)[: len(good.data) // 2]
    )
    rig.send(truncated)
    assert rig.node.drops.counts["bad_image"] == 1 and rig.poses == []
    rig.send(good)
    assert ros.spin_until(lambda: len(rig.poses) == 1)


def test_continuous_mode_is_rate_limited_by_image_time(ros, tmp_path):
    rig = Rig(ros, tmp_path, mode="continuous", continuous_rate_hz=2.0)
    rig.publish_mount()
    rig.publish_info()
    for _ in range(20):  # 2 s of images at 10 Hz
        rig.send()
    ros.spin_for(0.3)
    assert len(rig.poses) == 4


def test_the_continuous_rate_and_mode_apply_at_run_time(ros, tmp_path):
    rig = Rig(ros, tmp_path, mode="continuous", continuous_rate_hz=2.0)
    rig.publish_mount()
    rig.publish_info()
    for _ in range(10):  # 1 s at 10 Hz: 2 poses at 2 Hz
        rig.send()
    assert ros.spin_until(lambda: len(rig.poses) >= 2)
    assert rig.node.set_parameters([Parameter("continuous_rate_hz", value=5.0)])[0].successful
    assert rig.node.get_parameter("continuous_rate_hz").value == 5.0
    for _ in range(10):  # 1 s more: 5 poses at 5 Hz
        rig.send()
    ros.spin_for(0.3)
    assert len(rig.poses) == 7
    assert rig.node.set_parameters([Parameter("mode", value="on_demand")])[0].successful
    for _ in range(5):
        rig.send()
    ros.spin_for(0.3)
    assert len(rig.poses) == 7 and rig.node.mode == "on_demand"


def test_run_time_changes_of_start_up_parameters_and_bad_values_are_refused(ros, tmp_path):
    rig = Rig(ros, tmp_path, mode="continuous")
    for name, value in (("mc_samples", 4), ("model", "other.onnx"), ("compressed", True)):
        result = rig.node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful
        assert f"parameter {name} is read at start-up only" in result.reason
        assert rig.node.describe_parameter(name).read_only
    assert (
        rig.node.localizer.posenet.samples == 16 and rig.node.get_parameter("mc_samples").value == 0
    )
    for name, value, problem in (
        ("continuous_rate_hz", 0.0, "must be positive"),
        ("mode", "sometimes", "must be one of ('startup', 'on_demand', 'continuous')"),
        ("camera_extrinsic", [0.0] * 7, "is not x y z qx qy qz qw"),
    ):
        result = rig.node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and f"parameter {name} = {value!r} {problem}" in result.reason
    assert rig.node.get_parameter("continuous_rate_hz").value == 1.0 and rig.node.period_s == 1.0
    assert rig.node.mode == "continuous" and rig.node.fallback_extrinsic is None


def test_without_an_extrinsic_poses_are_not_guessed(ros, tmp_path):
    rig = Rig(ros, tmp_path)
    rig.publish_info()
    rig.send()
    assert rig.node.drops.counts["no_extrinsic"] == 1 and rig.poses == []


@pytest.mark.parametrize("problem", ["missing", "corrupt", "not_posenet"])
def test_a_bad_model_stops_the_node_from_starting_with_the_file_named(ros, tmp_path, problem):
    path = tmp_path / "model.onnx"
    if problem == "corrupt":
        path.write_bytes(b"not onnx")
    elif problem == "not_posenet":
        mean_colour_model(path)
    with pytest.raises(PoseRelocError, match=r"model\.onnx"):
        PoseNetNode(
            context=ros.context,
            parameter_overrides=[
                Parameter("model", value=str(path)),
                Parameter("providers", value=["cpu"]),
            ],
        )


def pattern_image(k):
    """A 32x24 view of place k: its own colour, stripes and block (retrieval tells them apart)."""
    rng = np.random.default_rng(k)
    image = np.empty((24, 32, 3), np.float64)
    image[:] = rng.uniform(40, 200, 3)
    image[:, (np.arange(32) // (2 + k % 5)) % 2 == 0] += 40
    image[2 + (3 * k) % 16 :][:6, 2 + (7 * k) % 24 :][:, :6] = rng.uniform(0, 255, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def retrieval_index(path, places=12, floor_m=0.01):
    """An index of `places` views 3 m apart along x, its answers' position std floored at floor_m
    (and the matches' spread scaled to nothing)."""
    from pose_reloc.datasets.record import Frame
    from pose_reloc.posenet.retrieval import build_retrieval_index

    frames = [
        Frame(
            0.0,
            CAMERA,
            Transform.from_xyz_quat([3.0 * k, 0.0, 1.4], [-0.5, 0.5, -0.5, 0.5]),
            lambda k=k: pattern_image(k),
            "test",
        )
        for k in range(places)
    ]
    info = {
        "covariance_scale": {"position": 1e-6, "rotation": 1.0},
        "floor": {"position_m": floor_m},
    }
    return build_retrieval_index(frames, 8, info).save(path)


@pytest.mark.parametrize(("source", "floor_m"), [("retrieval", 0.01), ("both", 100.0)])
def test_retrieval_answers_with_the_mapped_pose_alone_or_where_posenet_agrees(
    ros, tmp_path, source, floor_m
):
    # with both, retrieval's covariance is made wide enough to reach PoseNet's answer: they agree
    index = retrieval_index(tmp_path / "index.npz", floor_m=floor_m)
    rig = Rig(ros, tmp_path, prior_source=source, retrieval_index=str(index))
    assert rig.node.localizer.source == source
    assert (rig.node.localizer.posenet is not None) == (source == "both")
    rig.publish_mount()
    rig.publish_info()
    header = ros_convert.make_header(rig.stamp, "camera")
    rig.send(ros_convert.array_to_image_msg(pattern_image(5), "rgb8", header))
    assert ros.spin_until(lambda: len(rig.poses) == 1)
    pose, _ = ros_convert.pose_with_covariance_to_transform(rig.poses[0])
    T_map_cam = Transform.from_xyz_quat([15.0, 0.0, 1.4], [-0.5, 0.5, -0.5, 0.5])
    np.testing.assert_allclose(
        pose.translation, (T_map_cam @ T_BASE_CAM.inverse()).translation, atol=1e-3
    )
    assert rig.node.answers_by_source == {"retrieval": 1}


def test_with_both_posenet_answers_where_the_two_disagree_or_nothing_is_recognized(ros, tmp_path):
    index = retrieval_index(tmp_path / "index.npz", floor_m=0.01)
    rig = Rig(ros, tmp_path, prior_source="both", retrieval_index=str(index))
    rig.publish_mount()
    rig.publish_info()
    header = ros_convert.make_header(rig.stamp, "camera")
    rig.send(ros_convert.array_to_image_msg(pattern_image(5), "rgb8", header))
    assert ros.spin_until(lambda: len(rig.poses) == 1)
    assert rig.node.answers_by_source == {"posenet": 1}
    rig.node.localizer.retrieval.min_score = 1.01
    assert rig.client.wait_for_service(timeout_sec=5.0)
    future = rig.client.call_async(Trigger.Request())
    assert ros.spin_until(future.done)
    rig.send(ros_convert.array_to_image_msg(pattern_image(5), "rgb8", header))
    assert ros.spin_until(lambda: len(rig.poses) == 2)
    assert rig.node.answers_by_source == {"posenet": 2}


def test_an_unrecognized_image_is_a_counted_drop_with_retrieval_alone(ros, tmp_path):
    index = retrieval_index(tmp_path / "index.npz")
    rig = Rig(ros, tmp_path, prior_source="retrieval", retrieval_index=str(index))
    rig.node.localizer.retrieval.min_score = 1.01
    rig.publish_mount()
    rig.publish_info()
    header = ros_convert.make_header(rig.stamp, "camera")
    rig.send(ros_convert.array_to_image_msg(pattern_image(5), "rgb8", header))
    assert rig.node.drops.counts["not_recognized"] == 1 and rig.poses == []
    rig.node.localizer.retrieval.min_score = -1.0
    rig.send(ros_convert.array_to_image_msg(pattern_image(5), "rgb8", header))
    assert ros.spin_until(lambda: len(rig.poses) == 1), "the node stopped after a drop"


def test_a_model_or_index_of_another_site_stops_the_node_from_starting(ros, tmp_path):
    from pose_reloc.model_card import record_site
    from pose_reloc.posenet.retrieval import RetrievalIndex
    from pose_reloc.site_identity import SiteMismatchError

    model = record_site(fake_posenet_model(tmp_path / "posenet.onnx"), "yard").with_suffix(".onnx")
    index = RetrievalIndex.load(retrieval_index(tmp_path / "index.npz"))
    index.info["site"] = "car park"
    index.save(tmp_path / "index.npz")

    def node(site, source="both"):
        parameters = {
            "model": str(model),
            "providers": ["cpu"],
            "prior_source": source,
            "retrieval_index": str(tmp_path / "index.npz"),
            "site": site,
        }
        return PoseNetNode(
            context=ros.context,
            parameter_overrides=[Parameter(k, value=v) for k, v in parameters.items()],
        )

    with pytest.raises(SiteMismatchError, match=r"retrieval index .*index\.npz was made for site "):
        node("yard")
    with pytest.raises(
        SiteMismatchError, match=r"PoseNet model .*posenet\.onnx was made for site "
    ):
        node("car park")
    assert ros.add(node("yard", "posenet")).localizer.source == "posenet"
    assert ros.add(node("car park", "retrieval")).localizer.source == "retrieval"
    assert ros.add(node("")).localizer.source == "both"  # no site given: nothing to check


def test_a_bad_prior_source_or_index_stops_the_node_from_starting(ros, tmp_path):
    model = fake_posenet_model(tmp_path / "posenet.onnx")
    base = [Parameter("model", value=str(model)), Parameter("providers", value=["cpu"])]
    with pytest.raises(PoseRelocError, match="prior_source"):
        PoseNetNode(
            context=ros.context, parameter_overrides=[*base, Parameter("prior_source", value="gps")]
        )
    bad = tmp_path / "bad_index.npz"
    bad.write_bytes(b"not an index")
    with pytest.raises(PoseRelocError, match=r"bad_index\.npz is not a retrieval index"):
        PoseNetNode(
            context=ros.context,
            parameter_overrides=[
                *base,
                Parameter("prior_source", value="retrieval"),
                Parameter("retrieval_index", value=str(bad)),
            ],
        )
