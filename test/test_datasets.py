"""Dataset readers on tiny files the tests write, and KITTI on the real snippet where present."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.datasets import detect_format, read_dataset
from pose_reloc.datasets.cambridge import read_cambridge
from pose_reloc.datasets.kitti import read_kitti
from pose_reloc.datasets.record import DatasetError
from pose_reloc.datasets.seven_scenes import read_seven_scenes
from pose_reloc.datasets.tum import read_tum

KITTI_SNIPPET = Path(__file__).resolve().parents[2] / "shared" / "data" / "kitti_snippet_a"
R = Rotation.from_euler("xyz", [10, -30, 75], degrees=True)


def write_image(path: Path, value: int = 90, size=(64, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), value, np.uint8))


def test_cambridge_reads_wxyz_world_to_camera_rotations(tmp_path):
    q_wxyz = np.roll(R.inv().as_quat(), 1)  # the file stores world->camera as w x y z
    write_image(tmp_path / "seq1" / "frame00001.png")
    (tmp_path / "dataset_train.txt").write_text(
        "Visual Landmark Dataset V1\nImageFile, Camera Position [X Y Z W P Q R]\n\n"
        f"seq1/frame00001.png 1.5 -2.0 3.0 {' '.join(map(str, q_wxyz))}\n"
    )
    (frame,) = list(read_cambridge(tmp_path / "dataset_train.txt"))
    np.testing.assert_allclose(frame.T_wc.translation, [1.5, -2.0, 3.0])
    np.testing.assert_allclose(frame.T_wc.rotation.as_matrix(), R.as_matrix(), atol=1e-9)
    assert frame.image().shape == (48, 64, 3)
    assert detect_format(tmp_path / "dataset_train.txt") == "cambridge"


def test_cambridge_names_the_bad_line(tmp_path):
    (tmp_path / "dataset_test.txt").write_text("h\nh\nh\nseq1/a.png 1 2 3 1 0 0\n")
    with pytest.raises(DatasetError, match=r"dataset_test.txt:4: expected 7 finite numbers"):
        list(read_cambridge(tmp_path / "dataset_test.txt"))


def test_seven_scenes_pose_matrices(tmp_path):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R.as_matrix(), [0.1, 0.2, 0.3]
    seq = tmp_path / "seq-01"
    for i in range(3):
        write_image(seq / f"frame-{i:06d}.color.png")
        np.savetxt(seq / f"frame-{i:06d}.pose.txt", T)
    frames = list(read_dataset(tmp_path))
    assert len(frames) == 3 and frames[0].camera.fx == 585.0
    np.testing.assert_allclose(frames[2].T_wc.as_matrix(), T, atol=1e-9)
    (seq / "frame-000001.pose.txt").write_text("1 0 0\n")
    with pytest.raises(DatasetError, match=r"frame-000001.pose.txt: a pose file has 4 rows"):
        list(read_seven_scenes(tmp_path))


def test_tum_associates_images_with_interpolated_ground_truth(tmp_path):
    (tmp_path / "rgb.txt").write_text(
        "# timestamp filename\n10.05 rgb/a.png\n10.50 rgb/b.png\n12.00 rgb/c.png\n"
    )
    (tmp_path / "groundtruth.txt").write_text(
        "# timestamp tx ty tz qx qy qz qw\n"
        "10.00 0 0 0 0 0 0 1\n10.04 0.4 0 0 0 0 0 1\n10.08 0.8 0 0 0 0 0 1\n"
    )
    for name in "abc":
        write_image(tmp_path / "rgb" / f"{name}.png")
    frames = list(read_tum(tmp_path))
    assert len(frames) == 1  # b is 0.4 s from any pose, c is outside the ground truth
    np.testing.assert_allclose(frames[0].T_wc.translation, [0.5, 0, 0], atol=1e-9)
    assert detect_format(tmp_path) == "tum"


def test_kitti_reader_on_written_files_with_labelled_calibration(tmp_path):
    write_image(tmp_path / "image_0" / "000000.png", size=(100, 40))
    write_image(tmp_path / "image_0" / "000001.png", size=(100, 40))
    (tmp_path / "calib.txt").write_text(
        "P0: 700 0 50 0 0 700 20 0 0 0 1 0\nP1: 700 0 50 -380 0 700 20 0 0 0 1 0\n"
    )
    (tmp_path / "poses.txt").write_text("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0 0 1 0 0 0 0 1 1.2\n")
    frames = list(read_kitti(tmp_path))
    assert frames[0].camera.fx == 700.0 and (frames[0].camera.width, frames[0].camera.height) == (
        100,
        40,
    )
    np.testing.assert_allclose(frames[1].T_wc.translation, [0, 0, 1.2])
    assert frames[1].stamp == pytest.approx(0.1)
    (tmp_path / "poses.txt").write_text("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0 0 1 0 0 0 0 1\n")
    with pytest.raises(DatasetError, match=r"poses.txt:2: expected 12 finite numbers"):
        list(read_kitti(tmp_path))


@pytest.mark.skipif(
    not KITTI_SNIPPET.is_dir(),
    reason="../shared/data/kitti_snippet_a is absent (not in a fresh clone)",
)
def test_kitti_snippet_from_shared_data():
    frames = list(read_dataset(KITTI_SNIPPET))
    assert len(frames) == 51
    assert frames[0].camera.fx == pytest.approx(707.0912) and frames[0].camera.cy == pytest.approx(
        183.1104
    )
    np.testing.assert_allclose(frames[0].T_wc.as_matrix(), np.eye(4), atol=1e-6)
    path_length = sum(
        np.linalg.norm(b.T_wc.translation - a.T_wc.translation)
        for a, b in itertools.pairwise(frames)
    )
    assert 50 < path_length < 70  # about 60 m, as the snippet's README says
    assert frames[10].image().shape == (370, 1226, 3)


def test_missing_datasets_and_unknown_layouts(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_dataset(tmp_path / "none")
    with pytest.raises(DatasetError, match="cannot tell which dataset format"):
        read_dataset(tmp_path)
