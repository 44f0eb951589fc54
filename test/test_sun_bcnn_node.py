"""sun_bcnn_node over real rclpy: what it publishes, rate limiting by image time, bad input survived,
a bad model refused at start."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROS_MISSING
from test_sun_bcnn_core import fake_sun_model, unit

pytestmark = pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")

if not ROS_MISSING:
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Vector3Stamped
    from pose_reloc.msg import SunDirection
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CompressedImage, Image
    from visualization_msgs.msg import Marker

    from pose_reloc.errors import PoseRelocError
    from pose_reloc.ros import convert as ros_convert
    from pose_reloc.ros.node_tools import SENSOR_QOS
    from sun_bcnn.node import SunBcnnNode

DIRECTION = (0.3, -0.5, 0.8)
RED = (255, 0, 0)  # the fake model scatters its samples for red images: an "overcast" frame


class Rig:
    """A sun_bcnn_node plus a test node that feeds it images and collects what it publishes."""

    def __init__(self, ros, tmp_path, **parameters):
        model = fake_sun_model(tmp_path / "sun.onnx", direction=DIRECTION)
        overrides = [Parameter("model", value=str(model)), Parameter("providers", value=["cpu"])]
        overrides += [Parameter(k, value=v) for k, v in parameters.items()]
        self.ros = ros
        self.node = ros.add(SunBcnnNode(context=ros.context, parameter_overrides=overrides))
        self.feeder = ros.node("feeder")
        compressed = parameters.get("compressed", False)
        self.images = self.feeder.create_publisher(
            CompressedImage if compressed else Image, "image", SENSOR_QOS
        )
        self.directions = ros.collect(SunDirection, "sun/direction")
        self.vectors = ros.collect(Vector3Stamped, "sun/direction_vector")
        self.markers = ros.collect(Marker, "sun/marker")
        self.stamp = 1000.0
        ros.wait_for_subscribers(self.images)
        for publisher in (
            self.node.direction_publisher,
            self.node.vector_publisher,
            self.node.marker_publisher,
        ):
            ros.wait_for_subscribers(publisher)

    def image(self, colour=(0, 0, 0), frame="camera_front"):
        pixels = np.zeros((24, 32, 3), np.uint8)
        pixels[...] = colour
        return ros_convert.array_to_image_msg(
            pixels, "rgb8", ros_convert.make_header(self.stamp, frame)
        )

    def send(self, msg=None, step_s=0.1):
        msg = self.image() if msg is None else msg
        self.stamp += step_s
        received_before = self.node.stats["received"]
        self.images.publish(msg)
        assert self.ros.spin_until(lambda: self.node.stats["received"] > received_before, 5.0), (
            "image never arrived"
        )


def test_publishes_the_sun_direction_with_the_images_frame_and_stamp(ros, tmp_path):
    rig = Rig(ros, tmp_path, mc_samples=24)
    msg = rig.image(frame="camera_front")
    rig.send(msg)
    assert ros.spin_until(lambda: rig.directions and rig.vectors and rig.markers)
    sun = rig.directions[0]
    assert sun.header.frame_id == "camera_front" and sun.header.stamp == msg.header.stamp
    direction = ros_convert.vector3_to_array(sun.direction)
    np.testing.assert_allclose(direction, unit(DIRECTION), atol=0.01)
    assert sun.valid and sun.sample_count == 24
    covariance = np.array(sun.covariance).reshape(3, 3)
    assert np.all(np.linalg.eigvalsh(covariance) > -1e-12) and 0 < np.trace(covariance) < 0.01
    assert sun.azimuth == pytest.approx(np.arctan2(direction[0], direction[2]), abs=1e-6)
    assert sun.zenith == pytest.approx(np.arccos(-direction[1]), abs=1e-6)
    assert np.all(np.diag(np.array(sun.angle_covariance).reshape(2, 2)) > 0)
    vector = rig.vectors[0]
    assert vector.header.frame_id == "camera_front"
    np.testing.assert_allclose(ros_convert.vector3_to_array(vector.vector), direction)
    marker = rig.markers[0]
    assert marker.type == Marker.ARROW and marker.header.frame_id == "camera_front"
    tip = marker.points[1]
    np.testing.assert_allclose(
        [tip.x, tip.y, tip.z], direction, atol=1e-9
    )  # 1 m arrow from the origin
    assert marker.color.g > 0.8 and marker.color.r < 0.2


def test_an_overcast_frame_is_published_invalid_grey_and_without_a_bare_vector(ros, tmp_path):
    rig = Rig(ros, tmp_path, rate_hz=0.0)
    rig.send(rig.image(colour=RED))
    assert ros.spin_until(lambda: rig.directions and rig.markers)
    assert not rig.directions[0].valid
    marker = rig.markers[0]
    assert marker.color.r == pytest.approx(marker.color.g) == pytest.approx(marker.color.b)
    ros.spin_for(0.2)
    assert rig.vectors == []
    rig.send()
    assert ros.spin_until(lambda: len(rig.markers) == 2)
    assert rig.markers[0].scale.x > 3 * rig.markers[1].scale.x, "the arrow shows the spread"


def test_estimates_are_rate_limited_by_image_time_and_restart_when_time_goes_back(ros, tmp_path):
    rig = Rig(ros, tmp_path, rate_hz=2.0)
    for _ in range(20):  # 2 s of images at 10 Hz
        rig.send()
    assert ros.spin_until(lambda: len(rig.directions) >= 4)
    ros.spin_for(0.3)
    assert len(rig.directions) == 4
    rig.stamp -= 60.0  # a bag looped
    rig.send()
    assert ros.spin_until(lambda: len(rig.directions) == 5), (
        "time went backwards and the node went silent"
    )


def test_bad_images_are_dropped_and_counted_and_the_next_good_one_is_processed(ros, tmp_path):
    rig = Rig(ros, tmp_path, rate_hz=0.0)
    header = ros_convert.make_header(rig.stamp, "camera")
    unknown = Image(
        header=header, height=24, width=32, encoding="rgb9", step=96, data=bytes(96 * 24)
    )
    truncated = Image(header=header, height=24, width=32, encoding="rgb8", step=96, data=bytes(100))
    for msg in (unknown, truncated):
        rig.send(msg)
    assert rig.node.drops.counts["bad_image"] == 2
    ros.spin_for(0.2)
    assert rig.directions == []
    rig.send(ros_convert.array_to_image_msg(np.zeros((24, 32, 3), np.uint8), "rgb8", header))
    assert ros.spin_until(lambda: len(rig.directions) == 1), (
        "the node stopped working after bad input"
    )


def test_depth_images_are_not_taken_for_camera_frames(ros, tmp_path):
    rig = Rig(ros, tmp_path, rate_hz=0.0)
    header = ros_convert.make_header(rig.stamp, "camera_depth")
    for encoding, dtype in (("16UC1", np.uint16), ("32FC1", np.float32), ("mono16", np.uint16)):
        rig.send(ros_convert.array_to_image_msg(np.full((24, 32), 900, dtype), encoding, header))
    assert rig.node.drops.counts["not_a_camera_image"] == 3
    ros.spin_for(0.2)
    assert rig.directions == []
    rig.send()
    assert ros.spin_until(lambda: len(rig.directions) == 1), (
        "the node stopped working after bad input"
    )


def test_compressed_images_are_decoded_and_truncated_ones_dropped(ros, tmp_path):
    rig = Rig(ros, tmp_path, compressed=True)
    good = ros_convert.array_to_compressed_msg(
        np.zeros((24, 32, 3), np.uint8), ros_convert.make_header(5.0, "cam")
    )
    truncated = CompressedImage(
        header=good.header, format=good.format, data=bytes(good.data)[: len(good.data) // 2]
    )
    rig.send(truncated)
    assert rig.node.drops.counts["bad_image"] == 1
    rig.send(good)
    assert ros.spin_until(lambda: len(rig.directions) == 1)
    assert rig.directions[0].header.frame_id == "cam"


def test_thresholds_change_at_run_time_but_the_model_does_not(ros, tmp_path):
    rig = Rig(ros, tmp_path, rate_hz=0.0)
    assert rig.node.set_parameters(
        [Parameter("min_mean_norm", value=0.0), Parameter("max_spread_deg", value=180.0)]
    )[0].successful
    rig.send(rig.image(colour=RED))
    assert ros.spin_until(lambda: len(rig.directions) == 1)
    assert rig.directions[0].valid, "the loosened thresholds were not applied"
    for name, value in (("model", "other.onnx"), ("mc_samples", 4), ("compressed", True)):
        result = rig.node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful
        assert f"parameter {name} is read at start-up only" in result.reason
        assert rig.node.describe_parameter(name).read_only
    result = rig.node.set_parameters([Parameter("min_mean_norm", value=1.5)])[0]
    assert not result.successful
    assert result.reason == "parameter min_mean_norm = 1.5 must be in [0, 1] or -1"
    assert rig.node.get_parameter("min_mean_norm").value == 0.0
    assert rig.node.estimator.min_mean_norm == 0.0
    assert rig.node.set_parameters([Parameter("min_mean_norm", value=-1.0)])[0].successful
    assert rig.node.estimator.min_mean_norm == rig.node.estimator.model_thresholds["min_mean_norm"]


def test_the_rate_applies_at_run_time_and_a_bad_one_is_refused(ros, tmp_path):
    rig = Rig(ros, tmp_path, rate_hz=2.0)
    for _ in range(10):  # 1 s at 10 Hz: 2 estimates at 2 Hz
        rig.send()
    assert ros.spin_until(lambda: len(rig.directions) >= 2)
    assert rig.node.set_parameters([Parameter("rate_hz", value=0.0)])[0].successful
    for _ in range(5):  # every image now
        rig.send()
    assert ros.spin_until(lambda: len(rig.directions) == 7)
    result = rig.node.set_parameters([Parameter("rate_hz", value=-1.0)])[0]
    assert not result.successful
    assert result.reason == "parameter rate_hz = -1.0 must be 0 (every image) or positive"
    assert rig.node.get_parameter("rate_hz").value == 0.0 and rig.node.period_s == 0.0


def test_diagnostics_report_validity_and_drops(ros, tmp_path):
    rig = Rig(ros, tmp_path, rate_hz=0.0)
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    rig.send()
    rig.send(rig.image(colour=RED))
    rig.send(
        Image(
            header=ros_convert.make_header(rig.stamp, "camera"),
            height=1,
            width=1,
            encoding="rgb9",
            step=3,
            data=bytes(3),
        )
    )
    assert ros.spin_until(lambda: len(rig.directions) == 2)

    def latest():
        ours = [s for d in diagnostics for s in d.status if s.name == "pose_reloc: sun_bcnn_node"]
        return {kv.key: kv.value for kv in ours[-1].values} if ours else {}

    assert ros.spin_until(lambda: latest().get("estimates_published") == "2", 5.0)
    values = latest()
    assert values["valid_estimates"] == "1" and values["recent_valid_rate"] == "0.50"
    assert values["frames_dropped"] == "1" and values["dropped_bad_image"] == "1"


@pytest.mark.parametrize("problem", ["missing", "corrupt", "wrong_width"])
def test_a_bad_model_stops_the_node_from_starting_with_the_file_named(ros, tmp_path, problem):
    path = tmp_path / "model.onnx"
    if problem == "corrupt":
        path.write_bytes(b"not onnx")
    elif problem == "wrong_width":
        fake_sun_model(path, output_width=2)
    with pytest.raises(PoseRelocError, match=r"model\.onnx"):
        SunBcnnNode(
            context=ros.context,
            parameter_overrides=[
                Parameter("model", value=str(path)),
                Parameter("providers", value=["cpu"]),
            ],
        )


def test_a_negative_rate_is_refused_at_start(ros, tmp_path):
    model = fake_sun_model(tmp_path / "sun.onnx")
    with pytest.raises(PoseRelocError, match="rate_hz"):
        SunBcnnNode(
            context=ros.context,
            parameter_overrides=[
                Parameter("model", value=str(model)),
                Parameter("rate_hz", value=-1.0),
            ],
        )


def test_main_prints_cannot_start_and_returns_1_for_a_missing_model(tmp_path, capsys):
    from ros_harness import keep_discovery_local

    from sun_bcnn.node import main

    keep_discovery_local()
    missing = tmp_path / "absent.onnx"
    assert (
        main(["sun_bcnn_node", "--ros-args", "-p", f"model:={missing}", "-p", "providers:=[cpu]"])
        == 1
    )
    assert "[sun_bcnn_node] cannot start" in capsys.readouterr().err
