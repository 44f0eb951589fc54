"""PoseNet inference core: MC samples -> mean pose and an honest ROS-convention covariance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_models import fake_posenet_model, mean_colour_model
from scipy.spatial.transform import Rotation

from pose_reloc.errors import ModelLoadError, PoseRelocError
from pose_reloc.geometry import Transform, pose_covariance_from_samples, propagate_pose_covariance
from pose_reloc.posenet.localizer import PoseNetLocalizer


def test_covariance_of_samples_matches_their_spread_in_the_fixed_frame():
    rng = np.random.default_rng(0)
    truth = Rotation.from_euler("xyz", [10, 20, 30], degrees=True)
    sigma_rot = np.radians([1.0, 2.0, 4.0])
    perturb = Rotation.from_rotvec(rng.normal(size=(4000, 3)) * sigma_rot)
    positions = rng.normal([5, -2, 1], [0.1, 0.2, 0.3], size=(4000, 3))
    mean_p, mean_r, cov = pose_covariance_from_samples(positions, perturb * truth)
    np.testing.assert_allclose(mean_p, [5, -2, 1], atol=0.02)
    assert np.degrees((mean_r * truth.inv()).magnitude()) < 0.2
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), [0.1, 0.2, 0.3, *sigma_rot], rtol=0.06)


def test_covariance_floor_keeps_identical_samples_uncertain():
    _, _, cov = pose_covariance_from_samples(
        np.zeros((8, 3)), Rotation.identity(8), 0.05, np.radians(0.5)
    )
    np.testing.assert_allclose(np.diag(cov), [0.0025] * 3 + [np.radians(0.5) ** 2] * 3)


def test_propagated_covariance_matches_monte_carlo_through_the_lever_arm():
    rng = np.random.default_rng(1)
    T_map_cam = Transform(Rotation.from_euler("z", 40, degrees=True), np.array([3.0, 4.0, 1.3]))
    T_cam_base = Transform(Rotation.from_euler("y", 10, degrees=True), np.array([0.0, 1.3, -0.2]))
    cov = np.diag([0.01, 0.02, 0.005, 0.002, 0.001, 0.004])
    T_map_base, cov_base = propagate_pose_covariance(cov, T_map_cam, T_cam_base)
    draws = rng.multivariate_normal(np.zeros(6), cov, size=20000)
    bases = [
        Transform(Rotation.from_rotvec(d[3:]) * T_map_cam.rotation, T_map_cam.translation + d[:3])
        @ T_cam_base
        for d in draws
    ]
    positions = np.array([b.translation for b in bases])
    np.testing.assert_allclose(positions.mean(axis=0), T_map_base.translation, atol=0.01)
    np.testing.assert_allclose(np.cov(positions.T), cov_base[:3, :3], atol=6e-4)


def test_localizer_returns_the_models_pose_with_spread_from_the_samples(tmp_path):
    localizer = PoseNetLocalizer(
        fake_posenet_model(tmp_path / "p.onnx", noise_m=0.3), ["cpu"], samples=64
    )
    red = np.zeros((240, 320, 3), np.uint8)
    red[..., 0] = 255
    estimate = localizer.localize(red)
    np.testing.assert_allclose(estimate.T_map_cam.translation, [10.0, 0.0, 0.0], atol=0.1)
    # Uniform noise of half-width 0.3 m has sigma 0.173 m per axis.
    np.testing.assert_allclose(np.sqrt(np.diag(estimate.covariance)[:3]), 0.173, rtol=0.3)
    optical_z = estimate.T_map_cam.rotation.apply([0.0, 0.0, 1.0])
    np.testing.assert_allclose(optical_z, [1.0, 0.0, 0.0], atol=1e-6)
    assert estimate.samples == 64 and estimate.inference_ms > 0


def test_localizer_refuses_models_that_are_not_posenet(tmp_path):
    with pytest.raises(ModelLoadError, match="is a 'test' model, this node needs 'posenet'"):
        PoseNetLocalizer(mean_colour_model(tmp_path / "m.onnx"), ["cpu"])
    with pytest.raises(ModelLoadError, match="must output 'position' with 3 floats per sample"):
        PoseNetLocalizer(fake_posenet_model(tmp_path / "two.onnx", position_width=2), ["cpu"])


def test_localizer_refuses_non_rgb_input(tmp_path):
    localizer = PoseNetLocalizer(fake_posenet_model(Path(tmp_path) / "p.onnx"), ["cpu"])
    with pytest.raises(PoseRelocError, match="RGB uint8"):
        localizer.localize(np.zeros((24, 32), np.uint8))


def test_calibration_scales_the_covariance_until_the_errors_fit(tmp_path):
    from pose_reloc.datasets.record import Frame
    from pose_reloc.evaluation.metrics import within_two_sigma
    from pose_reloc.posenet.localizer import calibrate_covariance

    localizer = PoseNetLocalizer(
        fake_posenet_model(tmp_path / "p.onnx", noise_m=0.1), ["cpu"], samples=32
    )
    rng = np.random.default_rng(3)
    camera = PinholeCameraStub()
    frames = []
    for i in range(60):
        colour = rng.integers(0, 255, 3)
        image = np.zeros((24, 32, 3), np.uint8) + colour.astype(np.uint8)
        truth = Transform(
            Rotation.from_quat([-0.5, 0.5, -0.5, 0.5])
            * Rotation.from_rotvec(rng.normal(0, 0.05, 3)),
            10.0 * colour / 255.0 + rng.normal(0, 1.0, 3),
        )  # errors of ~1 m: far above the 6 cm spread
        frames.append(Frame(float(i), camera, truth, lambda im=image: im, f"frame {i}"))

    def fraction_within_two_sigma() -> float:
        errors, covariances = [], []
        for frame in frames:
            estimate = localizer.localize(frame.image())
            errors.append(estimate.T_map_cam.translation - frame.T_wc.translation)
            covariances.append(estimate.covariance[:3, :3])
        return within_two_sigma(errors, covariances)

    assert fraction_within_two_sigma() < 0.2  # raw MC dropout: far too confident
    without_floor = calibrate_covariance(localizer, frames, 0.05, 0.5)  # the former 5 cm floor
    assert without_floor["position"] > 50 and without_floor["rotation"] > 1
    # 95 % by construction on the calibration draw; a new MC draw moves frames near the boundary
    # (60 frames: one frame is 1.7 %), so the check leaves room for that, not for a bad scale.
    assert fraction_within_two_sigma() >= 0.85
    scales = calibrate_covariance(localizer, frames)  # the 1 m floor covers most of the errors
    assert 1.0 <= scales["position"] < without_floor["position"] / 2
    assert scales["floor_position_m"] == 1.0 and fraction_within_two_sigma() >= 0.85
    assert np.allclose(np.sqrt(np.diag(localizer.floor)[:3]), 1.0)


def test_calibration_never_shrinks_the_spread_on_an_easy_held_out_drive(tmp_path):
    from pose_reloc.datasets.record import Frame
    from pose_reloc.posenet.localizer import calibrate_covariance

    localizer = PoseNetLocalizer(
        fake_posenet_model(tmp_path / "p.onnx", noise_m=0.5), ["cpu"], samples=32
    )
    image = np.full((24, 32, 3), 128, np.uint8)
    truth = localizer.localize(image).T_map_cam  # every error far inside the spread and floor
    frames = [Frame(float(i), PinholeCameraStub(), truth, lambda: image, "f") for i in range(10)]
    scales = calibrate_covariance(localizer, frames)
    assert scales["position"] == 1.0 and scales["rotation"] == 1.0


def PinholeCameraStub():
    from pose_reloc.camera import PinholeCamera

    return PinholeCamera(
        np.array([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]]), 32, 24, np.zeros(5)
    )
