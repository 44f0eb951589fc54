"""vo_fusion's core: a metres-off prior confirmed by the map starts tracking at centimetres, a
kidnap is noticed and asks for relocalization, and bad input changes state with a reason, never
with an exception."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from synth_fixtures import small_config
from test_vo_feature_map import MAP_SECONDS, mapping_config, render
from test_vo_odometry import CAMERA, drive_config

from pose_reloc.geometry import Transform, rotation_error_deg, translation_error_m
from vo_fusion.build_map import build_map
from vo_fusion.errors import VoFusionError
from vo_fusion.fusion import NEVER, FusionConfig, FusionCore
from vo_fusion.tracking import TrackingState

POSENET_COVARIANCE = np.diag([2.0**2] * 3 + [np.radians(6.0) ** 2] * 3)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fusion")
    map_frames = render(mapping_config(), "drive", MAP_SECONDS, root / "map")
    feature_map = build_map(map_frames, "orb", max_features=1000, log=lambda _: None)
    drive = render(drive_config(), "drive", 6.0, root / "drive")
    elsewhere = small_config(
        trajectory={"waypoints": [[1.0, 30.0], [1.0, -33.0]], "rate_hz": 10.0},
        camera={"mount_rpy_deg": [0.0, 2.0, -25.0]},
    )
    return feature_map, drive, render(elsewhere, "drive", 1.0, root / "elsewhere")


def posenet_like(T_wc: Transform) -> Transform:
    """A prior 2.2 m and 5 degrees off."""
    return Transform(
        Rotation.from_rotvec([0.0, np.radians(5.0), 0.0]) * T_wc.rotation,
        T_wc.translation + np.array([1.5, -1.5, 0.5]),
    )


def test_a_confirmed_prior_starts_centimetre_tracking(world):
    feature_map, drive, _ = world
    core = FusionCore(feature_map)
    first = core.on_image(drive[0].image(), drive[0].camera, drive[0].stamp)
    assert first.state is TrackingState.RELOCALIZING and first.request_relocalization
    assert first.T_map_cam is None and "waiting" in first.reason
    core.on_prior(posenet_like(drive[1].T_wc), POSENET_COVARIANCE, drive[1].stamp)
    outputs = [core.on_image(f.image(), f.camera, f.stamp) for f in drive[1:]]
    assert all(o.state is TrackingState.TRACKING for o in outputs), [o.reason for o in outputs]
    assert not any(o.request_relocalization for o in outputs)
    errors_m = [
        translation_error_m(o.T_map_cam, f.T_wc) for o, f in zip(outputs, drive[1:], strict=True)
    ]
    errors_deg = [
        rotation_error_deg(o.T_map_cam, f.T_wc) for o, f in zip(outputs, drive[1:], strict=True)
    ]
    print(f"fused: median {np.median(errors_m):.3f} m {np.median(errors_deg):.2f} deg")
    assert np.median(errors_m) < 0.15 and np.median(errors_deg) < 0.5
    assert max(errors_m) < 0.4
    assert sum(o.map_fix for o in outputs) > 0.8 * len(outputs)
    assert np.median([o.odometry_inliers for o in outputs[1:]]) > 30
    # Honest covariance: the fused error lies within 3 sigma of its own position covariance.
    inside = [
        (o.T_map_cam.translation - f.T_wc.translation)
        @ np.linalg.solve(o.covariance[:3, :3], o.T_map_cam.translation - f.T_wc.translation)
        < 14.2  # chi2(3) at 0.997
        for o, f in zip(outputs, drive[1:], strict=True)
    ]
    assert np.mean(inside) > 0.8
    # odom is visual odometry alone: continuous, and it starts where the map put the robot.
    steps = [
        translation_error_m(a.T_odom_cam, b.T_odom_cam) for a, b in itertools.pairwise(outputs)
    ]
    assert max(steps) < 0.5


def test_a_filter_that_drifted_off_the_map_is_put_back_on_it(world):
    """A filter 1 m off and sure of itself (as odometry off scale leaves it) refuses the map's
    fixes as too far; after `reanchor_after_disagreements` of them it is put back on the map."""
    feature_map, drive, _ = world
    core = FusionCore(feature_map, FusionConfig(reanchor_after_disagreements=3))
    core.on_image(drive[0].image(), drive[0].camera, drive[0].stamp)
    core.on_prior(posenet_like(drive[1].T_wc), POSENET_COVARIANCE, drive[1].stamp)
    for frame in drive[1:10]:
        assert core.on_image(frame.image(), frame.camera, frame.stamp).state.value == "TRACKING"
    off = Transform(core.filter.pose.rotation, core.filter.pose.translation + np.array([1.0, 0, 0]))
    core.filter.reset(off, np.diag([0.01**2] * 3 + [np.radians(0.1) ** 2] * 3), drive[9].stamp)
    outputs = [core.on_image(f.image(), f.camera, f.stamp) for f in drive[10:16]]
    errors = [
        translation_error_m(o.T_map_cam, f.T_wc) for o, f in zip(outputs, drive[10:16], strict=True)
    ]
    assert [o.map_fix for o in outputs[:3]] == [False, False, True], [o.reason for o in outputs]
    assert "re-anchored on the map" in outputs[2].reason and core.reanchored == 1
    assert min(errors[:2]) > 0.7 and max(errors[2:]) < 0.15, errors
    assert all(o.state is TrackingState.TRACKING for o in outputs)


def test_an_uncertain_filter_asks_for_priors_while_tracking_and_a_confirmed_one_fixes_it(world):
    """Odometry alone for a while (no map fix) leaves the position metres uncertain: the core
    asks PoseNet while it goes on tracking, and a prior the map confirms corrects the filter;
    priors nobody asked for (the filter sure of itself) are not used."""
    feature_map, drive, _ = world
    config = FusionConfig(map_fix_period_s=NEVER, relocalize_above_std_m=5.0)
    core = FusionCore(feature_map, config)
    core.on_prior(posenet_like(drive[0].T_wc), POSENET_COVARIANCE, drive[0].stamp)
    outputs = [core.on_image(f.image(), f.camera, f.stamp) for f in drive[:6]]
    assert all(o.state is TrackingState.TRACKING for o in outputs)
    assert not any(o.request_relocalization for o in outputs)
    core.on_prior(posenet_like(drive[6].T_wc), POSENET_COVARIANCE, drive[6].stamp)
    sure = core.on_image(drive[6].image(), drive[6].camera, drive[6].stamp)
    assert not sure.map_fix and not sure.request_relocalization
    # As odometry off the map leaves it: 3 m off, and saying so.
    off = Transform(core.filter.pose.rotation, core.filter.pose.translation + np.array([3.0, 0, 0]))
    core.filter.reset(off, np.diag([8.0**2] * 3 + [np.radians(1.0) ** 2] * 3), drive[6].stamp)
    asking = core.on_image(drive[7].image(), drive[7].camera, drive[7].stamp)
    assert asking.state is TrackingState.TRACKING and asking.request_relocalization
    assert not asking.map_fix and translation_error_m(asking.T_map_cam, drive[7].T_wc) > 2.0
    again = core.on_image(drive[8].image(), drive[8].camera, drive[8].stamp)
    assert not again.request_relocalization  # not before uncertain_retry_s
    core.on_prior(posenet_like(drive[9].T_wc), POSENET_COVARIANCE, drive[9].stamp)
    fixed = core.on_image(drive[9].image(), drive[9].camera, drive[9].stamp)
    assert fixed.state is TrackingState.TRACKING and fixed.map_fix, fixed.reason
    assert translation_error_m(fixed.T_map_cam, drive[9].T_wc) < 0.15
    assert core.filter.position_std_m < 1.0
    later = [core.on_image(f.image(), f.camera, f.stamp) for f in drive[10:20]]
    assert not any(o.request_relocalization for o in later)
    assert all(o.state is TrackingState.TRACKING for o in later)


def test_the_accelerometer_takes_a_tilt_out_that_odometry_alone_would_keep(world):
    """Tracking on odometry alone, the filter tilted 2 deg: with the accelerometer's up (the
    robot driving straight at constant speed) the tilt is corrected once a second; without it,
    it stays."""
    feature_map, drive, _ = world
    T_base_cam = Transform.from_xyz_quat([0.15, 0.0, 1.3], [-0.5, 0.5, -0.5, 0.5])
    config = FusionConfig(map_fix_period_s=NEVER, relocalize_above_std_m=NEVER)
    tilts = []
    for accelerometer in (True, False):
        core = FusionCore(feature_map, config)
        core.on_prior(posenet_like(drive[0].T_wc), POSENET_COVARIANCE, drive[0].stamp)
        for frame in drive[:4]:
            assert core.on_image(frame.image(), frame.camera, frame.stamp).state.value == "TRACKING"
        tilted = Rotation.from_euler("x", 2.0, degrees=True) * core.filter.pose.rotation
        covariance = np.diag([0.05**2] * 3 + [np.radians(3.0) ** 2] * 3)
        core.filter.reset(
            Transform(tilted, core.filter.pose.translation), covariance, drive[3].stamp
        )
        used = 0
        for previous, frame in itertools.pairwise(drive[3:30]):
            up_base = (frame.T_wc @ T_base_cam.inverse()).rotation.inv().apply([0, 0, 9.80665])
            for stamp in np.linspace(previous.stamp, frame.stamp, 6)[1:]:
                core.on_gyro(np.zeros(3), np.eye(3) * 1e-6, stamp)
                if accelerometer:
                    core.on_accel(up_base, np.eye(3) * 0.05**2, stamp)
            output = core.on_image(frame.image(), frame.camera, frame.stamp, T_base_cam)
            assert output.state is TrackingState.TRACKING, output.reason
            used += output.gravity_used
        error = (core.filter.pose.rotation * drive[29].T_wc.rotation.inv()).as_rotvec(degrees=True)
        tilts.append(float(np.hypot(error[0], error[1])))
        assert used == (2 if accelerometer else 0)  # 2.6 s: windows ending at 1 s intervals
    assert tilts[0] < 0.5 and tilts[1] > 1.5, tilts


def test_a_kidnap_is_lost_then_relocalized(world):
    feature_map, drive, elsewhere = world
    core = FusionCore(feature_map, FusionConfig(lost_after_failures=3))
    core.on_prior(posenet_like(drive[0].T_wc), POSENET_COVARIANCE, drive[0].stamp)
    for frame in drive[:10]:
        assert (
            core.on_image(frame.image(), frame.camera, frame.stamp).state is TrackingState.TRACKING
        )
    stamp = drive[9].stamp
    outputs = []
    for index, frame in enumerate(elsewhere[:6]):  # teleported: the stamps go on
        outputs.append(core.on_image(frame.image(), frame.camera, stamp + 0.1 * (index + 1)))
    states = [o.state for o in outputs]
    # The odometry follows almost none of its corners into the new view: lost at once.
    lost_at = states.index(TrackingState.LOST)
    assert lost_at == 0 and outputs[lost_at].request_relocalization
    assert "lost: view changed" in outputs[lost_at].reason
    # The last known pose stays, but no longer with the covariance it had while tracking.
    position_std = np.sqrt(np.diag(outputs[lost_at].covariance)[:3])
    assert position_std.min() >= 10.0
    # While lost the covariance grows and odom holds still.
    assert np.trace(outputs[-1].covariance[:3, :3]) > np.trace(outputs[lost_at].covariance[:3, :3])
    # Back on the mapped street (the kidnap of the demo, reversed): a new prior relocalizes.
    back = drive[30:34]
    stamp = stamp + 1.0
    core.on_prior(posenet_like(back[0].T_wc), POSENET_COVARIANCE, stamp)
    result = core.on_image(back[0].image(), back[0].camera, stamp)
    assert result.state is TrackingState.TRACKING and result.map_fix
    assert translation_error_m(result.T_map_cam, back[0].T_wc) < 0.3


def test_without_the_view_change_rule_a_kidnap_is_lost_after_the_failures(world):
    feature_map, drive, elsewhere = world
    core = FusionCore(feature_map, FusionConfig(lost_after_failures=3, lost_kept_fraction=0.0))
    core.on_prior(posenet_like(drive[0].T_wc), POSENET_COVARIANCE, drive[0].stamp)
    for frame in drive[:5]:
        core.on_image(frame.image(), frame.camera, frame.stamp)
    states = [
        core.on_image(frame.image(), frame.camera, drive[4].stamp + 0.1 * (index + 1)).state
        for index, frame in enumerate(elsewhere[:4])
    ]
    assert states[:3] == [TrackingState.TRACKING] * 2 + [TrackingState.LOST]


def test_a_prior_the_map_does_not_confirm_is_not_used(world):
    feature_map, drive, _ = world
    core = FusionCore(feature_map)
    wrong = Transform(drive[0].T_wc.rotation, drive[0].T_wc.translation + np.array([0.0, 25.0, 0]))
    core.on_prior(wrong, np.diag([0.5**2] * 3 + [np.radians(2.0) ** 2] * 3), drive[0].stamp)
    output = core.on_image(drive[0].image(), drive[0].camera, drive[0].stamp)
    assert output.state is TrackingState.RELOCALIZING and output.T_map_cam is None
    assert "not confirmed" in output.reason
    # The prior was tried once: the next frame waits for a new one.
    output = core.on_image(drive[1].image(), drive[1].camera, drive[1].stamp)
    assert "waiting" in output.reason


def test_confirming_a_prior_and_fixing_while_tracking_have_their_own_settings(world):
    from vo_fusion.refine import RefineConfig

    feature_map, drive, _ = world
    strict = RefineConfig(min_inliers=100_000)
    prior = posenet_like(drive[0].T_wc)
    core = FusionCore(feature_map, relocalize=strict)
    core.on_prior(prior, POSENET_COVARIANCE, drive[0].stamp)
    output = core.on_image(drive[0].image(), drive[0].camera, drive[0].stamp)
    assert "not confirmed" in output.reason and "< 100000" in output.reason
    core = FusionCore(feature_map, refine=strict)
    core.on_prior(prior, POSENET_COVARIANCE, drive[0].stamp)
    outputs = [core.on_image(f.image(), f.camera, f.stamp) for f in drive[:4]]
    assert outputs[0].state is TrackingState.TRACKING and outputs[0].map_fix
    assert not any(o.map_fix for o in outputs[1:])  # tracking on odometry: fixes refused


def test_bad_input_gives_reasons_not_exceptions(world):
    feature_map, drive, _ = world
    core = FusionCore(feature_map, FusionConfig(lost_after_failures=2))
    for bad in (np.full((6, 6), np.nan), -np.eye(6), np.zeros((6, 6))):
        with pytest.raises(VoFusionError):
            core.on_prior(drive[0].T_wc, bad, drive[0].stamp)
    core.on_prior(posenet_like(drive[0].T_wc), POSENET_COVARIANCE, drive[0].stamp)
    assert core.on_image(drive[0].image(), drive[0].camera, drive[0].stamp).state is (
        TrackingState.TRACKING
    )
    black = np.zeros((240, 320, 3), np.uint8)
    outputs = [core.on_image(black, drive[0].camera, drive[0].stamp + 0.1 * k) for k in (1, 2, 3)]
    assert outputs[0].state is TrackingState.LOST
    assert "0 points followed into this image" in outputs[0].reason
    # Time going backwards (a bag looped): everything starts over, said once.
    looped = core.on_image(drive[0].image(), drive[0].camera, drive[0].stamp - 5.0)
    assert looped.reset and looped.state is TrackingState.RELOCALIZING
    assert "backwards" in looped.reason and looped.T_map_cam is None
    again = core.on_image(drive[1].image(), drive[1].camera, drive[1].stamp - 5.0)
    assert not again.reset


def test_sun_observations_of_earlier_images_are_used_and_wrong_ones_refused(world):
    feature_map, drive, _ = world
    core = FusionCore(feature_map, FusionConfig(sun_min_interval_s=0.0))
    core.on_prior(posenet_like(drive[0].T_wc), POSENET_COVARIANCE, drive[0].stamp)
    sun_cov = np.eye(3) * np.radians(3.0) ** 2
    previous = None
    for frame in drive[:20]:
        core.on_image(frame.image(), frame.camera, frame.stamp)
        if previous is not None:  # Sun-BCNN answers for an image after the next one arrived
            elevation = np.degrees(np.arcsin(previous.sun_world[2]))
            assert core.on_sun(
                previous.sun_cam, sun_cov, previous.sun_world, elevation, previous.stamp
            )
        previous = frame
    assert core.sun_counts["used"] == 19
    # A sun 40 degrees off what the pose says is refused; one below the horizon too.
    wrong = Rotation.from_euler("x", 40, degrees=True).apply(previous.sun_cam)
    assert not core.on_sun(wrong, sun_cov, previous.sun_world, 30.0, previous.stamp)
    assert not core.on_sun(previous.sun_cam, sun_cov, previous.sun_world, -5.0, previous.stamp)
    assert core.sun_counts["rejected"] == 2
    # One for an image not seen yet waits for it.
    assert not core.on_sun(drive[20].sun_cam, sun_cov, drive[20].sun_world, 30.0, drive[20].stamp)
    output = core.on_image(drive[20].image(), drive[20].camera, drive[20].stamp)
    assert output.sun_used
    with pytest.raises(VoFusionError):
        core.on_sun(drive[20].sun_cam, np.full((3, 3), np.nan), drive[20].sun_world, 30.0, 0.0)


def test_sun_updates_are_spaced_by_the_configured_interval(world):
    feature_map, drive, _ = world
    core = FusionCore(feature_map, FusionConfig(sun_min_interval_s=1.0))
    core.on_prior(posenet_like(drive[0].T_wc), POSENET_COVARIANCE, drive[0].stamp)
    sun_cov = np.eye(3) * np.radians(3.0) ** 2
    used = []
    for frame in drive[:25]:
        core.on_image(frame.image(), frame.camera, frame.stamp)
        elevation = np.degrees(np.arcsin(frame.sun_world[2]))
        if core.on_sun(frame.sun_cam, sun_cov, frame.sun_world, elevation, frame.stamp):
            used.append(frame.stamp)
    # 10 Hz images over 2.4 s of tracking: one update per second, the rest counted as too soon.
    assert len(used) >= 2 and np.all(np.diff(used) >= 1.0 - 1e-6)
    assert core.sun_counts["too_soon"] >= 15


def test_evaluate_fusion_reports_accuracy_kidnaps_and_writes_tum_files(world, tmp_path):
    from dataclasses import replace

    from pose_reloc.tools.fusion_sources import ground_truth_priors
    from vo_fusion.evaluation.fusion import evaluate_fusion

    feature_map, drive, _ = world
    # Teleported 3 s ahead after 1.5 s: the kidnap flag marks the jump, as the synthetic set does.
    frames = [*drive[:15], replace(drive[45], kidnap=True), *drive[46:60]]
    figures = evaluate_fusion(
        feature_map, frames, ground_truth_priors(seed=3), out=tmp_path / "fusion.json"
    )
    assert figures["frames"] == 30 and figures["kidnaps"] == 1
    assert figures["relocalized"] == 1 and 0.0 <= figures["median_relocalization_s"] <= 1.5
    assert figures["median_translation_m"] < 0.2 and figures["within_25cm_2deg"] > 0.8
    assert figures["first_fix_s"] <= 0.25  # asked at frame 0, PoseNet on frame 1, fixed at 2
    assert json.loads((tmp_path / "fusion.json").read_text())["kidnaps"] == 1
    truth = np.loadtxt(tmp_path / "groundtruth.tum")
    fused = np.loadtxt(tmp_path / "fused.tum")
    assert truth.shape == (30, 8) and fused.shape[1] == 8
    assert len(fused) == figures["tracking_frames"]
    # TUM rows: stamp, position, unit quaternion x y z w.
    np.testing.assert_allclose(truth[0, 1:4], frames[0].T_wc.translation, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(fused[:, 4:], axis=1), 1.0, atol=1e-6)


def test_drift_is_measured_over_the_first_tracked_stretch_only():
    from vo_fusion.evaluation.fusion import FrameRecord, first_tracked_run, rotation_drift_per_100m

    def record(i, state, yaw_error_deg):
        truth = Transform(Rotation.identity(), np.array([1.0 * i, 0.0, 0.0]))
        fused = Transform(Rotation.from_euler("z", yaw_error_deg, degrees=True), truth.translation)
        return FrameRecord(0.1 * i, state, truth, fused, False, 1.0, False)

    T, L = TrackingState.TRACKING, TrackingState.LOST
    records = [record(0, TrackingState.RELOCALIZING, 0.0)]
    records += [record(i, T, 0.05 * i) for i in range(1, 51)]  # 49 m tracked, 2.5 deg at the end
    records += [record(51, L, 9.0), record(52, T, 0.0)]  # lost, then relocalized: not drift
    run = first_tracked_run(records)
    assert [r.stamp for r in run] == [r.stamp for r in records[1:51]]
    tail_mean = np.mean([0.05 * i for i in range(46, 51)])
    assert rotation_drift_per_100m(records) == pytest.approx(100 * tail_mean / 49.0, rel=1e-6)
    assert np.isnan(rotation_drift_per_100m(records[:1]))


def test_relocalization_figures_count_fast_slow_missed_and_wrong_relocalizations():
    from vo_fusion.evaluation.fusion import FrameRecord, fusion_figures

    T, L, R = TrackingState.TRACKING, TrackingState.LOST, TrackingState.RELOCALIZING
    records: list = []

    def segment(states_and_offsets, kidnap=True):
        """One frame every 0.1 s, the true pose moving 0.1 m per frame; (state, fused pose's
        offset in m: None = no pose)."""
        for k, (state, offset) in enumerate(states_and_offsets):
            i = len(records)
            truth = Transform(Rotation.identity(), np.array([0.1 * i, 0.0, 0.0]))
            fused = None
            if offset is not None:
                fused = Transform(
                    Rotation.identity(), truth.translation + np.array([offset, 0.0, 0.0])
                )
            records.append(FrameRecord(0.1 * i, state, truth, fused, kidnap and k == 0, 1, False))

    segment([(R, None)] * 3 + [(T, 0.01)] * 7, kidnap=False)  # first fix 0.3 s
    segment([(T, 30.0), (L, None)] + [(T, 0.02)] * 8)  # noticed, relocalized in 0.2 s
    segment([(T, 30.0)] + [(L, None)] * 14 + [(T, 0.02)] * 5)  # relocalized in 1.5 s
    segment([(T, 30.0), (L, None), (T, 5.0)] + [(T, 0.02)] * 7)  # wrong, then right: 0.3 s
    segment([(T, 30.0)] * 12)  # never noticed: wrong, never relocalized
    segment([(T, 30.0)] + [(L, None)] * 9)  # lost to the end: never relocalized
    figures = fusion_figures(records)
    assert figures["first_fix_s"] == pytest.approx(0.3)
    assert figures["kidnaps"] == 5 and figures["relocalized"] == 3
    assert figures["relocalized_within_1s"] == pytest.approx(2 / 5)
    assert figures["relocalized_within_2s"] == pytest.approx(3 / 5)
    assert figures["relocalization_s"] == pytest.approx([0.2, 1.5, 0.3, None, None])
    assert figures["median_relocalization_s"] == pytest.approx(0.3)
    assert math.isinf(figures["p90_relocalization_s"])  # 2 of 5 never: more than a tenth
    assert figures["wrong_relocalizations"] == 2
    assert fusion_figures(records[:40])["p90_relocalization_s"] == pytest.approx(1.5)


def test_the_ground_truth_sun_stand_in_has_the_error_it_states():
    from pose_reloc.datasets.record import Frame
    from pose_reloc.errors import PoseRelocError
    from pose_reloc.tools.fusion_sources import ground_truth_sun

    true = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    frame = Frame(0.0, CAMERA, Transform.identity(), lambda: None, "test", sun_cam=true)
    observe = ground_truth_sun(2.0, seed=1)
    angles, whitened = [], []
    for _ in range(2000):
        direction, covariance = observe(frame)
        assert abs(np.linalg.norm(direction) - 1.0) < 1e-9
        angles.append(np.degrees(np.arccos(np.clip(direction @ true, -1, 1))))
        error = direction - true
        whitened.append(error @ np.linalg.pinv(covariance, rcond=1e-3) @ error)
    # 2-D Gaussian of 2 deg per axis: mean angle 2 * sqrt(pi / 2) = 2.5 deg, chi2(2) mean 2.
    assert np.mean(angles) == pytest.approx(2.0 * np.sqrt(np.pi / 2), rel=0.05)
    assert np.mean(whitened) == pytest.approx(2.0, rel=0.1)
    assert abs(covariance @ true).max() < 1e-7  # no error along the sun itself
    with pytest.raises(PoseRelocError, match="synthetic"):
        observe(Frame(0.0, CAMERA, Transform.identity(), lambda: None, "test"))
    with pytest.raises(PoseRelocError, match="positive"):
        ground_truth_sun(0.0)


def test_drift_runs_repeat_the_same_odometry_with_and_without_sun(world):
    from pose_reloc.tools.fusion_sources import ground_truth_priors
    from vo_fusion.evaluation.fusion import _drift, evaluate_fusion

    feature_map, drive, _ = world

    def no_sun(frame):
        return None

    figures = _drift(feature_map, drive[:30], ground_truth_priors(1), no_sun, None, None, runs=2)
    # A sun source that never answers: the "with sun" run is replayed, and is the same odometry
    # (seeded, single-threaded RANSAC), so the same drift, exactly.
    assert figures["drift_runs"] == 2
    assert figures["rot_drift_ratio_sun_per_run"] == [1.0, 1.0]
    assert figures["drift_ended_vo_per_run"] == ["the drive ended"] * 2  # 30 frames, tracked
    assert figures["drift_tracked_m_vo"] > 2.0
    assert figures["trans_drift_pct_vo"] == figures["trans_drift_pct_vo_sun"]
    assert figures["trans_drift_pct_vo"] > 0
    # a mean over runs of each run's percentage: close to the mean error over the mean length
    ratio = 100 * figures["drift_final_translation_m_vo"] / figures["drift_tracked_m_vo"]
    assert figures["trans_drift_pct_vo"] == pytest.approx(ratio, rel=0.2)
    with pytest.raises(VoFusionError, match="drift_runs"):
        evaluate_fusion(feature_map, drive[:2], ground_truth_priors(1), drift_runs=0)


def test_a_drift_run_says_why_its_tracked_stretch_ended():
    from pose_reloc.geometry import Transform
    from vo_fusion.evaluation.fusion import FrameRecord, _why_run_ended, first_tracked_run
    from vo_fusion.tracking import TrackingState

    def record(stamp, state, reason):
        pose = Transform.identity()
        return FrameRecord(stamp, state, pose, pose, False, 1.0, False, reason)

    records = [
        record(0.0, TrackingState.RELOCALIZING, "waiting for a prior"),
        record(0.1, TrackingState.TRACKING, "tracked"),
        record(0.2, TrackingState.TRACKING, "tracked"),
        record(0.3, TrackingState.LOST, "lost: filter diverged"),
        record(0.4, TrackingState.TRACKING, "relocalized"),
    ]
    assert _why_run_ended(records, first_tracked_run(records)) == "lost: filter diverged"
    assert _why_run_ended(records[:3], first_tracked_run(records[:3])) == "the drive ended"
    assert _why_run_ended(records[:1], first_tracked_run(records[:1])) == "nothing tracked"
