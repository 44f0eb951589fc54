"""vo_fusion's error-state pose filter: VO increments compose with the right covariance
(Monte-Carlo), PnP poses fuse and outliers are gated, sun vectors fix the two observable rotation
axes and never the one about the sun, a lost tracker's covariance grows, bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from scipy.stats import chi2

from pose_reloc.geometry import Transform, rotation_error_deg, tangent_basis
from vo_fusion.errors import VoFusionError
from vo_fusion.pose_filter import (
    FilterConfig,
    PoseFilter,
    TimeWentBackwards,
    UpdateResult,
    compose_jacobians,
    predicted_sun_cam,
    sun_jacobian,
)

# Camera looking along map +x (optical: z forward, x right, y down), map z up.
R_LOOKING_EAST = Rotation.from_matrix([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
# A low sun ahead and a little to the left (map x east, y north, z up): elevation 20°.
SUN_ELEVATION_DEG = 20.0
SUN_MAP = Rotation.from_euler("ZY", [10.0, -SUN_ELEVATION_DEG], degrees=True).apply([1.0, 0, 0])
SUN_SIGMA_RAD = np.radians(1.0)


def a_pose(seed: int = 0) -> Transform:
    rng = np.random.default_rng(seed)
    return Transform(Rotation.random(random_state=seed), rng.normal(0.0, 5.0, 3))


def random_covariance(seed: int, position_std: float, rotation_std: float) -> np.ndarray:
    """A full (correlated) SPD 6x6 covariance with roughly these standard deviations."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(6, 6))
    correlation = A @ A.T + 6.0 * np.eye(6)
    d = 1.0 / np.sqrt(np.diag(correlation))
    correlation = correlation * np.outer(d, d)
    stds = np.array([position_std] * 3 + [rotation_std] * 3)
    return correlation * np.outer(stds, stds)


def pose_filter(
    T: Transform | None = None, P: np.ndarray | None = None, stamp: float = 10.0, **config
) -> PoseFilter:
    f = PoseFilter(FilterConfig(**config))
    f.reset(
        T if T is not None else Transform(R_LOOKING_EAST, np.array([1.0, 2.0, 1.5])),
        P if P is not None else np.diag([0.1**2] * 3 + [np.radians(2.0) ** 2] * 3),
        stamp,
    )
    return f


def sun_covariance(sun_cam: np.ndarray, sigma: float = SUN_SIGMA_RAD) -> np.ndarray:
    """Isotropic noise in the plane orthogonal to the sun vector (rank 2, as MC samples give)."""
    return sigma**2 * (np.eye(3) - np.outer(sun_cam, sun_cam))


def snapshot(f: PoseFilter) -> tuple[np.ndarray, np.ndarray, float]:
    return f.pose.as_matrix(), f.covariance, f.stamp


def assert_unchanged(f: PoseFilter, before: tuple[np.ndarray, np.ndarray, float]) -> None:
    matrix, covariance, stamp = before
    np.testing.assert_array_equal(f.pose.as_matrix(), matrix)
    np.testing.assert_array_equal(f.covariance, covariance)
    assert f.stamp == stamp


# ---------------------------------------------------------------- predict


def test_predict_composes_the_increment_in_the_camera_frame():
    T0 = a_pose(1)
    delta = Transform(Rotation.from_rotvec([0.02, -0.1, 0.05]), np.array([0.1, -0.05, 1.2]))
    f = pose_filter(T0)
    f.predict(delta, np.zeros(36), 10.1)
    expected = T0.as_matrix() @ delta.as_matrix()
    np.testing.assert_allclose(f.pose.as_matrix(), expected, atol=1e-12)
    # The camera moved 1.2 m along its own optical axis (plus a little sideways).
    np.testing.assert_allclose(
        f.pose.translation - T0.translation, T0.rotation.apply(delta.translation), atol=1e-12
    )
    assert f.stamp == pytest.approx(10.1)


def test_predict_covariance_matches_monte_carlo():
    """Sample the prior and the increment in their conventions, compose, measure the spread."""
    rng = np.random.default_rng(7)
    T0 = a_pose(2)
    P0 = random_covariance(3, 0.05, np.radians(1.5))
    Q = random_covariance(4, 0.03, np.radians(1.0))
    # A long lever arm, so the −[R t_Δ]× δθ term dominates the position spread.
    delta = Transform(Rotation.from_rotvec([0.05, 0.2, -0.1]), np.array([0.5, -0.3, 4.0]))
    f = pose_filter(T0, P0)
    f.predict(delta, Q, 10.1)

    n = 60_000
    prior = rng.multivariate_normal(np.zeros(6), P0, n)
    increment = rng.multivariate_normal(np.zeros(6), Q, n)
    R_prev = Rotation.from_rotvec(prior[:, 3:]) * T0.rotation
    c_prev = T0.translation + prior[:, :3]
    R_delta = Rotation.from_rotvec(increment[:, 3:]) * delta.rotation
    t_delta = delta.translation + increment[:, :3]
    c_next = c_prev + R_prev.apply(t_delta)
    R_next = R_prev * R_delta
    errors = np.hstack([c_next - f.pose.translation, (R_next * f.pose.rotation.inv()).as_rotvec()])
    sampled = np.cov(errors.T)
    scale = np.sqrt(np.outer(np.diag(sampled), np.diag(sampled)))
    # Within 3% in correlation units (sampling noise ≈ 0.4%).
    np.testing.assert_array_less(np.abs(sampled - f.covariance) / scale, 0.03)
    # The check can fail: without the lever-arm term of F it would.
    _, G = compose_jacobians(T0.rotation, delta.translation)
    without_lever = P0 + G @ Q @ G.T
    assert np.abs(sampled - without_lever).max() / scale.max() > 0.1
    assert np.trace(f.covariance[:3, :3]) > 3.0 * np.trace(P0[:3, :3])


def test_a_pure_rotation_increment_without_noise_leaves_the_covariance_unchanged():
    """Perturbations live in map axes: turning the camera in place moves nothing in them."""
    P0 = random_covariance(5, 0.2, np.radians(3.0))
    f = pose_filter(a_pose(3), P0)
    delta = Transform(Rotation.from_rotvec([0.3, -0.2, 0.6]), np.zeros(3))
    f.predict(delta, np.zeros((6, 6)), 10.5)
    np.testing.assert_allclose(f.covariance, P0, atol=1e-15)
    np.testing.assert_allclose(
        f.pose.rotation.as_matrix(), (a_pose(3).rotation * delta.rotation).as_matrix(), atol=1e-12
    )


def test_increment_noise_is_rotated_from_the_previous_camera_into_map_axes():
    """Noise only along the camera's optical axis (z) lands along the map direction it faces."""
    f = pose_filter(Transform(R_LOOKING_EAST, np.zeros(3)), np.zeros((6, 6)))
    Q = np.diag([0.0, 0.0, 0.2**2, 0.0, 0.0, 0.0])
    f.predict(Transform(Rotation.from_rotvec([0.0, 0.4, 0.0]), np.zeros(3)), Q, 10.1)
    np.testing.assert_allclose(f.covariance, np.diag([0.2**2, 0, 0, 0, 0, 0]), atol=1e-15)


def test_compose_jacobians_match_the_derivation():
    R = Rotation.from_rotvec([0.1, 0.2, 0.3])
    t = np.array([1.0, 2.0, 3.0])
    F, G = compose_jacobians(R, t)
    lever = R.apply(t)
    delta_theta = np.array([1e-3, -2e-3, 0.5e-3])
    # −[R t]× δθ = δθ × (R t): the position moves as the lever arm swings.
    np.testing.assert_allclose(F[:3, 3:] @ delta_theta, np.cross(delta_theta, lever), atol=1e-15)
    np.testing.assert_array_equal(F[:3, :3], np.eye(3))
    np.testing.assert_array_equal(F[3:, :3], np.zeros((3, 3)))
    np.testing.assert_allclose(G[:3, :3], R.as_matrix())
    np.testing.assert_allclose(G[3:, 3:], R.as_matrix())


# ---------------------------------------------------------------- update_pose


def test_equal_covariances_land_halfway_and_halve_the_covariance():
    P = random_covariance(6, 0.3, np.radians(2.0))
    T0 = a_pose(4)
    offset = np.array([0.2, -0.1, 0.3, 0.01, -0.02, 0.015])
    T_meas = Transform(Rotation.from_rotvec(offset[3:]) * T0.rotation, T0.translation + offset[:3])
    f = pose_filter(T0, P)
    result = f.update_pose(T_meas, P, 10.2)
    assert result.accepted, result.reason
    assert result.reason == "accepted"
    np.testing.assert_allclose(f.pose.translation, T0.translation + offset[:3] / 2, atol=1e-12)
    moved = (f.pose.rotation * T0.rotation.inv()).as_rotvec()
    np.testing.assert_allclose(moved, offset[3:] / 2, atol=1e-12)
    np.testing.assert_allclose(f.covariance, P / 2, atol=1e-15)
    expected_distance = np.sqrt(offset @ np.linalg.solve(2 * P, offset))
    assert result.mahalanobis == pytest.approx(expected_distance, rel=1e-9)
    assert f.stamp == pytest.approx(10.2)


def test_a_precise_measurement_wins_over_a_vague_prior():
    T0 = a_pose(5)
    P = np.diag([1.0] * 3 + [np.radians(10.0) ** 2] * 3)
    R_meas = np.diag([0.01**2] * 3 + [np.radians(0.1) ** 2] * 3)
    T_meas = Transform(Rotation.from_rotvec([0.05, 0.0, -0.05]) * T0.rotation, T0.translation + 1)
    f = pose_filter(T0, P)
    assert f.update_pose(T_meas, R_meas, 10.0).accepted
    np.testing.assert_allclose(f.pose.translation, T_meas.translation, atol=1e-3)
    assert rotation_error_deg(f.pose, T_meas) < 0.01
    assert np.all(np.diag(f.covariance) <= np.diag(R_meas) * 1.0001)


def test_a_50_sigma_outlier_is_rejected_and_leaves_the_state_unchanged():
    P = np.diag([0.1**2] * 3 + [np.radians(1.0) ** 2] * 3)
    f = pose_filter(a_pose(6), P)
    before = snapshot(f)
    sigma = np.sqrt(2.0) * 0.1  # of the innovation: prior and measurement together
    T_far = Transform(f.pose.rotation, f.pose.translation + np.array([50.0 * sigma, 0.0, 0.0]))
    result = f.update_pose(T_far, P, 10.5)
    assert not result.accepted
    assert "Mahalanobis" in result.reason
    assert result.mahalanobis == pytest.approx(50.0, rel=1e-6)
    assert_unchanged(f, before)
    # ... while a 4-sigma one (squared 16 < 22.46) passes.
    T_near = Transform(f.pose.rotation, f.pose.translation + np.array([4.0 * sigma, 0.0, 0.0]))
    assert f.update_pose(T_near, P, 10.5).accepted


def test_a_certain_state_and_a_certain_measurement_are_not_fused():
    f = pose_filter(P=np.zeros((6, 6)))
    before = snapshot(f)
    moved = Transform(f.pose.rotation, f.pose.translation + 0.1)
    result = f.update_pose(moved, np.zeros((6, 6)), 10.0)
    assert not result.accepted
    assert "singular" in result.reason
    assert_unchanged(f, before)


# ---------------------------------------------------------------- update_sun


def test_sun_jacobian_matches_finite_differences():
    R = Rotation.from_rotvec([0.3, -0.7, 1.1])
    H = sun_jacobian(R, SUN_MAP)
    assert np.all(H[:, :3] == 0.0)
    eps = 1e-6
    numeric = np.zeros((3, 3))
    for axis in range(3):
        step = np.zeros(3)
        step[axis] = eps
        plus = predicted_sun_cam(Rotation.from_rotvec(step) * R, SUN_MAP)
        minus = predicted_sun_cam(Rotation.from_rotvec(-step) * R, SUN_MAP)
        numeric[:, axis] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(H[:, 3:], numeric, atol=1e-8)
    # The wrong sign would be far off: the check can fail.
    assert np.abs(H[:, 3:] + numeric).max() > 0.1
    # Rotating about the sun axis does not move the predicted sun.
    np.testing.assert_allclose(H[:, 3:] @ SUN_MAP, 0.0, atol=1e-15)


def sun_seen_from(R_map_cam: Rotation) -> np.ndarray:
    return predicted_sun_cam(R_map_cam, SUN_MAP)


def test_sun_updates_fix_the_observable_axes_and_not_the_rotation_about_the_sun():
    truth = Transform(R_LOOKING_EAST, np.array([3.0, -1.0, 1.5]))
    # Isotropic rotation prior: the sun axis is one of its eigenvectors.
    P0 = np.diag([0.2**2] * 3 + [np.radians(3.0) ** 2] * 3)
    across = np.cross(SUN_MAP, [0.0, 0.0, 1.0])
    across /= np.linalg.norm(across)
    error = np.radians(4.0) * across  # an error the sun sees
    T0 = Transform(Rotation.from_rotvec(error) * truth.rotation, truth.translation)
    f = pose_filter(T0, P0)
    observed = sun_seen_from(truth.rotation)
    for step in range(20):
        result = f.update_sun(
            observed, sun_covariance(observed), SUN_MAP, SUN_ELEVATION_DEG, 10.0 + 0.1 * step
        )
        assert result.accepted, result.reason
        # Each correction is orthogonal to the sun axis, in state and covariance.
        moved = (f.pose.rotation * T0.rotation.inv()).as_rotvec()
        assert abs(moved @ SUN_MAP) < 1e-12
        assert SUN_MAP @ f.covariance[3:, 3:] @ SUN_MAP == pytest.approx(P0[3, 3], rel=1e-12)
    remaining = (f.pose.rotation * truth.rotation.inv()).as_rotvec()
    assert np.linalg.norm(remaining) < 0.05 * np.linalg.norm(error)
    # Position: no cross terms in P0, so the sun cannot move it or shrink its covariance.
    np.testing.assert_array_equal(f.pose.translation, T0.translation)
    np.testing.assert_allclose(f.covariance[:3, :3], P0[:3, :3], atol=1e-18)
    np.testing.assert_allclose(f.covariance[:3, 3:], 0.0, atol=1e-18)
    # The two observable axes are now known much better than before.
    observable = tangent_basis(SUN_MAP)
    assert np.all(
        np.linalg.eigvalsh(observable.T @ f.covariance[3:, 3:] @ observable) < 0.05 * P0[3, 3]
    )


def test_a_rotation_about_the_sun_axis_is_invisible_to_the_sun():
    truth = Transform(R_LOOKING_EAST, np.zeros(3))
    twisted = Transform(
        Rotation.from_rotvec(np.radians(10.0) * SUN_MAP) * truth.rotation, truth.translation
    )
    f = pose_filter(twisted)
    observed = sun_seen_from(truth.rotation)
    result = f.update_sun(observed, sun_covariance(observed), SUN_MAP, SUN_ELEVATION_DEG, 10.0)
    assert result.accepted
    assert result.mahalanobis == pytest.approx(0.0, abs=1e-6)
    # The 10° twist stays: the sun cannot see it.
    assert rotation_error_deg(f.pose, truth) == pytest.approx(10.0, abs=1e-6)


def test_a_mixed_rotation_error_keeps_only_its_part_about_the_sun_axis():
    """A general error: the component about the sun axis survives (to second order)."""
    truth = Transform(R_LOOKING_EAST, np.zeros(3))
    across = tangent_basis(SUN_MAP)[:, 0]
    error = np.radians(3.0) * across + np.radians(2.0) * SUN_MAP
    f = pose_filter(Transform(Rotation.from_rotvec(error) * truth.rotation, truth.translation))
    observed = sun_seen_from(truth.rotation)
    for step in range(20):
        f.update_sun(observed, sun_covariance(observed), SUN_MAP, SUN_ELEVATION_DEG, 10.0 + step)
    remaining = (f.pose.rotation * truth.rotation.inv()).as_rotvec()
    assert np.degrees(abs(remaining @ across)) < 0.1
    assert np.degrees(remaining @ SUN_MAP) == pytest.approx(2.0, abs=0.1)
    # The predicted sun now matches the observed one.
    assert np.degrees(np.arccos(min(sun_seen_from(f.pose.rotation) @ observed, 1.0))) < 0.1


@pytest.mark.parametrize(
    ("sun_cam", "sun_map", "elevation", "reason"),
    [
        (None, SUN_MAP, -3.0, "below"),
        (None, SUN_MAP, float("nan"), "not finite"),
        (np.array([np.nan, 0.0, 1.0]), SUN_MAP, 30.0, "NaN"),
        (np.array([0.0, 0.0, 1.5]), SUN_MAP, 30.0, "norm"),
        (np.array([0.0, 1.0]), SUN_MAP, 30.0, "3 components"),
        (None, 2.0 * SUN_MAP, 30.0, "sun vector in map has norm"),
    ],
)
def test_unusable_sun_observations_are_skipped_with_a_reason(sun_cam, sun_map, elevation, reason):
    f = pose_filter()
    before = snapshot(f)
    observed = sun_seen_from(f.pose.rotation) if sun_cam is None else sun_cam
    result = f.update_sun(observed, np.eye(3) * 1e-4, sun_map, elevation, 11.0)
    assert isinstance(result, UpdateResult)
    assert not result.accepted
    assert reason in result.reason
    assert_unchanged(f, before)


@pytest.mark.parametrize(("angle_deg", "accepted"), [(27.0, False), (20.0, True)])
def test_a_sun_vector_more_than_26_degrees_off_is_skipped(angle_deg, accepted):
    """Even when the covariances would accept it (a vague prior, a vague sun)."""
    f = pose_filter(P=np.diag([0.1] * 3 + [np.radians(30.0) ** 2] * 3))
    before = snapshot(f)
    axis = tangent_basis(SUN_MAP)[:, 0]
    off = sun_seen_from(Rotation.from_rotvec(np.radians(angle_deg) * axis) * f.pose.rotation)
    result = f.update_sun(
        off, sun_covariance(off, np.radians(5.0)), SUN_MAP, SUN_ELEVATION_DEG, 11.0
    )
    assert result.accepted == accepted, result.reason
    if not accepted:
        assert "27.0 deg from the predicted one > 26.0" in result.reason
        assert_unchanged(f, before)


def test_a_confident_sun_vector_far_outside_the_gate_is_rejected():
    f = pose_filter(P=np.diag([0.1] * 3 + [np.radians(0.5) ** 2] * 3))
    before = snapshot(f)
    axis = tangent_basis(SUN_MAP)[:, 0]
    off = sun_seen_from(Rotation.from_rotvec(np.radians(10.0) * axis) * f.pose.rotation)
    result = f.update_sun(
        off, sun_covariance(off, np.radians(0.5)), SUN_MAP, SUN_ELEVATION_DEG, 11.0
    )
    assert not result.accepted
    assert "Mahalanobis" in result.reason
    assert result.mahalanobis > np.sqrt(13.82)
    assert_unchanged(f, before)


# ---------------------------------------------------------------- coast, time, bad input


def test_coasting_grows_the_standard_deviation_linearly_with_time():
    P0 = np.diag([0.1**2] * 3 + [np.radians(1.0) ** 2] * 3)
    f = pose_filter(P=P0, stamp=100.0)
    pose_before = f.pose.as_matrix()
    f.coast(102.0)
    growth = np.diag([(0.5 * 2.0) ** 2] * 3 + [np.radians(5.0 * 2.0) ** 2] * 3)
    np.testing.assert_allclose(f.covariance, P0 + growth, atol=1e-15)
    np.testing.assert_array_equal(f.pose.as_matrix(), pose_before)
    assert f.stamp == 102.0
    # Two steps are the same as one of the same total length.
    g = pose_filter(P=P0, stamp=100.0)
    g.coast(100.5)
    g.coast(102.0)
    np.testing.assert_allclose(g.covariance, f.covariance, atol=1e-15)
    # Motion information ends the coast: the next one starts growing from zero again.
    g.predict(Transform.identity(), np.zeros((6, 6)), 102.0)
    g.coast(103.0)
    np.testing.assert_allclose(
        g.covariance, f.covariance + np.diag([0.5**2] * 3 + [np.radians(5.0) ** 2] * 3), atol=1e-12
    )


def test_a_long_loss_diverges():
    f = pose_filter(stamp=0.0, max_position_std_m=5.0)
    assert not f.diverged
    f.coast(9.0)  # std about 0.5 m/s * 9 s = 4.5 m
    assert not f.diverged
    f.coast(11.0)  # about 5.5 m
    assert f.diverged
    assert f.position_std_m == pytest.approx(np.sqrt(0.01 + (0.5 * 11.0) ** 2))


@pytest.mark.parametrize("call", ["predict", "coast", "update_pose", "update_sun"])
def test_time_going_backwards_raises_and_leaves_the_state_unchanged(call):
    f = pose_filter(stamp=50.0)
    before = snapshot(f)
    arguments = {
        "predict": lambda s: f.predict(Transform.identity(), np.zeros(36), s),
        "coast": lambda s: f.coast(s),
        "update_pose": lambda s: f.update_pose(f.pose, np.eye(6), s),
        "update_sun": lambda s: f.update_sun(
            sun_seen_from(f.pose.rotation), np.eye(3) * 1e-4, SUN_MAP, SUN_ELEVATION_DEG, s
        ),
    }[call]
    with pytest.raises(TimeWentBackwards, match="older than the filter state"):
        arguments(49.5)
    assert_unchanged(f, before)
    assert issubclass(TimeWentBackwards, VoFusionError)
    # Jitter within the tolerance is taken, and never moves the stamp backwards.
    arguments(50.0 - 1e-4)
    assert f.stamp == 50.0


def test_reset_recovers_from_time_going_backwards():
    f = pose_filter(stamp=50.0)
    f.reset(a_pose(9), np.eye(6) * 0.01, 1.0)
    assert f.stamp == 1.0
    f.coast(2.0)


@pytest.mark.parametrize(
    "bad",
    [
        np.full((6, 6), np.nan),
        np.diag([1.0, 1.0, 1.0, 1.0, 1.0, -1.0]),
        np.triu(np.ones((6, 6))),
        np.eye(5),
    ],
    ids=["nan", "negative", "asymmetric", "wrong-size"],
)
def test_bad_covariances_raise_and_leave_the_state_unchanged(bad):
    f = pose_filter()
    before = snapshot(f)
    with pytest.raises(VoFusionError, match="covariance"):
        f.predict(Transform.identity(), bad, 11.0)
    with pytest.raises(VoFusionError, match="covariance"):
        f.update_pose(f.pose, bad, 11.0)
    with pytest.raises(VoFusionError, match="covariance"):
        f.reset(a_pose(1), bad, 11.0)
    assert_unchanged(f, before)


@pytest.mark.parametrize(
    "bad",
    [np.full((3, 3), np.nan), np.diag([1e-4, 1e-4, -1e-4]), np.triu(np.ones((3, 3))), np.eye(2)],
    ids=["nan", "negative", "asymmetric", "wrong-size"],
)
def test_a_bad_sun_covariance_raises_and_leaves_the_state_unchanged(bad):
    f = pose_filter()
    before = snapshot(f)
    with pytest.raises(VoFusionError, match="sun vector covariance"):
        f.update_sun(sun_seen_from(f.pose.rotation), bad, SUN_MAP, SUN_ELEVATION_DEG, 11.0)
    assert_unchanged(f, before)


def test_an_uninitialized_filter_refuses_to_run():
    f = PoseFilter()
    assert not f.initialized
    assert not f.diverged
    with pytest.raises(VoFusionError, match="reset"):
        f.predict(Transform.identity(), np.zeros(36), 1.0)
    with pytest.raises(VoFusionError, match="reset"):
        _ = f.pose
    f.reset(Transform.identity(), np.eye(6), 1.0)
    assert f.initialized


def test_a_nan_stamp_is_refused():
    f = pose_filter()
    with pytest.raises(VoFusionError, match="finite"):
        f.coast(float("nan"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pose_gate_chi2", 0.0),
        ("sun_gate_chi2", -1.0),
        ("sun_max_angle_deg", 200.0),
        ("min_sun_elevation_deg", 95.0),
        ("lost_position_growth_m_per_s", 0.0),
        ("lost_rotation_growth_deg_per_s", float("nan")),
        ("max_position_std_m", -5.0),
    ],
)
def test_filter_config_refuses_impossible_values_naming_the_field(field, value):
    with pytest.raises(VoFusionError, match=field):
        FilterConfig(**{field: value})


def test_filter_config_defaults_are_the_chi2_quantiles():
    config = FilterConfig()
    assert config.pose_gate_chi2 == pytest.approx(chi2.ppf(0.999, 6), abs=1e-3)
    assert config.sun_gate_chi2 == pytest.approx(chi2.ppf(0.999, 2), abs=1e-3)
    assert config.sun_max_angle_deg == 26.0
    FilterConfig(min_sun_elevation_deg=-6.0)  # civil twilight: allowed


# ---------------------------------------------------------------- end to end


def drive(with_sun: bool, seed: int = 11) -> tuple[np.ndarray, float, int]:
    """100 steps of 1 m along the optical axis; each VO increment has a little noise and a rotation
    bias (pitch about camera x, yaw about camera y) that its claimed covariance covers.
    (final rotation error as a map rotation vector, final position error m, sun updates taken)."""
    rng = np.random.default_rng(seed)
    step = Transform(Rotation.identity(), np.array([0.0, 0.0, 1.0]))
    truth = Transform(R_LOOKING_EAST, np.zeros(3))
    actual_noise = np.diag([0.02**2] * 3 + [np.radians(0.05) ** 2] * 3)
    claimed = np.diag([0.02**2] * 3 + [np.radians(0.2) ** 2] * 3)
    bias = Rotation.from_rotvec(np.radians([0.1, 0.15, 0.0]))
    f = pose_filter(truth, np.diag([0.01**2] * 3 + [np.radians(0.5) ** 2] * 3), stamp=0.0)
    taken = 0
    for k in range(1, 101):
        truth = truth @ step
        noise = rng.multivariate_normal(np.zeros(6), actual_noise)
        measured = Transform(
            Rotation.from_rotvec(noise[3:]) * bias * step.rotation, step.translation + noise[:3]
        )
        f.predict(measured, claimed, float(k))
        if with_sun:
            clean = sun_seen_from(truth.rotation)
            noisy = Rotation.from_rotvec(tangent_basis(clean) @ rng.normal(0, SUN_SIGMA_RAD, 2))
            observed = noisy.apply(clean)
            result = f.update_sun(
                observed, sun_covariance(observed), SUN_MAP, SUN_ELEVATION_DEG, float(k)
            )
            taken += result.accepted
    rotation_error = (f.pose.rotation * truth.rotation.inv()).as_rotvec()
    return rotation_error, float(np.linalg.norm(f.pose.translation - truth.translation)), taken


def test_sun_updates_cut_the_drift_of_a_biased_odometry():
    rotation_vo, position_vo, _ = drive(with_sun=False)
    rotation_sun, position_sun, taken = drive(with_sun=True)
    angle_vo, angle_sun = (
        np.degrees(np.linalg.norm(rotation_vo)),
        np.degrees(np.linalg.norm(rotation_sun)),
    )
    assert angle_vo > 12.0  # the bias really drifts
    assert taken >= 95
    assert angle_sun < 0.6 * angle_vo
    # What is left is (mostly) the rotation about the sun axis, which the sun cannot see.
    assert abs(rotation_sun @ SUN_MAP) > 0.9 * np.linalg.norm(rotation_sun)
    # Through the filter's correlations, the position drift shrinks too.
    assert position_sun < 0.5 * position_vo


def test_inflating_adds_the_stated_uncertainty_and_keeps_the_pose_and_time():
    f = pose_filter()
    pose, covariance, stamp = snapshot(f)
    f.inflate(10.0, 20.0)
    added = np.diag([100.0] * 3 + [np.radians(20.0) ** 2] * 3)
    np.testing.assert_allclose(f.covariance, covariance + added)
    np.testing.assert_array_equal(f.pose.as_matrix(), pose)
    assert f.stamp == stamp
