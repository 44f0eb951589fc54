"""vo_fusion's visual odometry: exact two-view triangulation, tracking a rendered drive from a
keyframe with metric points, keyframes made as it goes, and failures that come back as reasons."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from synth_fixtures import small_config
from test_vo_feature_map import render

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets import read_dataset
from pose_reloc.geometry import Transform, rotation_error_deg, translation_error_m
from vo_fusion.feature_map import VoFusionError
from vo_fusion.odometry import Keyframe, OdometryConfig, VisualOdometry, triangulate

CAMERA = PinholeCamera(
    np.array([[260.0, 0, 159.5], [0, 260.0, 119.5], [0, 0, 1]]), 320, 240, np.zeros(0)
)


def drive_config():
    """A robot driving up a street at 1.2 m/s, 10 Hz, camera turned 25° towards the façades."""
    return small_config(
        trajectory={"waypoints": [[1.0, -33.0], [1.0, 30.0]], "rate_hz": 10.0},
        camera={"mount_xyz": [0.15, 0.0, 1.5], "mount_rpy_deg": [0.0, 2.0, 25.0]},
    )


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    from pose_reloc.synth.generate import synthesize
    from pose_reloc.synth.render import RenderError

    out = tmp_path_factory.mktemp("odometry") / "drive"
    try:
        synthesize(drive_config(), "drive", 8.0, out, with_depth=True)
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    elsewhere = small_config(
        trajectory={"waypoints": [[1.0, 30.0], [1.0, -33.0]], "rate_hz": 10.0},
        camera={"mount_rpy_deg": [0.0, 2.0, -25.0]},
    )
    far = render(elsewhere, "drive", 0.5, out.parent / "elsewhere")
    return list(read_dataset(out)), out, far


def keyframe_from_depth(odometry, frame, depth_path):
    """A keyframe whose features carry their exact world points (from the rendered depth)."""
    features = odometry.detect(frame.image())
    depth_m = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED).astype(np.float64) / 1000.0
    u, v = np.round(features.pixels).astype(int).T
    depth = depth_m[v, u]
    usable = depth > 0
    rays = frame.camera.unproject(features.pixels[usable])
    points_cam = rays / rays[:, 2:3] * depth[usable, None]
    point_of_feature = np.full(len(features), -1, dtype=np.int64)
    point_of_feature[usable] = np.arange(int(usable.sum()))
    return Keyframe(frame.T_wc, features, point_of_feature, frame.T_wc.apply(points_cam), 0)


def test_triangulation_is_exact_and_refuses_bad_geometry():
    rng = np.random.default_rng(3)
    T_wa = Transform.identity()
    T_wb = Transform(Rotation.from_euler("y", 3.0, degrees=True), np.array([1.0, 0.0, 0.0]))
    points = np.column_stack(
        [rng.uniform(-4, 4, 50), rng.uniform(-2, 2, 50), rng.uniform(5, 20, 50)]
    )
    pixels_a, _ = CAMERA.project(T_wa.inverse().apply(points))
    pixels_b, _ = CAMERA.project(T_wb.inverse().apply(points))
    found, good = triangulate(CAMERA, T_wa, pixels_a, T_wb, pixels_b, OdometryConfig())
    assert good.all()
    assert np.abs(found - points).max() < 1e-6
    # The same pixels from cameras 2 mm apart: no usable parallax, every point refused.
    T_near = Transform(Rotation.identity(), np.array([0.002, 0.0, 0.0]))
    _, good = triangulate(CAMERA, T_wa, pixels_a, T_near, pixels_a, OdometryConfig())
    assert not good.any()
    # A pixel moved 10 px in the second view: refused by its reprojection error.
    moved = pixels_b.copy()
    moved[0, 1] += 10.0
    _, good = triangulate(CAMERA, T_wa, pixels_a, T_wb, moved, OdometryConfig())
    assert not good[0] and good[1:].all()


def test_odometry_tracks_a_drive_with_small_drift_and_makes_keyframes(drive):
    frames, out, _ = drive
    odometry = VisualOdometry("orb")
    odometry.reset(keyframe_from_depth(odometry, frames[0], out / "depth" / "000000.png"))
    steps = [odometry.track(frame.camera, odometry.detect(frame.image())) for frame in frames[1:]]
    assert all(step.ok for step in steps), [step.reason for step in steps if not step.ok]
    travelled = sum(translation_error_m(a.T_wc, b.T_wc) for a, b in itertools.pairwise(frames))
    last = steps[-1].T_wc
    drift_m = translation_error_m(last, frames[-1].T_wc)
    drift_deg = rotation_error_deg(last, frames[-1].T_wc)
    print(f"VO over {travelled:.1f} m: drift {drift_m:.3f} m, {drift_deg:.2f} deg")
    assert travelled > 8.0
    assert drift_m < 0.03 * travelled and drift_deg < 1.0
    assert sum(step.new_keyframe for step in steps) >= 3
    assert steps[-1].keyframes_since_map >= 3
    # Increments chain to the poses, and their covariances are proper and grow off the map.
    chained = frames[0].T_wc
    for step in steps:
        chained = chained @ step.delta
        assert np.all(np.linalg.eigvalsh(step.delta_covariance) > 0)
    assert translation_error_m(chained, last) < 1e-9


def test_off_map_keyframes_add_scale_uncertainty_along_the_motion(drive):
    frames, out, _ = drive
    odometry = VisualOdometry("orb")
    first = keyframe_from_depth(odometry, frames[0], out / "depth" / "000000.png")
    features = odometry.detect(frames[3].image())
    variances = []
    for since_map in (0, 5):
        odometry.reset(Keyframe(**{**first.__dict__, "keyframes_since_map": since_map}))
        step = odometry.track(frames[3].camera, features)
        t = step.delta.translation / np.linalg.norm(step.delta.translation)
        variances.append(float(t @ step.delta_covariance[:3, :3] @ t))
    assert variances[1] > variances[0] * 1.5


def test_frames_it_cannot_track_come_back_as_reasons(drive):
    frames, out, _ = drive
    odometry = VisualOdometry("orb")
    assert "no keyframe" in odometry.track(CAMERA, odometry.detect(frames[1].image())).reason
    odometry.reset(keyframe_from_depth(odometry, frames[0], out / "depth" / "000000.png"))
    black = np.zeros((240, 320, 3), np.uint8)
    step = odometry.track(CAMERA, odometry.detect(black))
    assert not step.ok and "features" in step.reason and step.T_wc is None
    sky = np.full((240, 320, 3), (120, 170, 230), np.uint8)  # a lens facing the sky
    assert not odometry.track(CAMERA, odometry.detect(sky)).ok
    # After the bad frames it still tracks the next good one.
    assert odometry.track(frames[1].camera, odometry.detect(frames[1].image())).ok


def test_a_teleported_camera_is_not_tracked(drive):
    frames, out, elsewhere = drive
    odometry = VisualOdometry("orb")
    odometry.reset(keyframe_from_depth(odometry, frames[0], out / "depth" / "000000.png"))
    # The robot kidnapped to the far end of the street, facing back: another view of the world.
    for frame in elsewhere:
        assert not odometry.track(frame.camera, odometry.detect(frame.image())).ok


def test_config_is_checked():
    with pytest.raises(VoFusionError, match="min_inliers"):
        OdometryConfig(min_inliers=4)
    with pytest.raises(VoFusionError, match="keyframe_keep_fraction"):
        OdometryConfig(keyframe_keep_fraction=1.5)
