"""Rigid transforms, quaternion conventions, errors and interpolation: invariants and exact answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from pose_reloc.errors import GeometryError
from pose_reloc.geometry import (
    Transform,
    interpolate,
    interpolate_trajectory,
    mean_rotation,
    pose_errors,
    quat_wxyz_to_xyzw,
    quat_xyzw_to_wxyz,
    rotation_error_deg,
    tangent_basis,
    translation_error_m,
    validate_covariance,
)

finite = st.floats(-100, 100, allow_nan=False)
unit_quaternions = (
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=4, max_size=4)
    .filter(lambda q: np.linalg.norm(q) > 0.1)
    .map(lambda q: np.asarray(q) / np.linalg.norm(q))
)
transforms = st.builds(
    lambda q, t: Transform.from_xyz_quat(t, q),
    unit_quaternions,
    st.lists(finite, min_size=3, max_size=3),
)


def test_wxyz_and_xyzw_conventions_agree_on_a_known_rotation():
    half = np.sqrt(0.5)
    q_wxyz = [half, 0.0, 0.0, half]  # 90 degrees about z, as a PoseNet/Cambridge file stores it
    np.testing.assert_allclose(quat_wxyz_to_xyzw(q_wxyz), [0.0, 0.0, half, half])
    T = Transform.from_xyz_quat_wxyz([1, 2, 3], q_wxyz)
    np.testing.assert_allclose(T.apply([1.0, 0.0, 0.0]), [1.0, 3.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(quat_xyzw_to_wxyz(T.quat_xyzw), q_wxyz, atol=1e-12)
    np.testing.assert_allclose(T.quat_wxyz, q_wxyz, atol=1e-12)


@given(transforms)
def test_a_transform_times_its_inverse_is_identity(T):
    np.testing.assert_allclose((T @ T.inverse()).as_matrix(), np.eye(4), atol=1e-9)


@given(transforms, transforms)
def test_composition_matches_matrix_product(A, B):
    np.testing.assert_allclose((A @ B).as_matrix(), A.as_matrix() @ B.as_matrix(), atol=1e-9)


@given(transforms)
def test_matrix_round_trip(T):
    np.testing.assert_allclose(
        Transform.from_matrix(T.as_matrix()).as_matrix(), T.as_matrix(), atol=1e-9
    )


def test_errors_of_a_perfect_estimate_are_zero_and_known_offsets_are_measured():
    truth = Transform.from_xyz_quat(
        [1, 2, 3], Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_quat()
    )
    assert translation_error_m(truth, truth) == 0.0
    assert rotation_error_deg(truth, truth) == pytest.approx(0.0, abs=1e-6)
    off = Transform(
        truth.rotation * Rotation.from_euler("z", 90, degrees=True),
        truth.translation + np.array([3.0, 4.0, 0.0]),
    )
    t, r = pose_errors([off, truth], [truth, truth])
    np.testing.assert_allclose(t, [5.0, 0.0])
    np.testing.assert_allclose(r, [90.0, 0.0], atol=1e-9)


def test_non_unit_nan_and_wrong_length_quaternions_are_refused():
    with pytest.raises(GeometryError, match="norm"):
        Transform.from_xyz_quat([0, 0, 0], [0, 0, 0, 0.5])
    with pytest.raises(GeometryError, match="NaN"):
        Transform.from_xyz_quat([0, 0, 0], [0, 0, np.nan, 1])
    with pytest.raises(GeometryError, match="4 components"):
        Transform.from_xyz_quat([0, 0, 0], [0, 0, 1])
    with pytest.raises(GeometryError, match="translation"):
        Transform.from_xyz_quat([0, np.inf, 0], [0, 0, 0, 1])
    with pytest.raises(GeometryError, match="rotation matrix"):
        Transform.from_matrix(np.diag([1.0, 1.0, -1.0, 1.0]))


def test_interpolation_halfway_between_two_poses():
    a = Transform.from_xyz_quat([0, 0, 0], [0, 0, 0, 1])
    b = Transform(Rotation.from_euler("z", 90, degrees=True), np.array([2.0, 0.0, 0.0]))
    mid = interpolate(a, b, 0.5)
    np.testing.assert_allclose(mid.translation, [1.0, 0.0, 0.0])
    assert np.degrees(mid.rotation.magnitude()) == pytest.approx(45.0)
    with pytest.raises(GeometryError):
        interpolate(a, b, 1.5)


def test_trajectory_interpolation_and_refusal_to_extrapolate():
    poses = [
        Transform(Rotation.from_euler("z", 10 * i, degrees=True), np.array([i, 0.0, 0.0]))
        for i in range(3)
    ]
    out = interpolate_trajectory([0.0, 1.0, 2.0], poses, [0.25, 1.5])
    np.testing.assert_allclose([p.translation[0] for p in out], [0.25, 1.5])
    np.testing.assert_allclose([np.degrees(p.rotation.magnitude()) for p in out], [2.5, 15.0])
    with pytest.raises(GeometryError, match="extrapolate"):
        interpolate_trajectory([0.0, 1.0, 2.0], poses, [2.5])
    with pytest.raises(GeometryError, match="increasing"):
        interpolate_trajectory([0.0, 1.0, 1.0], poses, [0.5])


def test_mean_rotation_ignores_quaternion_sign():
    base = Rotation.from_euler("xyz", [5, -40, 170], degrees=True).as_quat()
    flipped = Rotation.from_quat(np.stack([base, -base, base]))
    assert rotation_error_deg(
        Transform(mean_rotation(flipped), np.zeros(3)),
        Transform(Rotation.from_quat(base), np.zeros(3)),
    ) == pytest.approx(0.0, abs=1e-6)


def test_covariance_validation():
    np.testing.assert_allclose(validate_covariance(np.eye(6).reshape(-1), 6), np.eye(6))
    with pytest.raises(GeometryError, match="36 entries"):
        validate_covariance(np.zeros(35), 6)
    with pytest.raises(GeometryError, match="NaN"):
        validate_covariance(np.full(36, np.nan), 6)
    asymmetric = np.eye(6)
    asymmetric[0, 1] = 0.5
    with pytest.raises(GeometryError, match="symmetric"):
        validate_covariance(asymmetric, 6)
    with pytest.raises(GeometryError, match="positive semi-definite"):
        validate_covariance(np.diag([1, 1, 1, 1, 1, -1.0]), 6)


def test_tangent_basis_is_orthonormal_and_orthogonal_to_the_direction():
    for direction in (
        np.array([0.6, -0.48, 0.64]),
        np.array([0.0, 0.0, 1.0]),
        np.array([1.0, 0.0, 0.0]),
    ):
        B = tangent_basis(direction)
        assert B.shape == (3, 2)
        np.testing.assert_allclose(B.T @ B, np.eye(2), atol=1e-12)
        np.testing.assert_allclose(direction @ B, 0.0, atol=1e-12)


def test_same_transform_is_exact_equality_of_values_not_identity():
    from pose_reloc.geometry import same_transform

    T = Transform.from_xyz_quat([0.15, 0.0, 1.3], [0.5, -0.5, 0.5, -0.5])
    copy = Transform.from_matrix(T.as_matrix())
    assert same_transform(T, T)
    assert same_transform(T, Transform(T.rotation, T.translation.copy()))
    moved = Transform(T.rotation, T.translation + np.array([0.0, 0.0, 1e-9]))
    assert not same_transform(T, moved)
    assert not same_transform(T, Transform(T.rotation * T.rotation, T.translation))
    assert same_transform(copy, copy) and isinstance(same_transform(T, copy), bool)
