"""vo_fusion's pose refinement: a metres-off prior becomes a centimetre pose on held-out frames,
bad images are refused with a reason, MAGSAC++ is used (the covariance: test_vo_pnp)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from synth_fixtures import small_config
from test_vo_feature_map import MAP_SECONDS, mapping_config, render

from pose_reloc.camera import PinholeCamera
from pose_reloc.geometry import Transform, rotation_error_deg, translation_error_m
from vo_fusion.build_map import build_map
from vo_fusion.errors import VoFusionError
from vo_fusion.refine import RefineConfig, refine_pose, search_margin_px

# PoseNet-like prior: 2-3 m and 5-10 degrees off, and says so in its covariance.
PRIOR_COVARIANCE = np.diag([2.0**2] * 3 + [np.radians(6.0) ** 2] * 3)


def held_out_config():
    """Another drive up the same street: 1 m further left, camera 0.3 m higher, turned 25° left
    and pitched 4°, an hour later (other shadows), 2 Hz."""
    return small_config(
        trajectory={"waypoints": [[1.0, -33.0], [1.0, 30.0]], "rate_hz": 2.0},
        camera={"mount_xyz": [0.15, 0.0, 1.6], "mount_rpy_deg": [0.0, 4.0, 25.0]},
        sun={"drive_start_utc": "2026-06-21T16:00:00"},
    )


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("refine")
    map_frames = render(mapping_config(), "drive", MAP_SECONDS, root / "map")
    queries = render(held_out_config(), "drive", 10.0, root / "drive")
    maps = {
        descriptor: build_map(map_frames, descriptor, max_features=1000, log=lambda _: None)
        for descriptor in ("orb", "sift")
    }
    return maps, queries


def perturbed(T_wc, rng):
    """The pose moved 2-3 m in a random direction and turned 5-10 degrees about a random axis."""
    shift = rng.normal(size=3)
    shift *= rng.uniform(2.0, 3.0) / np.linalg.norm(shift)
    axis = rng.normal(size=3)
    turn = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.radians(rng.uniform(5.0, 10.0)))
    return Transform(turn * T_wc.rotation, T_wc.translation + shift)


@pytest.mark.parametrize(
    ("descriptor", "max_median_m", "max_median_deg", "max_error_m"),
    [("orb", 0.15, 0.5, 1.5), ("sift", 0.06, 0.2, 0.5)],
)
def test_a_metres_off_prior_is_refined_to_centimetres(
    scene, descriptor, max_median_m, max_median_deg, max_error_m
):
    maps, queries = scene
    rng = np.random.default_rng(7)
    results, truths = [], []
    for frame in queries:
        prior = perturbed(frame.T_wc, rng)
        feature_map = maps[descriptor]
        results.append(
            refine_pose(frame.image(), frame.camera, prior, PRIOR_COVARIANCE, feature_map)
        )
        truths.append(frame.T_wc)
    accepted = [(r, t) for r, t in zip(results, truths, strict=True) if r.accepted]
    assert len(accepted) >= 0.9 * len(queries), [r.reason for r in results]
    t_err = np.array([translation_error_m(r.T_wc, t) for r, t in accepted])
    r_err = np.array([rotation_error_deg(r.T_wc, t) for r, t in accepted])
    position_std = np.array(
        [np.sqrt(np.linalg.eigvalsh(r.covariance[:3, :3]).max()) for r, _ in accepted]
    )
    elapsed = np.array([r.elapsed_ms for r in results])
    print(
        f"{descriptor}: {len(maps[descriptor])} map points, {len(accepted)}/{len(queries)} "
        f"accepted; error median {np.median(t_err) * 100:.1f} cm, p90 "
        f"{np.percentile(t_err, 90) * 100:.1f} cm, max {t_err.max() * 100:.0f} cm; "
        f"{np.median(r_err):.2f} deg (max {r_err.max():.2f}); error/std median "
        f"{np.median(t_err / position_std):.1f}, max {np.max(t_err / position_std):.1f}; "
        f"{np.median([r.inliers for r, _ in accepted]):.0f} inliers; "
        f"{np.median(elapsed):.0f} ms per 320x240 frame"
    )
    assert np.median(t_err) < max_median_m and np.median(r_err) < max_median_deg
    assert t_err.max() < max_error_m and np.mean(t_err < 0.3) >= 0.85
    assert np.median(t_err / position_std) < 2.0  # the covariance is of the right size ...
    assert np.mean(t_err / position_std > 5.0) <= 0.1  # ... and rarely far too small
    for result, _ in accepted:
        assert result.inliers >= 30 and result.median_reprojection_px <= 1.5
        assert result.candidates >= result.matches >= result.inliers and result.reason == "accepted"


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("black", np.zeros((240, 320, 3), np.uint8)),
        ("grey", np.full((240, 320, 3), 128, np.uint8)),
        ("grey-2d", np.full((240, 320), 200, np.uint8)),
    ],
)
def test_featureless_images_are_refused_with_a_reason(scene, name, image):
    maps, queries = scene
    frame = queries[5]
    result = refine_pose(image, frame.camera, frame.T_wc, PRIOR_COVARIANCE, maps["orb"])
    assert not result.accepted and result.T_wc is None and result.covariance is None
    assert "features detected" in result.reason and result.elapsed_ms >= 0


def test_noise_and_wrong_images_never_give_an_accepted_pose(scene):
    maps, queries = scene
    frame = queries[5]
    noise = np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    result = refine_pose(noise, frame.camera, frame.T_wc, PRIOR_COVARIANCE, maps["orb"])
    assert not result.accepted and result.reason
    wrong_size = refine_pose(
        frame.image()[:120], frame.camera, frame.T_wc, PRIOR_COVARIANCE, maps["orb"]
    )
    assert not wrong_size.accepted and "camera model is 320x240" in wrong_size.reason
    floats = refine_pose(
        frame.image().astype(np.float32), frame.camera, frame.T_wc, PRIOR_COVARIANCE, maps["orb"]
    )
    assert not floats.accepted and "uint8" in floats.reason


def test_a_prior_where_the_map_has_nothing_is_refused(scene):
    maps, queries = scene
    frame = queries[5]
    in_the_sky = Transform(
        frame.T_wc.rotation, frame.T_wc.translation + np.array([0.0, 0.0, 300.0])
    )
    result = refine_pose(frame.image(), frame.camera, in_the_sky, PRIOR_COVARIANCE, maps["orb"])
    assert not result.accepted and "map points in view of the prior" in result.reason


def test_a_pose_far_outside_an_overconfident_prior_is_not_accepted(scene):
    maps, queries = scene
    frame = queries[8]
    prior = perturbed(frame.T_wc, np.random.default_rng(1))
    overconfident = np.diag([0.01**2] * 3 + [np.radians(0.1) ** 2] * 3)
    result = refine_pose(frame.image(), frame.camera, prior, overconfident, maps["orb"])
    assert not result.accepted and "sigma from the prior pose" in result.reason
    assert result.T_wc is not None and translation_error_m(result.T_wc, frame.T_wc) < 0.5


def test_pnp_runs_usac_magsac_not_plain_ransac(scene, monkeypatch):
    maps, queries = scene
    calls = []
    original = cv2.solvePnPRansac

    def recording(*args, **kwargs):
        calls.append(kwargs.get("flags", args[10] if len(args) > 10 else None))
        return original(*args, **kwargs)

    monkeypatch.setattr(cv2, "solvePnPRansac", recording)
    frame = queries[3]
    prior = perturbed(frame.T_wc, np.random.default_rng(2))
    result = refine_pose(frame.image(), frame.camera, prior, PRIOR_COVARIANCE, maps["orb"])
    assert calls == [cv2.USAC_MAGSAC] and result.accepted


def test_search_margin_grows_with_the_prior_uncertainty_and_is_clamped():
    camera = PinholeCamera(
        np.array([[260.0, 0, 159.5], [0, 260.0, 119.5], [0, 0, 1]]), 320, 240, np.zeros(5)
    )
    config = RefineConfig()
    tiny = search_margin_px(np.eye(6) * 1e-10, camera, config)
    medium = search_margin_px(np.diag([0.5**2] * 3 + [np.radians(2.0) ** 2] * 3), camera, config)
    huge = search_margin_px(np.eye(6) * 100.0, camera, config)
    assert tiny == config.min_margin_px and huge == config.max_margin_px
    assert tiny < medium < huge
    expected = 3 * (260 * np.tan(np.radians(2.0) * 1.0) + 260 * 0.5 / 8.0)
    assert medium == pytest.approx(expected, rel=0.05)


def test_refine_config_refuses_impossible_thresholds():
    with pytest.raises(VoFusionError, match="min_inliers"):
        RefineConfig(min_inliers=3)
    with pytest.raises(VoFusionError, match="ratio"):
        RefineConfig(ratio=1.5)
    with pytest.raises(VoFusionError, match="ransac_threshold_px must be positive"):
        RefineConfig(ransac_threshold_px=0.0)


def test_refinement_time_is_bounded(scene):
    maps, queries = scene
    frame = queries[10]
    started = time.perf_counter()
    result = refine_pose(frame.image(), frame.camera, frame.T_wc, PRIOR_COVARIANCE, maps["orb"])
    assert result.accepted and (time.perf_counter() - started) < 1.0
