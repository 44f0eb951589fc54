"""PnP side by side with pycolmap: `find_correspondences` gives exactly the matches refine_pose
solves on, both solvers recover exact poses from exact matches among outliers, compare_pnp on a
rendered drive reaches centimetres, and pycolmap's absence is a clear message, not an error."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from test_vo_feature_map import MAP_SECONDS, mapping_config, render
from test_vo_refine import PRIOR_COVARIANCE, held_out_config, perturbed

from pose_reloc.camera import PinholeCamera
from pose_reloc.geometry import Transform, rotation_error_deg, translation_error_m
from vo_fusion.build_map import build_map
from vo_fusion.errors import VoFusionError
from vo_fusion.evaluation.pnp_comparison import (
    PYCOLMAP_MISSING,
    PnpOutcome,
    PnpProblem,
    compare_pnp,
    compare_solvers,
    offset_pose,
    prior_covariance,
    summarize,
)
from vo_fusion.pnp import solve_pnp
from vo_fusion.refine import RefineConfig, find_correspondences, refine_pose

PYCOLMAP_REASON = "pycolmap is not installed: pip install pycolmap (optional, for the comparison)"
CAMERA = PinholeCamera(
    np.array([[260.0, 0, 159.5], [0, 260.0, 119.5], [0, 0, 1]]), 320, 240, np.zeros(5)
)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """An ORB map of the small city and a held-out drive 1 m to the side (as test_vo_refine)."""
    root = tmp_path_factory.mktemp("pnp")
    map_frames = render(mapping_config(), "drive", MAP_SECONDS, root / "map")
    queries = render(held_out_config(), "drive", 5.0, root / "drive")
    return build_map(map_frames, "orb", max_features=1000, log=lambda _: None), queries


def exact_problems(seed, frames=8, points=150, outlier_ratio=0.3, noise_px=0.0):
    """PnP problems with known answers: map points 5-30 m in front of a random camera, their
    projections (plus Gaussian noise), a share of them replaced by random pixels."""
    rng = np.random.default_rng(seed)
    problems = []
    for _ in range(frames):
        T_wc = Transform(Rotation.random(random_state=rng), rng.uniform(-20, 20, 3))
        pixels = rng.uniform([0, 0], [320, 240], (points, 2))
        rays = CAMERA.unproject(pixels)
        p_cam = rays / rays[:, 2:3] * rng.uniform(5.0, 30.0, (points, 1))
        observed = pixels + rng.normal(0.0, noise_px, pixels.shape) if noise_px else pixels
        wrong = rng.random(points) < outlier_ratio
        observed[wrong] = rng.uniform([0, 0], [320, 240], (int(wrong.sum()), 2))
        problems.append(PnpProblem(observed, T_wc.apply(p_cam), CAMERA, T_wc))
    return problems


def test_correspondences_are_exactly_what_refine_pose_solves(scene):
    feature_map, queries = scene
    frame = queries[4]
    prior = perturbed(frame.T_wc, np.random.default_rng(3))
    args = (frame.image(), frame.camera, prior, PRIOR_COVARIANCE, feature_map)
    matched = find_correspondences(*args)
    result = refine_pose(*args)
    assert not matched.problem and result.accepted
    assert (len(matched), matched.candidates) == (result.matches, result.candidates)
    config = RefineConfig()
    solution, _ = solve_pnp(
        matched.object_points, matched.image_points, frame.camera.K, config.ransac_threshold_px
    )
    assert solution is not None
    T_wc = Transform(Rotation.from_rotvec(solution.rvec), solution.tvec).inverse()
    np.testing.assert_allclose(T_wc.as_matrix(), result.T_wc.as_matrix(), atol=1e-9)
    np.testing.assert_array_equal(matched.feature_indices[solution.inliers], result.inlier_features)
    np.testing.assert_array_equal(
        matched.object_points[solution.inliers], result.inlier_points_world
    )
    np.testing.assert_array_equal(
        matched.object_points, feature_map.points_world[matched.map_indices]
    )
    # ... and they are real matches: most reproject onto their feature under the true pose.
    pixels, _ = frame.camera.project(frame.T_wc.inverse().apply(matched.object_points))
    assert np.mean(np.linalg.norm(pixels - matched.image_points, axis=1) < 3.0) > 0.5


def test_correspondences_say_why_there_are_too_few_as_refine_pose_does(scene):
    feature_map, queries = scene
    frame = queries[4]
    black = np.zeros_like(frame.image())
    matched = find_correspondences(black, frame.camera, frame.T_wc, PRIOR_COVARIANCE, feature_map)
    result = refine_pose(black, frame.camera, frame.T_wc, PRIOR_COVARIANCE, feature_map)
    assert "features detected" in matched.problem and matched.problem == result.reason
    assert len(matched) == 0 and matched.object_points.shape == (0, 3)


@pytest.mark.parametrize("method", ["opencv", "pycolmap"])
def test_both_solvers_recover_exact_poses_among_outliers(method):
    if method == "pycolmap":
        pytest.importorskip("pycolmap", reason=PYCOLMAP_REASON)
    problems = exact_problems(seed=1)
    section = compare_solvers(problems, RefineConfig(), seed=0)[method]
    assert section["success_rate"] == 1.0 and section["within_25cm_2deg"] == 1.0
    assert section["median_translation_m"] < 1e-6 and section["median_rotation_deg"] < 1e-5
    assert section["median_inliers"] > 0.6 * 150 and section["median_ms"] > 0


@pytest.mark.parametrize("method", ["opencv", "pycolmap"])
def test_both_solvers_reach_centimetres_under_pixel_noise(method):
    if method == "pycolmap":
        pytest.importorskip("pycolmap", reason=PYCOLMAP_REASON)
    section = compare_solvers(exact_problems(seed=2, noise_px=0.7), RefineConfig())[method]
    assert section["success_rate"] == 1.0
    assert 1e-4 < section["median_translation_m"] < 0.03 and section["p90_translation_m"] < 0.1


def test_compare_pnp_on_a_rendered_drive_reaches_centimetres(scene):
    feature_map, queries = scene
    lines = []
    figures = compare_pnp(feature_map, queries, log=lines.append)
    print("\n".join(lines))
    assert figures["frames"] == len(queries) and figures["pnp_frames"] >= 0.9 * len(queries)
    assert figures["matches_median"] >= 30
    opencv = figures["opencv"]
    assert opencv["success_rate"] >= 0.9 and opencv["within_25cm_2deg"] >= 0.8
    assert opencv["median_translation_m"] < 0.15 and opencv["median_rotation_deg"] < 0.5
    assert len(lines) == 3 and lines[1].startswith("opencv: ")
    if "skipped" not in figures["pycolmap"]:
        assert figures["pycolmap"]["within_25cm_2deg"] >= 0.8


def test_without_pycolmap_its_section_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycolmap", None)  # import pycolmap now fails
    sections = compare_solvers(exact_problems(seed=3, frames=2), RefineConfig())
    assert sections["pycolmap"] == {"skipped": PYCOLMAP_MISSING}
    assert "pip install pycolmap" in PYCOLMAP_MISSING
    assert sections["opencv"]["success_rate"] == 1.0


def test_failures_count_against_the_success_rate_not_the_errors():
    truth = Transform(Rotation.identity(), np.zeros(3))
    one_metre = Transform(Rotation.identity(), np.array([1.0, 0.0, 0.0]))
    outcomes = [
        PnpOutcome(truth, 50, 1.0),
        PnpOutcome(None, 0, 3.0),
        PnpOutcome(one_metre, 40, 2.0),
    ]
    section = summarize(outcomes, [truth] * 3, "test")
    assert section["success_rate"] == pytest.approx(2 / 3)
    assert section["median_translation_m"] == pytest.approx(0.5)
    assert section["within_25cm_2deg"] == pytest.approx(1 / 3)
    assert section["median_ms"] == 2.0 and section["median_inliers"] == 45.0


def test_the_prior_is_off_by_exactly_the_offsets_in_a_seeded_direction():
    truth = Transform(Rotation.from_euler("xyz", [10, -80, 30], degrees=True), np.ones(3))
    priors = [offset_pose(truth, 2.5, 6.0, np.random.default_rng(seed)) for seed in (0, 0, 1)]
    for prior in priors:
        assert translation_error_m(prior, truth) == pytest.approx(2.5)
        assert rotation_error_deg(prior, truth) == pytest.approx(6.0)
    assert np.allclose(priors[0].as_matrix(), priors[1].as_matrix())
    assert not np.allclose(priors[0].translation, priors[2].translation)
    np.testing.assert_allclose(
        np.diag(prior_covariance(2.0, 6.0))[[0, 5]], [4.0, np.radians(6) ** 2]
    )
    with pytest.raises(VoFusionError, match="must be >= 0"):
        prior_covariance(-1.0, 6.0)
