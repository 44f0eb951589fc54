"""The whole-drive bundle adjustment (vo_fusion.mapping.bundle): it recovers poses and points
from perturbed starts on exact synthetic data, holds the first pose, handles cameras facing any
way (a U-turn's 180°), and the odometry factors carry the scale where the images cannot."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from vo_fusion.mapping import bundle
from vo_fusion.mapping.bundle import OdometryErrors, PoseFactors, bundle_adjust
from vo_fusion.window_adjustment import WindowObservations

K = np.array([[260.0, 0.0, 160.0], [0.0, 260.0, 120.0], [0.0, 0.0, 1.0]])
# camera optical frame looking along the base's x axis (z forward, x right, y down)
LOOK_AHEAD = Rotation.from_euler("xyz", [-90, 0, -90], degrees=True)


def _u_turn_drive(n: int = 24) -> list[Transform]:
    """Camera poses along a street, a U-turn at its end and back on the other side."""
    poses = []
    for k in range(n):
        if k < n // 2:
            yaw, xy = 0.0, (0.6 * k, 0.0)
        else:
            yaw, xy = 180.0, (0.6 * (n - k), 4.0)
        base = Rotation.from_euler("z", yaw, degrees=True)
        poses.append(Transform(base * LOOK_AHEAD, np.array([xy[0], xy[1], 1.3])))
    return poses


def _scene(poses: list[Transform], rng: np.random.Generator):
    """Facade points on both sides of the street, observed where they project into the image."""
    x = rng.uniform(-5, 15, 1500)
    y = np.where(rng.random(1500) < 0.5, -4.0, 8.0) + rng.normal(0, 0.3, 1500)
    z = rng.uniform(0.2, 6.0, 1500)
    points = np.column_stack([x, y, z])
    pose_ids, point_ids, pixels = [], [], []
    for index, T in enumerate(poses):
        camera = T.inverse().apply(points)
        in_front = camera[:, 2] > 0.5
        uv = camera[:, :2] / np.maximum(camera[:, 2:3], 1e-9) @ K[:2, :2].T + K[:2, 2]
        visible = in_front & (uv[:, 0] >= 0) & (uv[:, 0] < 320) & (uv[:, 1] >= 0) & (uv[:, 1] < 240)
        visible &= np.linalg.norm(camera, axis=1) < 15.0
        for p in np.flatnonzero(visible):
            pose_ids.append(index)
            point_ids.append(p)
            pixels.append(uv[p])
    observations = WindowObservations(
        np.array(pose_ids),
        np.array(point_ids),
        np.array(pixels) + rng.normal(0, 0.3, (len(pixels), 2)),
    )
    return points, observations


def _odometry(poses: list[Transform]) -> PoseFactors:
    pairs = [(k, k + 1) for k in range(len(poses) - 1)]
    steps = [poses[i].inverse() @ poses[j] for i, j in pairs]
    up = np.array([T.rotation.inv().apply([0.0, 0.0, 1.0]) for T in poses])
    return PoseFactors.between(
        pairs, steps, [np.radians(0.5)] * len(pairs), [0.02] * len(pairs), up
    )


def _perturbed(poses: list[Transform], rng: np.random.Generator) -> list[Transform]:
    out = [poses[0]]
    for T in poses[1:]:
        turn = Rotation.from_rotvec(rng.normal(0, np.radians(1.0), 3))
        out.append(Transform(turn * T.rotation, T.translation + rng.normal(0, 0.1, 3)))
    return out


def test_recovers_a_u_turn_drive_from_perturbed_poses_and_points():
    rng = np.random.default_rng(4)
    truth = _u_turn_drive()
    points, observations = _scene(truth, rng)
    seen = np.unique(observations.point)
    start_points = points + rng.normal(0, 0.2, points.shape)
    result = bundle_adjust(K, _perturbed(truth, rng), start_points, observations, _odometry(truth))
    errors = [
        np.linalg.norm(e.translation - t.translation)
        for e, t in zip(result.poses, truth, strict=True)
    ]
    turns = [
        np.degrees((e.rotation.inv() * t.rotation).magnitude())
        for e, t in zip(result.poses, truth, strict=True)
    ]
    assert max(errors) < 0.05
    assert max(turns) < 0.2
    assert np.median(np.linalg.norm(result.points[seen] - points[seen], axis=1)) < 0.1
    assert result.rms_after_px < 0.5 < result.rms_before_px
    assert result.poses[0].translation == pytest.approx(truth[0].translation, abs=1e-6)


def test_stays_at_the_truth_when_started_there():
    rng = np.random.default_rng(5)
    truth = _u_turn_drive()
    points, observations = _scene(truth, rng)
    result = bundle_adjust(K, truth, points, observations, _odometry(truth))
    errors = [
        np.linalg.norm(e.translation - t.translation)
        for e, t in zip(result.poses, truth, strict=True)
    ]
    assert max(errors) < 0.03


def test_odometry_factors_set_the_scale_the_images_cannot():
    rng = np.random.default_rng(6)
    truth = _u_turn_drive()
    points, observations = _scene(truth, rng)
    shrunk = [
        Transform(T.rotation, truth[0].translation + 0.8 * (T.translation - truth[0].translation))
        for T in truth
    ]
    without = bundle_adjust(
        K, shrunk, truth[0].translation + 0.8 * (points - truth[0].translation), observations
    )
    with_odometry = bundle_adjust(
        K,
        shrunk,
        truth[0].translation + 0.8 * (points - truth[0].translation),
        observations,
        _odometry(truth),
    )
    span = lambda poses: np.linalg.norm(poses[5].translation - poses[0].translation)  # noqa: E731
    assert span(without.poses) == pytest.approx(0.8 * span(truth), rel=0.05)
    assert span(with_odometry.poses) == pytest.approx(span(truth), rel=0.02)


def _sim3_residual_and_scale(poses: list[Transform], truth: list[Transform]) -> tuple[float, float]:
    from vo_fusion.evaluation.vo import umeyama_alignment

    estimated = np.array([T.translation for T in poses])
    true = np.array([T.translation for T in truth])
    fit = umeyama_alignment(estimated, true)
    return float(np.abs(fit.apply(estimated) - true).max()), 1.0 / fit.scale


def _biased_odometry(truth: list[Transform], bias: float, sigma_log_scale: float | None):
    """Trusted odometry steps (5 mm) whose lengths all read `bias` long: a wheel radius off."""
    pairs = [(k, k + 1) for k in range(len(truth) - 1)]
    steps = [truth[i].inverse() @ truth[j] for i, j in pairs]
    steps = [Transform(s.rotation, bias * s.translation) for s in steps]
    return PoseFactors.between(
        pairs,
        steps,
        [np.radians(0.5)] * len(pairs),
        [0.005] * len(pairs),
        systematic=OdometryErrors(log_scale=sigma_log_scale),
    )


def test_the_odometry_scale_is_estimated_with_the_map_and_its_prior_holds_the_gauge():
    rng = np.random.default_rng(7)
    truth = _u_turn_drive()
    points, observations = _scene(truth, rng)
    shrunk_points = truth[0].translation + 0.9 * (points - truth[0].translation)
    metric = bundle_adjust(K, truth, points, observations, _biased_odometry(truth, 1.05, None))
    estimated = bundle_adjust(
        K, truth, shrunk_points, observations, _biased_odometry(truth, 1.05, 0.05)
    )
    _, metric_scale = _sim3_residual_and_scale(metric.poses, truth)
    residual, scale = _sim3_residual_and_scale(estimated.poses, truth)
    assert metric.odometry.scale == 1.0
    assert metric_scale == pytest.approx(1.05, abs=0.005)
    # The images keep the shape; a uniform stretch costs the factors nothing (they compare the
    # steps in the odometry's units), so the prior alone holds the map at the odometry's scale
    # (the map's start was 10 % small), and the factor found is the map's units per odometry's.
    assert residual < 0.02
    assert scale == pytest.approx(1.05, abs=0.01)
    assert estimated.odometry.scale == pytest.approx(scale / 1.05, rel=0.005)


def _heading_biased_odometry(
    truth: list[Transform], yaw_per_m: float, turn_scale: float, systematic: OdometryErrors
) -> PoseFactors:
    """Trusted turns (0.05° per step) that creep `yaw_per_m` per metre and read `turn_scale` of
    each true turn: unequal wheel radii and a wheelbase off."""
    pairs = [(k, k + 1) for k in range(len(truth) - 1)]
    up = np.array([T.rotation.inv().apply([0.0, 0.0, 1.0]) for T in truth])
    steps = []
    for i, j in pairs:
        step = truth[i].inverse() @ truth[j]
        turn = float(step.rotation.as_rotvec() @ up[j])
        bias = yaw_per_m * np.linalg.norm(step.translation) + (turn_scale - 1.0) * turn
        steps.append(
            Transform(step.rotation * Rotation.from_rotvec(bias * up[j]), step.translation)
        )
    return PoseFactors.between(
        pairs,
        steps,
        [np.radians(0.05)] * len(pairs),
        [0.02] * len(pairs),
        up,
        systematic=systematic,
    )


def _corner_drive() -> list[Transform]:
    """Along a street, a left turn of 90° in 15° steps round a 3 m radius, up the next street."""
    poses = []
    for k in range(10):
        poses.append((0.0, (0.6 * k, 0.0)))
    for k in range(1, 7):
        yaw = np.radians(15.0 * k)
        poses.append((15.0 * k, (5.4 + 3.0 * np.sin(yaw), 3.0 - 3.0 * np.cos(yaw))))
    for k in range(1, 11):
        poses.append((90.0, (8.4, 3.0 + 0.6 * k)))
    return [
        Transform(Rotation.from_euler("z", yaw, degrees=True) * LOOK_AHEAD, np.array([*xy, 1.3]))
        for yaw, xy in poses
    ]


def _observed(poses: list[Transform], points: np.ndarray, rng: np.random.Generator):
    pose_ids, point_ids, pixels = [], [], []
    for index, T in enumerate(poses):
        camera = T.inverse().apply(points)
        uv = camera[:, :2] / np.maximum(camera[:, 2:3], 1e-9) @ K[:2, :2].T + K[:2, 2]
        visible = (camera[:, 2] > 0.5) & (np.linalg.norm(camera, axis=1) < 25.0)
        visible &= (uv[:, 0] >= 0) & (uv[:, 0] < 320) & (uv[:, 1] >= 0) & (uv[:, 1] < 240)
        pose_ids += [index] * int(visible.sum())
        point_ids += np.flatnonzero(visible).tolist()
        pixels.append(uv[visible])
    noisy = np.concatenate(pixels) + rng.normal(0, 0.3, (len(point_ids), 2))
    return WindowObservations(np.array(pose_ids), np.array(point_ids), noisy)


def test_the_odometry_heading_creep_and_turn_scale_are_estimated_not_followed():
    rng = np.random.default_rng(8)
    truth = _corner_drive()
    # buildings round the corner: points 2.5 m or more from the path
    points = np.column_stack(
        [rng.uniform(-5, 20, 6000), rng.uniform(-10, 20, 6000), rng.uniform(0.2, 6, 6000)]
    )
    path = np.array([T.translation[:2] for T in truth])
    clear = np.linalg.norm(points[:, None, :2] - path[None], axis=2).min(axis=1) > 2.5
    points = points[clear]
    observations = _observed(truth, points, rng)
    creep, turn_scale = np.radians(2.0), 1.05
    estimate = OdometryErrors(yaw_per_m=np.radians(5.0), turn_scale=0.1)
    followed = bundle_adjust(
        K,
        truth,
        points,
        observations,
        _heading_biased_odometry(truth, creep, turn_scale, OdometryErrors()),
    )
    estimated = bundle_adjust(
        K,
        truth,
        points,
        observations,
        _heading_biased_odometry(truth, creep, turn_scale, estimate),
    )

    def worst_turn(poses: list[Transform]) -> float:
        return max(
            np.degrees((e.rotation.inv() * t.rotation).magnitude())
            for e, t in zip(poses, truth, strict=True)
        )

    # Trusted biased turns bend the drive away from what the images see; estimated, the bias
    # goes into the two parameters and the poses stay where the images put them.
    assert worst_turn(followed.poses) > 1.0
    assert worst_turn(estimated.poses) < 0.2
    assert estimated.odometry.yaw_drift_deg_per_m == pytest.approx(2.0, abs=0.2)
    assert estimated.odometry.turn_scale == pytest.approx(1.05, abs=0.005)
    assert followed.odometry.turn_scale == 1.0


def test_a_stated_yaw_noise_weighs_the_turn_about_up_and_leaves_the_tilt_to_its_own_sigma():
    up = np.tile(LOOK_AHEAD.inv().apply([0.0, 0.0, 1.0]), (2, 1))
    step = Transform(Rotation.identity(), np.array([0.0, 0.0, 0.6]))
    factors = PoseFactors.between(
        [(0, 1)],
        [step],
        [np.radians(0.5)],
        [0.01],
        up,
        sigma_yaw_rad=[np.radians(0.05)],
    )
    yaw_error = np.radians(0.1) * up[:1]
    tilt_error = np.radians(0.1) * np.array([[1.0, 0.0, 0.0]])  # about the camera's x: pitch
    assert np.linalg.norm(factors.rotation_in_sigmas(yaw_error)) == pytest.approx(2.0)
    assert np.linalg.norm(factors.rotation_in_sigmas(tilt_error)) == pytest.approx(0.2)
    both = factors.rotation_in_sigmas(yaw_error + tilt_error)
    assert np.linalg.norm(both) == pytest.approx(np.hypot(2.0, 0.2))
    unstated = PoseFactors.between([(0, 1)], [step], [np.radians(0.5)], [0.01], up)
    assert np.linalg.norm(unstated.rotation_in_sigmas(yaw_error)) == pytest.approx(0.2)
    with pytest.raises(Exception, match="up axis"):
        PoseFactors.between([(0, 1)], [step], [0.01], [0.01], sigma_yaw_rad=[0.001])


def test_either_sparse_solver_gives_the_same_adjustment(monkeypatch):
    """CHOLMOD (cholespy, the `mapping` extra) where installed, SuperLU where not: the same
    poses either way."""
    pytest.importorskip("cholespy", reason="cholespy (the mapping extra) is not installed")
    rng = np.random.default_rng(8)
    truth = _u_turn_drive()
    points, observations = _scene(truth, rng)
    start = _perturbed(truth, rng)
    start_points = points + rng.normal(0, 0.2, points.shape)
    by_cholmod = bundle_adjust(K, start, start_points, observations, _odometry(truth))
    monkeypatch.setattr(bundle, "CholeskySolverD", None)
    by_superlu = bundle_adjust(K, start, start_points, observations, _odometry(truth))
    assert by_cholmod.iterations == by_superlu.iterations
    for a, b in zip(by_cholmod.poses, by_superlu.poses, strict=True):
        assert a.translation == pytest.approx(b.translation, abs=1e-6)
    assert np.max(np.abs(by_cholmod.points - by_superlu.points)) < 1e-5


def _climbing_odometry(poses: list[Transform], climb_m: float) -> PoseFactors:
    """The odometry's steps read `climb_m` up each (a drifting visual-inertial height)."""
    factors = _odometry(poses)
    up = factors.up_in_camera
    assert up is not None
    t_ij = factors.t_ij + climb_m * up[factors.i]
    return replace(factors, t_ij=t_ij)


def test_a_level_site_holds_the_heights_where_the_images_say_nothing():
    """The second half of the drive is seen by no image: its heights follow the odometry's
    climbing steps alone, unless the site is taken as level."""
    rng = np.random.default_rng(9)
    truth = _u_turn_drive()
    points, observations = _scene(truth, rng)
    seen_first_half = observations.pose < len(truth) // 2
    half = WindowObservations(
        observations.pose[seen_first_half],
        observations.point[seen_first_half],
        observations.pixels[seen_first_half],
    )
    odometry = _climbing_odometry(truth, 0.01)
    heights = lambda result: np.array([T.translation[2] - 1.3 for T in result.poses])  # noqa: E731
    free = bundle_adjust(K, truth, points, half, odometry)
    level = bundle_adjust(K, truth, points, half, replace(odometry, sigma_level_m=0.005))
    assert np.abs(heights(free)).max() > 0.08
    assert np.abs(heights(level)).max() < 0.01
