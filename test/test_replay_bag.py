"""Reading bags for replay (ROS-free): the topics a replay needs are checked up front with the
fix in the message, a bag cut short is read up to the cut, and camera calibration files in the
camera_calibration format are read or refused with the key named."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pose_reloc.tools.replay.bag_stream import BagStream, ReplayError
from pose_reloc.tools.replay.camera_info_file import read_camera_info_yaml

DEMO_BAG = Path(__file__).resolve().parents[1] / "data" / "demo" / "kidnap_drive"
IMAGES = "/camera/image_raw/compressed"
INFO = "/camera/camera_info"


def test_demo_bag_topics_and_order():
    with BagStream(DEMO_BAG, IMAGES, INFO) as stream:
        assert stream.compressed and stream.error is None
        assert stream.count(IMAGES) == 600
        stamps = [m.log_time_ns for m in stream.messages([IMAGES, INFO, "/ground_truth/pose"])]
    assert len(stamps) >= 1200 and stamps == sorted(stamps)


@pytest.mark.parametrize(
    ("image", "info", "message"),
    [
        ("/camera/image_raw", INFO, r"no topic /camera/image_raw: choose one with --image-topic"),
        ("/ground_truth/pose", INFO, r"is geometry_msgs/msg/PoseStamped, not sensor_msgs"),
        (IMAGES, "/camera/info", r"no camera_info topic /camera/info: .*--camera-info FILE"),
    ],
)
def test_topics_are_checked_with_the_fix_named(image, info, message):
    with pytest.raises(ReplayError, match=message):
        BagStream(DEMO_BAG, image, info)


def test_a_bag_cut_mid_message_is_read_up_to_the_cut(tmp_path):
    bag = tmp_path / "cut"
    shutil.copytree(DEMO_BAG, bag)
    mcap = next(bag.glob("*.mcap"))
    with mcap.open("r+b") as f:
        f.truncate(mcap.stat().st_size // 2 + 7)  # inside a chunk, not on a record boundary
    with BagStream(bag, IMAGES, INFO) as stream:
        assert stream.error is not None and "damaged" in stream.error
        images = list(stream.messages([IMAGES]))
    assert 100 < len(images) < 600
    assert stream.count(IMAGES) == len(images)


def test_a_bag_with_nothing_readable_is_refused(tmp_path):
    bag = tmp_path / "garbage"
    shutil.copytree(DEMO_BAG, bag)
    next(bag.glob("*.mcap")).write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 64)
    with pytest.raises(ReplayError, match="cannot be read"):
        BagStream(bag, IMAGES, INFO)
    with pytest.raises(ReplayError, match="does not exist"):
        BagStream(tmp_path / "nowhere", IMAGES, INFO)


CALIBRATION = """\
image_width: 640
image_height: 480
camera_name: front
camera_matrix:
  rows: 3
  cols: 3
  data: [520.0, 0.0, 321.5, 0.0, 522.0, 239.5, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.1, 0.02, 0.0, 0.0, 0.0]
rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
projection_matrix: {rows: 3, cols: 4, data: [520, 0, 321.5, 0, 0, 522, 239.5, 0, 0, 0, 1, 0]}
"""


def test_camera_calibration_yaml(tmp_path):
    path = tmp_path / "front.yaml"
    path.write_text(CALIBRATION)
    camera = read_camera_info_yaml(path)
    assert (camera.width, camera.height) == (640, 480)
    np.testing.assert_allclose(camera.K, [[520, 0, 321.5], [0, 522, 239.5], [0, 0, 1]])
    np.testing.assert_allclose(camera.D, [-0.1, 0.02, 0, 0, 0])
    path.write_text(CALIBRATION.replace("camera_matrix", "intrinsics"))
    with pytest.raises(ReplayError, match="has no camera_matrix"):
        read_camera_info_yaml(path)
    path.write_text(CALIBRATION.replace("image_width: 640", "image_width: wide"))
    with pytest.raises(ReplayError, match="integer image_width"):
        read_camera_info_yaml(path)
    path.write_text(CALIBRATION.replace("520.0, 0.0, 321.5", "0.0, 0.0, 321.5"))
    with pytest.raises(ReplayError, match=r"front\.yaml"):
        read_camera_info_yaml(path)
