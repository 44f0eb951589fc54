"""`pose-reloc synth` end to end: dataset folder and rosbag2 written, read back, consistent."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from synth_fixtures import small_config

from pose_reloc.datasets import read_dataset
from pose_reloc.datasets.rosbag import BagTopics, read_rosbag
from pose_reloc.synth.generate import synthesize
from pose_reloc.tools.cli import main


@pytest.fixture(scope="module")
def kidnap_set(tmp_path_factory):
    from pose_reloc.synth.render import RenderError

    root = tmp_path_factory.mktemp("kidnap")
    config = small_config(trajectory={"kidnap_every_s": 3.0})
    try:
        synthesize(config, "kidnap", 6.0, root / "data", with_depth=True, bag_path=root / "bag")
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    return root


def test_dataset_folder_reads_back_with_consistent_labels(kidnap_set):
    frames = list(read_dataset(kidnap_set / "data"))
    assert len(frames) == 60
    assert [f.kidnap for f in frames].count(True) == 1 and frames[30].kidnap
    stamps = np.array([f.stamp for f in frames])
    np.testing.assert_allclose(np.diff(stamps), 0.1, atol=1e-5)
    for frame in frames[::7]:
        np.testing.assert_allclose(
            frame.T_wc.rotation.inv().apply(frame.sun_world), frame.sun_cam, atol=1e-7
        )
        assert frame.condition == "sunny" and frame.image().shape == (240, 320, 3)
    depth = kidnap_set / "data" / "depth" / "000000.png"
    assert depth.is_file()


def test_bag_plays_back_in_order_and_matches_the_dataset(kidnap_set):
    from_bag = list(read_rosbag(kidnap_set / "bag", BagTopics()))
    from_folder = list(read_dataset(kidnap_set / "data"))
    assert len(from_bag) == len(from_folder)
    stamps = np.array([f.stamp for f in from_bag])
    assert np.all(np.diff(stamps) > 0), "bag stamps must be strictly increasing"
    for a, b in zip(from_bag[::9], from_folder[::9], strict=False):
        np.testing.assert_allclose(a.T_wc.as_matrix(), b.T_wc.as_matrix(), atol=1e-6)
        np.testing.assert_allclose(a.sun_cam, b.sun_cam, atol=1e-6)
        np.testing.assert_array_equal(a.camera.K, b.camera.K)
        assert np.abs(a.image().astype(int) - b.image().astype(int)).mean() < 4  # JPEG in the bag


def test_bag_without_the_image_topic_says_which_topics_it_has(kidnap_set):
    from pose_reloc.datasets.record import DatasetError

    with pytest.raises(DatasetError, match=r"has no topic /camera/nope.*ground_truth/pose"):
        list(read_rosbag(kidnap_set / "bag", BagTopics(image="/camera/nope")))


def test_synth_command_prints_its_rate_and_refuses_a_used_folder(tmp_path, capsys, kidnap_set):
    scene = tmp_path / "scene.yaml"
    scene.write_text("name: tiny\ncity: {blocks_x: 1, blocks_y: 1, parked_vehicles: 0}\n")
    assert (
        main(
            [
                "synth",
                "--scene",
                str(scene),
                "--out",
                str(tmp_path / "out"),
                "--frames",
                "12",
                "--noshadow-twin",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "wrote 12 frames of tiny/train" in out and "images/s" in out
    assert len(list((tmp_path / "out" / "images_noshadow").glob("*.png"))) == 12
    assert (
        main(["synth", "--scene", str(scene), "--out", str(tmp_path / "out"), "--frames", "2"]) == 1
    )
    assert "is not empty" in capsys.readouterr().err


def test_the_shipped_demo_bag_is_a_60_s_drive_with_one_kidnap():
    from pathlib import Path

    bag = Path(__file__).resolve().parents[1] / "data" / "demo" / "kidnap_drive"
    frames = list(read_rosbag(bag))
    assert len(frames) == 600
    stamps = np.array([f.stamp for f in frames])
    assert np.all(np.diff(stamps) > 0) and stamps[-1] - stamps[0] == pytest.approx(59.9, abs=1e-3)
    steps = np.array(
        [
            np.linalg.norm(b.T_wc.translation - a.T_wc.translation)
            for a, b in itertools.pairwise(frames)
        ]
    )
    assert (
        steps > 5.0
    ).sum() == 1 and steps.argmax() == 299  # teleported between frames 299 and 300
    assert all(f.sun_cam is not None for f in frames)
    assert frames[0].image().shape == (240, 320, 3)
    assert (bag / "kidnap_drive.mcap").stat().st_size < 15 * 2**20
