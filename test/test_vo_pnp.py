"""vo_fusion's PnP covariance: the conversion of OpenCV's (rvec, tvec) covariance to the ROS
convention and the reprojection-Jacobian covariance both match Monte-Carlo spreads."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.geometry import Transform, left_jacobian_so3
from vo_fusion.pnp import pnp_covariance, ros_covariance_from_pnp


def _ros_deviations(rvecs, tvecs, T_wc_reference):
    """(N, 6) ROS-convention deviations of the T_wc of OpenCV (rvec, tvec) samples of T_cw."""
    R_wc = Rotation.from_rotvec(rvecs).inv()
    centres = -R_wc.apply(tvecs)
    rotations = (R_wc * T_wc_reference.rotation.inv()).as_rotvec()
    return np.hstack([centres - T_wc_reference.translation, rotations])


def test_covariance_conversion_to_ros_matches_monte_carlo():
    rng = np.random.default_rng(11)
    rvec, tvec = np.array([0.9, -1.7, 0.4]), np.array([3.0, -2.0, 10.0])  # a 2 rad rotation
    A = rng.normal(size=(6, 6)) * np.array([0.01] * 3 + [0.05] * 3)[:, None]
    covariance_rt = A @ A.T
    T_wc, predicted = ros_covariance_from_pnp(rvec, tvec, covariance_rt)
    samples = rng.multivariate_normal(np.zeros(6), covariance_rt, size=40000)
    deviations = _ros_deviations(rvec + samples[:, :3], tvec + samples[:, 3:], T_wc)
    empirical = np.cov(deviations.T)
    scale = np.sqrt(np.outer(np.diag(empirical), np.diag(empirical)))
    assert np.all(np.abs(empirical - predicted) < 0.05 * scale)
    expected_pose = Transform(Rotation.from_rotvec(rvec), tvec).inverse()
    np.testing.assert_allclose(T_wc.as_matrix(), expected_pose.as_matrix(), atol=1e-12)
    # The test can tell a plausible mistake: without SO(3)'s left Jacobian (a perturbation of
    # rvec taken as a rotation vector) the conversion misses by far more than the tolerance.
    without_J_l = np.linalg.solve(left_jacobian_so3(rvec), np.eye(3))
    transform = np.eye(6)
    transform[:3, :3] = without_J_l
    _, wrong = ros_covariance_from_pnp(rvec, tvec, transform @ covariance_rt @ transform.T)
    assert not np.all(np.abs(empirical - wrong) < 0.05 * scale)


def test_pnp_covariance_matches_the_spread_under_pixel_noise():
    rng = np.random.default_rng(5)
    camera = PinholeCamera(
        np.array([[260.0, 0, 159.5], [0, 260.0, 119.5], [0, 0, 1]]), 320, 240, np.zeros(5)
    )
    truth = Transform(
        Rotation.from_euler("xyz", [-95.0, 3.0, 40.0], degrees=True), np.array([1.0, -2.0, 1.4])
    )
    pixels = rng.uniform([10, 10], [310, 230], size=(60, 2))
    depths = rng.uniform(5.0, 30.0, size=60)
    world = truth.apply(
        camera.unproject(pixels) / camera.unproject(pixels)[:, 2:3] * depths[:, None]
    )
    T_cw = truth.inverse()
    rvec0, tvec0 = T_cw.rotation.as_rotvec(), T_cw.translation
    sigma_px = 0.7
    estimates_r, estimates_t, predicted = [], [], []
    for _ in range(300):
        noisy = pixels + rng.normal(0.0, sigma_px, pixels.shape)
        rvec, tvec = cv2.solvePnPRefineLM(world, noisy, camera.K, None, rvec0.copy(), tvec0.copy())
        projected, _ = cv2.projectPoints(world, rvec, tvec, camera.K, None)
        residuals = np.linalg.norm(projected.reshape(-1, 2) - noisy, axis=1)
        covariance_rt = pnp_covariance(world, residuals, rvec, tvec, camera.K)
        predicted.append(ros_covariance_from_pnp(rvec, tvec, covariance_rt)[1])
        estimates_r.append(rvec.ravel())
        estimates_t.append(tvec.ravel())
    empirical = np.cov(_ros_deviations(np.array(estimates_r), np.array(estimates_t), truth).T)
    ratio = np.diag(empirical) / np.diag(np.mean(predicted, axis=0))
    print(f"empirical / predicted variances (x y z rx ry rz): {np.round(ratio, 2)}")
    assert np.all((ratio > 0.75) & (ratio < 1.33))


def test_where_two_poses_explain_the_matches_about_equally_the_expected_one_is_kept():
    """Matches of which 52 % fit pose A and 48 % a pose B 1.5 m away (what far points allow):
    RANSAC alone takes A; an expectation near B keeps B, since A explains hardly more; one near
    A, or a B that explains clearly less, keeps A; so does one that RANSAC's pose lies within
    `guess_beyond_m` of (the odometry asks only when its motion model was jumped away from)."""
    from vo_fusion.pnp import solve_pnp

    rng = np.random.default_rng(3)
    K = np.array([[260.0, 0, 159.5], [0, 260.0, 119.5], [0, 0, 1]])
    A = Transform(Rotation.from_euler("y", 5, degrees=True), np.zeros(3))
    B = Transform(Rotation.from_euler("y", -3, degrees=True), np.array([1.5, 0.0, 0.3]))

    def matches_of(T_wc, count):
        pixels = rng.uniform([20, 20], [300, 220], size=(count, 2))
        depths = rng.uniform(6.0, 30.0, count)
        rays = np.c_[(pixels - K[:2, 2]) / K[0, 0], np.ones(count)] * depths[:, None]
        return T_wc.apply(rays), pixels + rng.normal(0, 0.3, (count, 2))

    def solved(share_b, guess, beyond_m=0.0):
        points_a, pixels_a = matches_of(A, round(100 * (1 - share_b)))
        points_b, pixels_b = matches_of(B, round(100 * share_b))
        points, pixels = np.vstack([points_a, points_b]), np.vstack([pixels_a, pixels_b])
        solution, why = solve_pnp(points, pixels, K, 2.0, guess_T_wc=guess, guess_beyond_m=beyond_m)
        assert solution is not None, why
        return solution.T_wc.translation

    near_b = Transform(B.rotation, B.translation + np.array([0.05, 0.0, -0.05]))
    np.testing.assert_allclose(solved(0.48, None), A.translation, atol=0.05)
    np.testing.assert_allclose(solved(0.48, near_b), B.translation, atol=0.05)
    np.testing.assert_allclose(solved(0.48, A), A.translation, atol=0.05)
    np.testing.assert_allclose(solved(0.35, near_b), A.translation, atol=0.05)
    np.testing.assert_allclose(solved(0.48, near_b, beyond_m=0.5), B.translation, atol=0.05)
    np.testing.assert_allclose(solved(0.48, near_b, beyond_m=2.0), A.translation, atol=0.05)
