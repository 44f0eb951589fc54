"""Bundle adjustment of the odometry's keyframe window: perturbed poses and points come back
towards the truth, fixed ones stay put, and outliers do not drag the solution."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform, rotation_error_deg, translation_error_m
from vo_fusion.window_adjustment import WindowObservations, adjust_window

K = np.array([[260.0, 0, 159.5], [0, 260.0, 119.5], [0, 0, 1]])


def drive_window(rng, count=6, points=150):
    """Cameras 0.6 m apart driving along +z (optical frame), points 4-25 m ahead and aside."""
    poses = [Transform(Rotation.identity(), np.array([0.0, 0.0, 0.6 * i])) for i in range(count)]
    world = np.column_stack(
        [rng.uniform(-8, 8, points), rng.uniform(-3, 1, points), rng.uniform(8, 28, points)]
    )
    pose, point, pixels = [], [], []
    for index, T_wc in enumerate(poses):
        in_camera = T_wc.inverse().apply(world)
        projected = in_camera[:, :2] / in_camera[:, 2:3] @ K[:2, :2].T + K[:2, 2]
        pose.append(np.full(points, index))
        point.append(np.arange(points))
        pixels.append(projected + rng.normal(0.0, 0.3, projected.shape))
    observations = WindowObservations(
        np.concatenate(pose), np.concatenate(point), np.concatenate(pixels)
    )
    return poses, world, observations


def perturbed(T_wc, rng, metres=0.05, degrees=0.5):
    turn = Rotation.from_rotvec(rng.normal(size=3) * np.radians(degrees) / np.sqrt(3))
    return Transform(turn * T_wc.rotation, T_wc.translation + rng.normal(size=3) * metres)


def test_perturbed_poses_and_points_move_back_to_the_truth_and_fixed_ones_stay():
    rng = np.random.default_rng(4)
    poses, world, observations = drive_window(rng)
    start = poses[:2] + [perturbed(T, rng) for T in poses[2:]]
    noisy_points = world * rng.normal(1.0, 0.03, (len(world), 1))  # depth errors of a few %
    fixed = np.zeros(len(world), bool)
    fixed[:20] = True
    noisy_points[:20] = world[:20]
    result = adjust_window(K, start, noisy_points, fixed, observations, max_evaluations=30)
    assert result.rms_after_px < 0.5 < result.rms_before_px
    for index in (0, 1):
        assert result.poses[index] is start[index]
    np.testing.assert_array_equal(result.points[:20], world[:20])
    for truth, before, after in zip(poses[2:], start[2:], result.poses[2:], strict=True):
        assert translation_error_m(after, truth) < 0.5 * translation_error_m(before, truth)
        assert rotation_error_deg(after, truth) < 0.5 * rotation_error_deg(before, truth)
    # Points whose depth was far off come back to within the noise (0.3 px at a 3 m baseline
    # is ~0.15 m of depth at 20 m).
    error_before = np.linalg.norm(noisy_points - world, axis=1)
    error_after = np.linalg.norm(result.points - world, axis=1)
    far_off = error_before > 0.5
    assert far_off.sum() > 10
    assert np.median(error_after[far_off]) < 0.5 * np.median(error_before[far_off])


def test_outlier_observations_do_not_drag_the_window():
    rng = np.random.default_rng(5)
    poses, world, observations = drive_window(rng)
    pixels = observations.pixels.copy()
    wrong = rng.choice(len(pixels), len(pixels) // 20, replace=False)  # 5 % off by 15-40 px
    pixels[wrong] += rng.uniform(15, 40, (len(wrong), 2)) * rng.choice([-1, 1], (len(wrong), 2))
    outliers = WindowObservations(observations.pose, observations.point, pixels)
    start = poses[:2] + [perturbed(T, rng) for T in poses[2:]]
    result = adjust_window(
        K, start, world.copy(), np.zeros(len(world), bool), outliers, max_evaluations=30
    )
    for truth, after in zip(poses[2:], result.poses[2:], strict=True):
        assert translation_error_m(after, truth) < 0.03
        assert rotation_error_deg(after, truth) < 0.2


def test_a_window_with_nothing_to_adjust_is_returned_as_it_is():
    rng = np.random.default_rng(6)
    poses, world, observations = drive_window(rng, count=2)
    result = adjust_window(K, poses, world, np.ones(len(world), bool), observations)
    assert result.poses == poses and result.rms_after_px == result.rms_before_px


def test_an_adjustment_that_swings_the_newest_keyframe_by_degrees_is_not_taken():
    """The newest keyframe 3 degrees off what its sightings say: a window allowed 1 degree
    leaves poses and points as they were (and counts it); one allowed 5 takes it."""
    from vo_fusion.window_adjustment import Keyframe, KeyframeWindow

    rng = np.random.default_rng(6)
    poses, world, observations = drive_window(rng)
    swung = Transform(
        Rotation.from_euler("y", 3.0, degrees=True) * poses[-1].rotation, poses[-1].translation
    )
    ids = np.arange(len(world))
    for limit, taken in ((1.0, False), (5.0, True)):
        window = KeyframeWindow(size=6, every=1, min_shared=30, max_turn_deg=limit)
        adjusted = None
        for index, T_wc in enumerate(poses):
            seen = observations.pose == index
            keyframe = Keyframe(
                swung if index == len(poses) - 1 else T_wc, ids, observations.pixels[seen]
            )
            adjusted = window.add_and_adjust(
                K, keyframe, ids, world.copy(), np.zeros(len(world), bool)
            )
        newest = window.keyframes[-1].T_wc
        if taken:
            assert adjusted is not None and window.refused == 0
            assert rotation_error_deg(newest, poses[-1]) < 0.5
        else:
            assert adjusted is None and window.refused == 1
            assert rotation_error_deg(newest, swung) == 0.0
