"""vo_fusion's feature map: built from posed synthetic images, checked against the exact scene,
saved and loaded as one versioned file, queried from a pose."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from synth_fixtures import small_config

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets import read_dataset
from pose_reloc.geometry import Transform
from vo_fusion.build_map import build_map, covisible_pairs, detect_views
from vo_fusion.colmap_model import load_colmap_model
from vo_fusion.errors import VoFusionError
from vo_fusion.feature_map import FORMAT_VERSION, FeatureMap
from vo_fusion.mapping.two_view import descriptor_matches, verify_pair

# The mapping run: a robot drives north up the street at x = 2 m with its camera turned 35° to the
# left, towards the façades (a sideways component of motion gives triangulation angles), 4 Hz.
MAP_ROUTE = [[2.0, -34.0], [2.0, 30.0]]
MAP_SECONDS, MAP_RATE_HZ, MAP_YAW_DEG = 12.0, 4.0, 35.0


def mapping_config():
    return small_config(
        trajectory={"waypoints": MAP_ROUTE, "rate_hz": MAP_RATE_HZ},
        camera={"mount_rpy_deg": [0.0, 0.0, MAP_YAW_DEG]},
    )


def render(config, kind, amount, out):
    """Frames of a synthetic set rendered into `out`, or a skip where there is no OpenGL."""
    from pose_reloc.synth.generate import synthesize
    from pose_reloc.synth.render import RenderError

    try:
        synthesize(config, kind, amount, out)
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    return list(read_dataset(out))


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    frames = render(mapping_config(), "drive", MAP_SECONDS, tmp_path_factory.mktemp("map") / "set")
    messages: list[str] = []
    started = time.perf_counter()
    feature_map = build_map(frames, max_features=1000, log=messages.append)
    elapsed = time.perf_counter() - started
    print(f"ORB map of {len(feature_map)} points from {len(frames)} images in {elapsed:.1f} s")
    return frames, feature_map, messages


def test_build_map_reports_its_stages_and_records_how_it_was_built(mapped):
    frames, feature_map, messages = mapped
    assert len(frames) == 48 and len(feature_map) > 500
    assert any("covisible pairs" in m for m in messages) and "kept" in messages[-1]
    assert feature_map.descriptor_type == "orb" and feature_map.frame_id == "map"
    assert feature_map.descriptors.dtype == np.uint8 and feature_map.descriptors.shape[1] == 32
    assert feature_map.metadata["images"] == [f.source for f in frames]
    assert feature_map.metadata["min_track"] == 2 and feature_map.metadata["pairs"] <= 48 * 8
    np.testing.assert_allclose(np.linalg.norm(feature_map.viewing_directions, axis=1), 1.0)


def test_build_map_takes_the_matches_map_site_made_for_its_keyframe_pairs(mapped):
    frames, feature_map, _ = mapped
    # map-site's features (ORB keypoints moved by the level offset: the same descriptors) and its
    # pair checks; one pair given turned round, as a loop closure may be
    views = detect_views(frames, "orb", 1000, level_offset=True)
    tried = [verify_pair(views[i], views[j], i, j, "orb") for i, j in _steps(len(views))]
    tried.append(verify_pair(views[9], views[7], 9, 7, "orb"))
    matched = descriptor_matches([pair for pair in tried if pair is not None])
    assert len(matched) > 60 and (7, 9) in matched
    reused = build_map(frames, max_features=1000, matched=matched, log=lambda _: None)
    assert np.array_equal(reused.points_world, feature_map.points_world)
    assert np.array_equal(reused.descriptors, feature_map.descriptors)
    # the given matches are the ones used: without any for the pairs, no point is left
    nothing = {ij: np.zeros((0, 2), np.int32) for ij in _covisible(frames)}
    with pytest.raises(VoFusionError, match="no map point survived"):
        build_map(frames, max_features=1000, matched=nothing, log=lambda _: None)
    wrong = {(0, 1): np.array([[0, 5000]], np.int32)}
    with pytest.raises(VoFusionError, match=r"matches given for images \(0, 1\) index features"):
        build_map(frames, max_features=1000, matched=wrong, log=lambda _: None)


def _steps(n):
    return [(i, j) for i in range(n - 1) for j in range(i + 1, min(i + 4, n))]


def _covisible(frames):
    centres = np.array([f.T_wc.translation for f in frames])
    axes = np.array([f.T_wc.rotation.apply([0.0, 0.0, 1.0]) for f in frames])
    return covisible_pairs(centres, axes, 8, 20.0, 60.0)


def test_map_points_reproject_into_every_frame_that_observed_them(mapped):
    frames, feature_map, _ = mapped
    observations = feature_map.observations
    point, image = observations[:, 0].astype(int), observations[:, 1].astype(int)
    assert np.array_equal(
        np.bincount(point, minlength=len(feature_map)), feature_map.observation_counts
    )
    assert feature_map.observation_counts.min() >= 2
    errors = np.zeros(len(observations))
    for index, frame in enumerate(frames):
        mine = image == index
        p_cam = frame.T_wc.inverse().apply(feature_map.points_world[point[mine]])
        pixels, inside = frame.camera.project(p_cam)
        assert inside.all()
        errors[mine] = np.linalg.norm(pixels - observations[mine, 2:], axis=1)
    assert errors.max() <= 2.0 + 1e-6
    print(
        f"reprojection in observing frames: median {np.median(errors):.2f} px, max {errors.max():.2f}"
    )


def test_map_points_lie_on_the_scene_surfaces_within_their_uncertainty(mapped):
    from pose_reloc.synth.city import build_city

    _, feature_map, _ = mapped
    city = build_city(mapping_config())
    points = feature_map.points_world
    to_surface = np.minimum(city.clearance(points), np.abs(points[:, 2]))  # boxes or the ground
    std = feature_map.point_std_m
    precise = std <= 0.25
    assert np.median(to_surface) < 0.2
    assert precise.sum() > 50 and np.median(to_surface[precise]) < 0.1
    assert np.mean(to_surface <= 3 * std + 0.05) > 0.95
    print(
        f"distance to the nearest surface: median {np.median(to_surface):.3f} m over "
        f"{len(points)} points, {np.median(to_surface[precise]):.3f} m over the "
        f"{precise.sum()} with std <= 0.25 m"
    )


def test_save_load_round_trip_keeps_everything(mapped, tmp_path):
    _, feature_map, _ = mapped
    path = feature_map.save(tmp_path / "maps" / "street.npz")
    assert path.is_file() and not list(path.parent.glob("*.partial"))
    loaded = FeatureMap.load(path)
    for name in ("points_world", "descriptors", "observation_counts"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(feature_map, name))
    for name in ("viewing_directions", "point_covariances", "observations"):  # stored as float32
        np.testing.assert_allclose(getattr(loaded, name), getattr(feature_map, name), rtol=1e-6)
    for name in ("points_world", "descriptors", "observation_counts", "viewing_directions"):
        assert getattr(loaded, name).dtype == getattr(feature_map, name).dtype
    assert loaded.descriptor_type == "orb" and loaded.frame_id == "map"
    assert loaded.metadata == json.loads(json.dumps(feature_map.metadata))
    compact = FeatureMap.load(feature_map.save(tmp_path / "compact.npz", with_observations=False))
    assert len(compact.observations) == 0 and len(feature_map.observations) > 0
    np.testing.assert_array_equal(compact.points_world, feature_map.points_world)
    assert compact.descriptors.shape == feature_map.descriptors.shape


def _write_map_with(path, **overrides):
    fields = {
        "format_version": np.int64(FORMAT_VERSION),
        "descriptor_type": np.str_("orb"),
        "frame_id": np.str_("map"),
        "metadata_json": np.str_("{}"),
        "points_world": np.zeros((1, 3)),
        "descriptors": np.zeros((1, 32), np.uint8),
        "observation_counts": np.array([2], np.int32),
        "viewing_directions": np.array([[0.0, 0.0, 1.0]]),
        "point_covariances": np.diag([0.1**2, 0.05**2, 0.02**2])[None],
        "observations": np.zeros((0, 4)),
    }
    fields.update(overrides)
    with open(path, "wb") as out:
        np.savez_compressed(out, **{k: v for k, v in fields.items() if v is not None})
    return path


def test_a_minimal_hand_written_map_loads(tmp_path):
    loaded = FeatureMap.load(_write_map_with(tmp_path / "one.npz"))
    assert len(loaded) == 1 and loaded.point_std_m[0] == pytest.approx(0.1)


BROKEN_MAPS = {
    "missing": (lambda path: None, r"does not exist"),
    "empty": (lambda path: path.write_bytes(b""), r"is empty"),
    "corrupt-zip": (lambda path: path.write_bytes(b"PK\x03\x04 not a zip"), r"not a readable map"),
    "text": (lambda path: path.write_text("points: [1, 2, 3]\n"), r"not a readable map"),
    "wrong-version": (
        lambda path: _write_map_with(path, format_version=np.int64(99)),
        r"format version 99 but this code reads version 1",
    ),
    "no-field": (lambda path: _write_map_with(path, descriptors=None), r"lacks descriptors"),
    "bad-json": (
        lambda path: _write_map_with(path, metadata_json=np.str_("{not json")),
        r"inconsistent",
    ),
    "sizes": (
        lambda path: _write_map_with(path, descriptors=np.zeros((3, 32), np.uint8)),
        r"arrays disagree",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_MAPS))
def test_unusable_map_files_raise_naming_the_file_and_the_fix(tmp_path, kind):
    write, message = BROKEN_MAPS[kind]
    path = tmp_path / "broken_map.npz"
    write(path)
    with pytest.raises(VoFusionError, match=message) as caught:
        FeatureMap.load(path)
    assert str(path) in str(caught.value) and "pose-reloc build-map" in str(caught.value)


def test_a_truncated_map_file_raises(mapped, tmp_path):
    _, feature_map, _ = mapped
    path = feature_map.save(tmp_path / "map.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VoFusionError, match=r"map\.npz is not a readable map"):
        FeatureMap.load(path)


def test_points_in_view_are_in_front_and_inside_the_widened_image(mapped):
    frames, feature_map, _ = mapped
    frame = frames[20]
    camera = frame.camera
    seen = feature_map.points_in_view(frame.T_wc, camera)
    _, inside = camera.project(frame.T_wc.inverse().apply(feature_map.points_world[seen]))
    assert len(seen) > 100 and inside.all()
    wider = feature_map.points_in_view(frame.T_wc, camera, margin_px=200.0)
    assert set(seen) < set(wider)
    near = feature_map.points_in_view(frame.T_wc, camera, margin_px=200.0, max_distance_m=15.0)
    distances = np.linalg.norm(feature_map.points_world[near] - frame.T_wc.translation, axis=1)
    assert set(near) < set(wider) and distances.max() <= 15.0
    turned = Transform(
        frame.T_wc.rotation * Rotation.from_euler("y", 180, degrees=True), frame.T_wc.translation
    )
    assert not set(feature_map.points_in_view(turned, camera, margin_px=100.0)) & set(seen)


def _looking_along(direction, centre):
    """A camera pose at `centre` whose optical axis (z) points along `direction`."""
    z = direction / np.linalg.norm(direction)
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    return Transform(Rotation.from_matrix(np.column_stack([x, np.cross(z, x), z])), centre)


def test_points_seen_only_from_the_other_side_are_not_in_view(mapped):
    frames, feature_map, _ = mapped
    index = int(np.argmax(feature_map.observation_counts))
    point, towards_cameras = feature_map.points_world[index], feature_map.viewing_directions[index]
    from_front = _looking_along(-towards_cameras, point + 5.0 * towards_cameras)
    from_back = _looking_along(towards_cameras, point - 5.0 * towards_cameras)
    camera = frames[0].camera
    assert index in feature_map.points_in_view(from_front, camera, max_view_angle_deg=80.0)
    assert index in feature_map.points_in_view(from_back, camera)
    assert index not in feature_map.points_in_view(from_back, camera, max_view_angle_deg=80.0)


def test_sift_maps_hold_float_descriptors(mapped):
    frames, _, _ = mapped
    sift_map = build_map(frames[:16], descriptor="sift", max_features=500, log=lambda _: None)
    assert len(sift_map) > 50 and sift_map.descriptor_type == "sift"
    assert sift_map.descriptors.dtype == np.float32 and sift_map.descriptors.shape[1] == 128


def test_covisible_pairs_are_near_similar_views_and_bounded_per_camera():
    n = 30
    centres = np.column_stack([np.arange(n) * 0.5, np.zeros(n), np.zeros(n)])
    axes = np.tile([0.0, 1.0, 0.0], (n, 1))
    axes[::2] = [0.0, -1.0, 0.0]  # every other camera looks the opposite way
    pairs = covisible_pairs(centres, axes, neighbours=4, max_distance_m=3.0, max_angle_deg=60.0)
    assert pairs and len(pairs) <= n * 4
    for i, j in pairs:
        assert i < j and (j - i) % 2 == 0 and abs(j - i) * 0.5 <= 3.0


def test_build_map_refuses_too_few_images_and_bad_settings(mapped):
    frames, _, _ = mapped
    with pytest.raises(VoFusionError, match="at least 2 posed images"):
        build_map(frames[:1], log=lambda _: None)
    with pytest.raises(VoFusionError, match="min_track"):
        build_map(frames, min_track=1, log=lambda _: None)
    with pytest.raises(VoFusionError, match="not one of"):
        build_map(frames[:2], descriptor="surf", log=lambda _: None)


@pytest.mark.parametrize(
    ("pick", "settings", "stage"),
    [
        (lambda f: [f[0], f[0]], {}, "0 tracks seen in 2"),  # one pose twice: no pair to match
        (lambda f: f[:2], {"min_triangulation_deg": 60.0}, "0 seen under 60.0 deg"),
    ],
    ids=["no pair", "no angle"],
)
def test_a_map_without_points_is_refused_naming_the_stage_that_emptied_it(
    mapped, pick, settings, stage
):
    frames, _, _ = mapped
    for descriptor, advice in (("orb", "SIFT"), ("sift", "min_triangulation_deg")):
        with pytest.raises(VoFusionError, match="no map point survived") as refused:
            build_map(pick(frames), descriptor, log=lambda _: None, **settings)
        assert stage in str(refused.value) and advice in str(refused.value)


def test_feature_map_refuses_inconsistent_arrays():
    with pytest.raises(VoFusionError, match="NaN"):
        FeatureMap(np.full((1, 3), np.nan), np.zeros((1, 32)), "orb", [1], [[0, 0, 1]])
    with pytest.raises(VoFusionError, match="does not exist"):
        FeatureMap(
            np.zeros((1, 3)),
            np.zeros((1, 32)),
            "orb",
            [1],
            [[0, 0, 1]],
            observations=[[5, 0, 1, 1]],
        )


def test_colmap_models_need_pycolmap(tmp_path):
    try:
        import pycolmap  # noqa: F401
    except ImportError:
        with pytest.raises(VoFusionError, match=r"pycolmap is not installed.*pip install pycolmap"):
            load_colmap_model(tmp_path)
    else:
        with pytest.raises(VoFusionError, match="does not exist"):
            load_colmap_model(tmp_path / "nowhere")


def test_points_in_view_of_an_empty_map_is_empty():
    empty = FeatureMap(np.zeros((0, 3)), np.zeros((0, 32), np.uint8), "orb", [], np.zeros((0, 3)))
    camera = PinholeCamera(
        np.array([[200.0, 0, 160], [0, 200.0, 120], [0, 0, 1]]), 320, 240, np.zeros(5)
    )
    assert len(empty.points_in_view(Transform.identity(), camera, margin_px=50.0)) == 0
