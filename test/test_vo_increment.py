"""vo_fusion.increment: one increment fitted to tracks with and without a depth around the motion
model's prediction, as the odometry does where PnP runs out of points (a turn)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.geometry import Transform
from vo_fusion.increment import IncrementTracks, fit_increment, translation_prior

CAMERA = PinholeCamera(
    np.array([[260.0, 0, 159.5], [0, 260.0, 119.5], [0, 0, 1]]), 320, 240, np.zeros(0)
)
# The previous camera somewhere in the world, looking along world +x.
T_PREV = Transform(
    Rotation.from_euler("zx", [-90.0, -90.0], degrees=True), np.array([3.0, 1.0, 1.4])
)


def scene(rng, delta, count):
    """World points 4-30 m in front of the previous camera seen by both cameras: (points,
    undistorted pixels then, now)."""
    in_prev = np.column_stack(
        [rng.uniform(-8, 8, count), rng.uniform(-3, 2, count), rng.uniform(4, 30, count)]
    )
    points = T_PREV.apply(in_prev)
    then, seen_then = CAMERA.project(in_prev)
    now, seen_now = CAMERA.project((T_PREV @ delta).inverse().apply(points))
    both = seen_then & seen_now
    return points[both], then[both], now[both]


def tracks(points, then, now, with_depth):
    return IncrementTracks(
        points[:with_depth], now[:with_depth], then[with_depth:], now[with_depth:]
    )


def test_a_turn_seen_by_tracks_without_depth_gives_the_rotation_and_keeps_the_prior_distance():
    rng = np.random.default_rng(4)
    # Turning left 6 degrees while moving 12 cm: the motion model (the last frame's turn of 4
    # degrees) is 2 degrees off; only 5 tracks still have a depth.
    true = Transform(Rotation.from_euler("y", -6.0, degrees=True), np.array([0.01, 0.0, 0.12]))
    prediction = Transform(Rotation.from_euler("y", -4.0, degrees=True), np.array([0.0, 0.0, 0.12]))
    points, then, now = scene(rng, true, 250)
    now = now + rng.normal(0, 0.3, now.shape)
    fit = fit_increment(
        CAMERA.K, T_PREV, prediction, translation_prior(0.02), tracks(points, then, now, 5), 2.0
    )
    error_deg = np.degrees((fit.delta.rotation * true.rotation.inv()).magnitude())
    assert error_deg < 0.1, error_deg
    assert np.linalg.norm(fit.delta.translation - true.translation) < 0.03
    assert fit.point_inliers.all() and fit.ray_inliers.mean() > 0.95
    # The covariance says what the image measured: the rotation to a fraction of a degree, the
    # distance travelled (along the optical axis) hardly better than its prior.
    std = np.sqrt(np.diag(fit.covariance))
    assert np.all(np.degrees(std[3:]) < 0.2)
    assert np.all(std[:3] <= 0.02 + 1e-9) and std[2] > 0.01


def test_flow_gone_astray_is_an_outlier():
    rng = np.random.default_rng(5)
    true = Transform(Rotation.from_euler("y", -5.0, degrees=True), np.array([0.0, 0.0, 0.1]))
    points, then, now = scene(rng, true, 200)
    astray = np.arange(10, 40)
    now[astray] += rng.uniform(8, 20, (len(astray), 2)) * rng.choice([-1, 1], (len(astray), 2))
    fit = fit_increment(
        CAMERA.K, T_PREV, true, translation_prior(0.02), tracks(points, then, now, 20), 2.0
    )
    flagged = np.flatnonzero(~np.concatenate([fit.point_inliers, fit.ray_inliers]))
    # Every astray track with a depth is caught; one without a depth only where it left its
    # epipolar line (moved along it, it still fits), and no good track is flagged.
    assert set(flagged) <= set(astray)
    assert set(range(10, 20)) <= set(flagged)
    assert len(flagged) >= 0.6 * len(astray)


def test_a_turn_on_the_spot_fits_rays_without_parallax():
    rng = np.random.default_rng(6)
    true = Transform(Rotation.from_euler("y", 7.0, degrees=True), np.zeros(3))
    prediction = Transform(Rotation.from_euler("y", 5.0, degrees=True), np.zeros(3))
    points, then, now = scene(rng, true, 200)
    fit = fit_increment(
        CAMERA.K, T_PREV, prediction, translation_prior(0.01), tracks(points, then, now, 0), 2.0
    )
    assert np.degrees((fit.delta.rotation * true.rotation.inv()).magnitude()) < 0.05
    assert fit.ray_inliers.all()


def test_a_view_unrelated_to_the_last_has_few_inliers():
    """What a kidnap looks like to the fit: flow 'followed' corners onto unrelated texture."""
    rng = np.random.default_rng(7)
    true = Transform(Rotation.from_euler("y", -3.0, degrees=True), np.array([0.0, 0.0, 0.1]))
    points, then, _ = scene(rng, true, 200)
    elsewhere = np.column_stack([rng.uniform(0, 320, len(then)), rng.uniform(0, 240, len(then))])
    fit = fit_increment(
        CAMERA.K, T_PREV, true, translation_prior(0.02), tracks(points, then, elsewhere, 10), 2.0
    )
    assert fit.inliers < 0.3 * len(points)
