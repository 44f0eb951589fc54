"""vo_fusion's visual odometry: exact two-view triangulation, tracking a rendered drive from a
seed with metric points, points triangulated as it goes, and failures that come back as reasons."""

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
from vo_fusion.errors import VoFusionError
from vo_fusion.odometry import OdometryConfig, OdometrySeed, VisualOdometry
from vo_fusion.triangulation import triangulate

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


def seed_from_depth(frame, depth_path):
    """A seed whose corners carry their exact world points (from the rendered depth)."""
    grey = cv2.cvtColor(frame.image(), cv2.COLOR_RGB2GRAY)
    pixels = cv2.goodFeaturesToTrack(grey, 300, 0.01, 8).reshape(-1, 2).astype(np.float64)
    depth_m = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED).astype(np.float64) / 1000.0
    u, v = np.round(pixels).astype(int).T
    depth = depth_m[v, u]
    usable = depth > 0
    rays = frame.camera.unproject(pixels[usable])
    points_cam = rays / rays[:, 2:3] * depth[usable, None]
    return OdometrySeed(frame.T_wc, pixels[usable], frame.T_wc.apply(points_cam))


def started(frames, out, config=None):
    """Odometry seeded at the first frame with its corners' true points."""
    odometry = VisualOdometry(config)
    seed = seed_from_depth(frames[0], out / "depth" / "000000.png")
    odometry.reset(seed, frames[0].camera, frames[0].image())
    return odometry


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


def test_odometry_tracks_a_drive_with_small_drift_and_triangulates_as_it_goes(drive):
    frames, out, _ = drive
    odometry = started(frames, out)
    steps = [odometry.track(frame.camera, frame.image()) for frame in frames[1:]]
    assert all(step.ok for step in steps), [step.reason for step in steps if not step.ok]
    travelled = sum(translation_error_m(a.T_wc, b.T_wc) for a, b in itertools.pairwise(frames))
    last = steps[-1].T_wc
    drift_m = translation_error_m(last, frames[-1].T_wc)
    drift_deg = rotation_error_deg(last, frames[-1].T_wc)
    print(f"VO over {travelled:.1f} m: drift {drift_m:.3f} m, {drift_deg:.2f} deg")
    assert travelled > 8.0
    assert drift_m < 0.03 * travelled and drift_deg < 1.0
    # The seed's points leave the view: by the end most inliers are points it triangulated.
    assert sum(step.triangulated for step in steps) > 100
    assert abs(steps[-1].metres_since_seed - travelled) < 0.05 * travelled
    # Increments chain to the poses, and their covariances are proper.
    chained = frames[0].T_wc
    for step in steps:
        chained = chained @ step.delta
        assert np.all(np.linalg.eigvalsh(step.delta_covariance) > 0)
    assert translation_error_m(chained, last) < 1e-9


def test_distance_since_the_seed_adds_scale_uncertainty_along_the_motion(drive):
    frames, out, _ = drive
    variances = []
    for since_seed in (0.0, 10.0):
        odometry = started(frames, out)
        odometry.metres_since_seed = since_seed
        step = odometry.track(frames[3].camera, frames[3].image())
        t = step.delta.translation / np.linalg.norm(step.delta.translation)
        variances.append(float(t @ step.delta_covariance[:3, :3] @ t))
    assert variances[1] > variances[0] * 1.5


def test_frames_it_cannot_track_come_back_as_reasons(drive):
    frames, out, _ = drive
    assert "no seed" in VisualOdometry().track(CAMERA, frames[1].image()).reason
    odometry = started(frames, out)
    black = np.zeros((240, 320, 3), np.uint8)
    step = odometry.track(CAMERA, black)
    assert not step.ok and "followed into this image" in step.reason and step.T_wc is None
    sky = np.full((240, 320, 3), (120, 170, 230), np.uint8)  # a lens facing the sky
    assert not odometry.track(CAMERA, sky).ok
    small = np.zeros((120, 160, 3), np.uint8)
    assert "image size" in odometry.track(CAMERA, small).reason
    # After the bad frames it still tracks the next good one.
    assert odometry.track(frames[1].camera, frames[1].image()).ok


def test_a_teleported_camera_is_not_tracked(drive):
    frames, out, elsewhere = drive
    odometry = started(frames, out)
    # The robot kidnapped to the far end of the street, facing back: another view of the world.
    for frame in elsewhere:
        assert not odometry.track(frame.camera, frame.image()).ok


def hidden_behind_a_wall(image, share):
    """The image with its left `share` covered by a blank wall (a near building swept in)."""
    covered = image.copy()
    covered[:, : int(share * image.shape[1])] = (128, 128, 128)
    return covered


@pytest.mark.parametrize("hidden_rule", [True, False])
def test_tracks_hidden_at_once_by_a_near_wall_are_not_a_changed_view(drive, hidden_rule):
    """Most tracks hidden in one frame, those the flow still follows agreeing with the motion
    model: tracked on (the kidnap test below keeps refusing another view)."""
    frames, out, _ = drive
    config = OdometryConfig(min_kept_fraction_hidden=0.25 if hidden_rule else 0.9)
    odometry = started(frames, out, config)
    for frame in frames[1:6]:
        assert odometry.track(frame.camera, frame.image()).ok
    frame = frames[6]
    step = odometry.track(frame.camera, hidden_behind_a_wall(frame.image(), 0.6))
    assert step.kept_fraction < config.min_kept_fraction
    if not hidden_rule:
        assert not step.ok and "the view changed" in step.reason
        return
    assert step.ok and step.motion_model, step.reason
    assert translation_error_m(step.T_wc, frame.T_wc) < 0.05
    assert rotation_error_deg(step.T_wc, frame.T_wc) < 0.3


def test_config_is_checked():
    with pytest.raises(VoFusionError, match="min_inliers"):
        OdometryConfig(min_inliers=4)
    with pytest.raises(VoFusionError, match="corner_quality"):
        OdometryConfig(corner_quality=1.5)
    with pytest.raises(VoFusionError, match="flow_window_px"):
        OdometryConfig(flow_window_px=3)


def test_a_reseed_while_driving_carries_the_motion_model_over(drive):
    """A map fix reseeds the odometry mid-drive: with the last increment carried over, the pose
    it expects for the next image is the next frame's (far points fit two poses a metre apart;
    the motion model tells them apart); a fresh start expects nothing."""
    frames, out, _ = drive
    odometry = started(frames, out)
    for frame in frames[1:6]:
        assert odometry.track(frame.camera, frame.image()).ok
    motion = odometry.last_delta
    seed = OdometrySeed(frames[5].T_wc, np.zeros((0, 2)), np.zeros((0, 3)))
    odometry.reset(seed, frames[5].camera, frames[5].image(), motion)
    expected = odometry._motion_model_pose()
    assert expected is not None
    assert translation_error_m(expected, frames[6].T_wc) < 0.02
    assert translation_error_m(frames[5].T_wc, frames[6].T_wc) > 0.05  # it did move
    odometry.reset(seed, frames[5].camera, frames[5].image())
    assert odometry._motion_model_pose() is None


@pytest.fixture(scope="module")
def corner(tmp_path_factory):
    """A robot turning left at a crossing at 1.2 m/s, up to 6 degrees per frame at 10 Hz."""
    from pose_reloc.synth.generate import synthesize
    from pose_reloc.synth.render import RenderError

    out = tmp_path_factory.mktemp("odometry") / "corner"
    config = small_config(
        trajectory={"waypoints": [[1.8, -8.0], [1.8, 1.8], [-12.0, 1.8]], "rate_hz": 10.0}
    )
    try:
        synthesize(config, "drive", 11.0, out, with_depth=True)
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    return list(read_dataset(out)), out


def test_a_corner_is_tracked_around_the_motion_model_where_pnp_alone_loses_it(corner):
    frames, out = corner
    seed = seed_from_depth(frames[0], out / "depth" / "000000.png")
    pnp_alone = VisualOdometry(OdometryConfig(max_motion_model_frames=0))
    pnp_alone.reset(seed, frames[0].camera, frames[0].image())
    steps = [pnp_alone.track(frame.camera, frame.image()) for frame in frames[1:]]
    assert not all(step.ok for step in steps)  # the points with a depth leave the image
    odometry = VisualOdometry()
    odometry.reset(seed, frames[0].camera, frames[0].image())
    steps = [odometry.track(frame.camera, frame.image()) for frame in frames[1:]]
    assert all(step.ok for step in steps), [step.reason for step in steps if not step.ok]
    around = [i for i, step in enumerate(steps) if step.motion_model]
    turn_deg = [rotation_error_deg(a.T_wc, b.T_wc) for a, b in itertools.pairwise(frames)]
    assert len(around) >= 5 and max(turn_deg[i] for i in around) > 4.0
    assert all(
        step.reason == "tracked around the motion model" for step in map(steps.__getitem__, around)
    )
    last = steps[-1].T_wc
    travelled = sum(translation_error_m(a.T_wc, b.T_wc) for a, b in itertools.pairwise(frames))
    assert rotation_error_deg(last, frames[-1].T_wc) < 0.6
    assert translation_error_m(last, frames[-1].T_wc) < 0.04 * travelled
    for step in steps:
        assert np.all(np.linalg.eigvalsh(step.delta_covariance) > 0)


def test_the_fit_around_the_motion_model_is_bounded_in_time(corner):
    """Frames measured on the motion model alone, one after another, are not tracked forever."""
    frames, out = corner
    odometry = started(frames, out, OdometryConfig(max_motion_model_frames=2))
    steps = [odometry.track(frame.camera, frame.image()) for frame in frames[1:]]
    failed = next(step for step in steps if not step.ok)
    assert "2 frames in a row with the motion model's distance already" in failed.reason


def test_the_robot_odometry_holds_the_distance_through_the_corner(corner):
    """With the robot's odometry as the motion prior (the true motion with a 2 % scale error and
    the stated noise), every frame is measured around it, and the distance follows it."""
    from vo_fusion.odometry import RobotMotion

    frames, out = corner
    odometry = started(frames, out)
    covariance = np.diag([0.004**2] * 3 + [np.radians(0.2) ** 2] * 3)
    steps = []
    for previous, frame in itertools.pairwise(frames):
        true = previous.T_wc.inverse() @ frame.T_wc
        measured = Transform(true.rotation, 1.02 * true.translation)
        steps.append(odometry.track(frame.camera, frame.image(), RobotMotion(measured, covariance)))
    assert all(step.ok and step.robot_odometry for step in steps), [s.reason for s in steps]
    travelled = sum(translation_error_m(a.T_wc, b.T_wc) for a, b in itertools.pairwise(frames))
    estimated = sum(float(np.linalg.norm(step.delta.translation)) for step in steps)
    assert abs(estimated / travelled - 1.0) < 0.04
    assert rotation_error_deg(steps[-1].T_wc, frames[-1].T_wc) < 0.6
    assert translation_error_m(steps[-1].T_wc, frames[-1].T_wc) < 0.04 * travelled


def test_the_gyro_turns_the_prediction_and_holds_the_fit_through_the_corner(corner):
    """With the gyro's rotation (the true turn with a 0.05 deg/s bias and 0.1 deg/s noise at
    10 Hz) the corner is tracked on every frame, the prediction turns with the robot from the
    first frame of the turn (the motion model's last increment does not), and the rotation
    stays within the gyro's error of the truth."""
    from scipy.spatial.transform import Rotation

    from vo_fusion.odometry import GyroPrior

    frames, out = corner
    odometry = started(frames, out)
    rng = np.random.default_rng(0)
    covariance = np.eye(3) * (np.radians(0.1) * 0.1) ** 2 * 2
    steps, predicted_error, model_error = [], [], []
    for previous, frame in itertools.pairwise(frames):
        true = previous.T_wc.inverse() @ frame.T_wc
        error = Rotation.from_rotvec(np.radians(0.005 + 0.01 * rng.standard_normal(3)))
        gyro = GyroPrior(true.rotation * error, covariance)
        if odometry.last_delta is not None and odometry.last_T_wc is not None:
            odometry.gyro = gyro
            predicted_error.append(rotation_error_deg(odometry._motion_model_pose(), frame.T_wc))
            odometry.gyro = None
            model_error.append(rotation_error_deg(odometry._motion_model_pose(), frame.T_wc))
        steps.append(odometry.track(frame.camera, frame.image(), gyro=gyro))
    assert all(step.ok for step in steps), [step.reason for step in steps if not step.ok]
    assert max(predicted_error) < 0.5 < max(model_error)  # a turn's start and end
    assert rotation_error_deg(steps[-1].T_wc, frames[-1].T_wc) < 0.6


def test_a_turn_that_disagrees_with_the_gyro_is_not_taken(corner):
    """A gyro that says the robot turned 5 degrees more than it did: neither PnP's pose nor the
    fit around the motion model agrees with it, so the frame is not tracked, and says why."""
    from scipy.spatial.transform import Rotation

    from vo_fusion.odometry import GyroPrior

    frames, out = corner
    odometry = started(frames, out)
    covariance = np.eye(3) * np.radians(0.02) ** 2
    for previous, frame in itertools.pairwise(frames[:4]):
        true = previous.T_wc.inverse() @ frame.T_wc
        assert odometry.track(
            frame.camera, frame.image(), gyro=GyroPrior(true.rotation, covariance)
        ).ok
    previous, frame = frames[3], frames[4]
    wrong = (
        Rotation.from_euler("y", 5.0, degrees=True)
        * (previous.T_wc.inverse() @ frame.T_wc).rotation
    )
    step = odometry.track(frame.camera, frame.image(), gyro=GyroPrior(wrong, covariance))
    assert not step.ok and "from the gyro's" in step.reason, step.reason
