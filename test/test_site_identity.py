"""Site identity: which site a map, model or index was made for, and the checks that refuse
another site's."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROS_MISSING
from onnx_models import fake_posenet_model
from test_retrieval import street

from pose_reloc.site_identity import (
    SiteMismatchError,
    check_site,
    common_site,
    site_of_dataset_info,
    site_of_datasets,
)
from pose_reloc.tools.cli import main


def test_a_dataset_names_its_site_or_its_rendered_scene_does():
    assert site_of_dataset_info({"site": "yard", "scene_config": {"name": "demo", "seed": 7}}) == (
        "yard"
    )
    assert site_of_dataset_info({"scene_config": {"name": "demo", "seed": 7}}) == "synthetic:demo:7"
    assert site_of_dataset_info({"source": "pose-reloc map-site"}) == ""


def test_sources_that_do_not_say_agree_with_any_site_but_two_sites_are_refused():
    assert common_site({"a": "", "b": "yard", "c": "yard"}, "drives") == "yard"
    assert common_site({"a": ""}, "drives") == ""
    with pytest.raises(
        SiteMismatchError, match=r"drives are of different sites \(a: 'yard', c: 'car park'\)"
    ):
        common_site({"a": "yard", "b": "", "c": "car park"}, "drives")


def test_a_loaded_site_is_checked_against_the_robots():
    assert check_site("", "yard", "map", "m.npz") is None  # the robot names none: no check
    assert check_site("yard", "yard", "map", "m.npz") is None
    warning = check_site("yard", "", "map", "m.npz")
    assert warning is not None and "map m.npz does not say" in warning and "'yard'" in warning
    with pytest.raises(SiteMismatchError, match=r"map m\.npz was made for site 'car park'.*'yard'"):
        check_site("yard", "car park", "map", "m.npz")


def write_info(root, text):
    root.mkdir()
    (root / "dataset.yaml").write_text("format: pose_reloc-synthetic-1\n" + text)
    return root


def test_several_drives_of_one_site_give_it_and_of_two_are_refused(tmp_path):
    august = write_info(tmp_path / "august", "scene_config: {name: demo, seed: 7}\n")
    may = write_info(tmp_path / "may", "site: 'synthetic:demo:7'\n")
    other = write_info(tmp_path / "other", "scene_config: {name: demo, seed: 8}\n")
    assert site_of_datasets([august, may, tmp_path / "kitti_folder"]) == "synthetic:demo:7"
    with pytest.raises(SiteMismatchError, match="different sites"):
        site_of_datasets([august, other])


def tiny_map(path, site=None):
    from vo_fusion.feature_map import FeatureMap

    return FeatureMap(
        points_world=np.zeros((2, 3)),
        descriptors=np.zeros((2, 32), np.uint8),
        descriptor_type="orb",
        observation_counts=np.full(2, 2, np.int32),
        viewing_directions=np.tile([0.0, 0.0, 1.0], (2, 1)),
        metadata={"site": site} if site else {},
    ).save(path)


def test_set_site_names_the_site_of_a_map_an_index_and_a_model(tmp_path, capsys):
    from pose_reloc.onnx_session import load_model
    from pose_reloc.posenet.retrieval import RetrievalIndex, build_retrieval_index
    from vo_fusion.feature_map import FeatureMap

    map_path = tiny_map(tmp_path / "map.npz")
    index = build_retrieval_index(street(), 8)
    index_path = index.save(tmp_path / "index.npz")
    model = fake_posenet_model(tmp_path / "posenet.onnx")
    for path in (map_path, index_path, model):
        assert main(["set-site", str(path), "yard"]) == 0
    assert FeatureMap.load(map_path).site == "yard"
    assert RetrievalIndex.load(index_path).info["site"] == "yard"
    assert load_model(model, ["cpu"]).metadata.extra["site"] == "yard"
    capsys.readouterr()
    (tmp_path / "notes.npz").write_bytes(b"not a zip")
    assert main(["set-site", str(tmp_path / "notes.npz"), "yard"]) == 1
    assert "not an .npz archive" in capsys.readouterr().err
    assert main(["set-site", str(map_path), ""]) == 1
    assert "must not be empty" in capsys.readouterr().err


@pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")
def test_a_replay_with_its_own_map_checks_the_prior_against_the_maps_site(tmp_path):
    from pose_reloc.tools.cli import build_parser
    from pose_reloc.tools.cli.common import replay_settings
    from vo_fusion.feature_map import read_map_site

    map_path = tiny_map(tmp_path / "map.npz", site="yard")
    assert read_map_site(map_path) == "yard" and read_map_site(tmp_path / "none.npz") == ""
    base = ["replay", "bag", "--out", str(tmp_path / "run"), "--map", str(map_path)]

    def parameters(*extra):
        return replay_settings(build_parser().parse_args([*base, *extra]), tmp_path).parameters

    given = parameters("--prior-source", "posenet")
    assert given["posenet_node"] == {"prior_source": "posenet", "site": "yard"}
    assert given["vo_fusion_node"] == {"map": str(map_path.resolve()), "site": "yard"}
    assert parameters("--site", "")["posenet_node"] == {"site": ""}  # asked for no check
