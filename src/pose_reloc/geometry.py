"""Rigid transforms, quaternion conventions, pose errors and interpolation (scipy Rotation underneath).

Naming: `T_a_b` maps points from frame b into frame a, so `T_map_cam @ T_cam_point`-style chains read
left to right. Quaternions are ROS-ordered (x, y, z, w) everywhere inside pose_reloc; files that store
(w, x, y, z) (PoseNet, Cambridge, COLMAP) go through `quat_wxyz_to_xyzw` / `quat_xyzw_to_wxyz`, here
and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation, Slerp

from pose_reloc.errors import GeometryError

# A quaternion further than this from unit norm is a bug upstream, not rounding: refuse it.
QUATERNION_NORM_TOLERANCE = 1e-2


def quat_wxyz_to_xyzw(q_wxyz: ArrayLike) -> NDArray[np.float64]:
    """(w, x, y, z) as stored by PoseNet-style files → (x, y, z, w) as ROS and scipy use."""
    q = _as_quaternions(q_wxyz)
    return np.roll(q, -1, axis=-1)


def quat_xyzw_to_wxyz(q_xyzw: ArrayLike) -> NDArray[np.float64]:
    """(x, y, z, w) as ROS and scipy use → (w, x, y, z) as PoseNet-style files store."""
    q = _as_quaternions(q_xyzw)
    return np.roll(q, 1, axis=-1)


def _as_quaternions(q: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(q, dtype=np.float64)
    if array.shape[-1:] != (4,):
        raise GeometryError(f"a quaternion has 4 components, got shape {array.shape}")
    return array


def rotation_from_quat_xyzw(q_xyzw: ArrayLike) -> Rotation:
    """A Rotation from an (x, y, z, w) quaternion that must be finite and close to unit norm."""
    q = _as_quaternions(q_xyzw)
    if q.ndim != 1:
        raise GeometryError(f"expected one quaternion, got shape {q.shape}")
    if not np.all(np.isfinite(q)):
        raise GeometryError(f"quaternion {q.tolist()} has a NaN or infinite component")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise GeometryError(
            f"quaternion {q.tolist()} has norm {norm:.4f}, not 1: it is not a rotation "
            "(check the component order: ROS messages are x, y, z, w)"
        )
    return Rotation.from_quat(q / norm)


@dataclass(frozen=True, eq=False)
class Transform:
    """A rigid transform T_a_b: `T_a_b.apply(p_b)` gives the point in frame a."""

    rotation: Rotation
    translation: NDArray[np.float64]

    def __post_init__(self) -> None:
        t = np.asarray(self.translation, dtype=np.float64).reshape(-1)
        if t.shape != (3,) or not np.all(np.isfinite(t)):
            raise GeometryError(f"a translation is 3 finite numbers, got {self.translation!r}")
        if self.rotation.single is False:
            raise GeometryError("a Transform holds one rotation, not a stack of them")
        object.__setattr__(self, "translation", t)

    @classmethod
    def identity(cls) -> Transform:
        return cls(Rotation.identity(), np.zeros(3))

    @classmethod
    def from_matrix(cls, matrix: ArrayLike) -> Transform:
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape not in ((4, 4), (3, 4)):
            raise GeometryError(f"a rigid transform matrix is 4x4 or 3x4, got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise GeometryError("the transform matrix has a NaN or infinite entry")
        r = m[:3, :3]
        if not np.allclose(r.T @ r, np.eye(3), atol=1e-4) or np.linalg.det(r) < 0:
            raise GeometryError("the 3x3 block of the transform is not a rotation matrix")
        return cls(Rotation.from_matrix(r), m[:3, 3])

    @classmethod
    def from_xyz_quat(cls, xyz: ArrayLike, quat_xyzw: ArrayLike) -> Transform:
        return cls(rotation_from_quat_xyzw(quat_xyzw), np.asarray(xyz, dtype=np.float64))

    @classmethod
    def from_xyz_quat_wxyz(cls, xyz: ArrayLike, quat_wxyz: ArrayLike) -> Transform:
        return cls.from_xyz_quat(xyz, quat_wxyz_to_xyzw(quat_wxyz))

    @property
    def quat_xyzw(self) -> NDArray[np.float64]:
        return np.asarray(self.rotation.as_quat(), dtype=np.float64)

    @property
    def quat_wxyz(self) -> NDArray[np.float64]:
        return quat_xyzw_to_wxyz(self.quat_xyzw)

    def as_matrix(self) -> NDArray[np.float64]:
        m = np.eye(4)
        m[:3, :3] = self.rotation.as_matrix()
        m[:3, 3] = self.translation
        return m

    def inverse(self) -> Transform:
        r_inv = self.rotation.inv()
        return Transform(r_inv, -r_inv.apply(self.translation))

    def __matmul__(self, other: Transform) -> Transform:
        """T_a_b @ T_b_c = T_a_c."""
        return Transform(
            self.rotation * other.rotation,
            self.rotation.apply(other.translation) + self.translation,
        )

    def apply(self, points: ArrayLike) -> NDArray[np.float64]:
        """Points (3,) or (N, 3) from this transform's source frame into its target frame."""
        p = np.asarray(points, dtype=np.float64)
        return np.asarray(self.rotation.apply(p) + self.translation, dtype=np.float64)

    def __repr__(self) -> str:
        x, y, z = self.translation
        qx, qy, qz, qw = self.quat_xyzw
        return f"Transform(xyz=({x:.4f}, {y:.4f}, {z:.4f}), xyzw=({qx:.4f}, {qy:.4f}, {qz:.4f}, {qw:.4f}))"


def same_transform(a: Transform, b: Transform) -> bool:
    """Exactly the same rotation and translation (a cache's test, not a tolerance)."""
    return a is b or (
        np.array_equal(a.translation, b.translation)
        and np.array_equal(a.rotation.as_quat(), b.rotation.as_quat())
    )


def translation_error_m(estimate: Transform, truth: Transform) -> float:
    """Euclidean distance between the two transforms' translations, metres."""
    return float(np.linalg.norm(estimate.translation - truth.translation))


def rotation_error_deg(estimate: Transform, truth: Transform) -> float:
    """Angle of the rotation taking one orientation to the other, degrees in [0, 180]."""
    return float(np.degrees((estimate.rotation.inv() * truth.rotation).magnitude()))


def pose_mahalanobis(
    T_a: Transform, covariance_a: ArrayLike, T_b: Transform, covariance_b: ArrayLike
) -> float:
    """Mahalanobis distance between two estimates of one pose under the sum of their ROS
    covariances (position difference, then rotation difference in the fixed frame)."""
    difference = np.concatenate(
        [T_a.translation - T_b.translation, (T_a.rotation * T_b.rotation.inv()).as_rotvec()]
    )
    information = np.linalg.pinv(np.asarray(covariance_a) + np.asarray(covariance_b))
    return float(np.sqrt(max(difference @ information @ difference, 0.0)))


def pose_errors(
    estimates: Sequence[Transform], truths: Sequence[Transform]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-pose (translation m, rotation deg) errors of two equally long pose lists."""
    if len(estimates) != len(truths):
        raise GeometryError(f"{len(estimates)} estimates against {len(truths)} ground-truth poses")
    t = np.array([translation_error_m(e, g) for e, g in zip(estimates, truths, strict=True)])
    r = np.array([rotation_error_deg(e, g) for e, g in zip(estimates, truths, strict=True)])
    return t, r


def interpolate(start: Transform, end: Transform, fraction: float) -> Transform:
    """The pose `fraction` of the way from start to end: slerp rotation, straight-line translation."""
    if not 0.0 <= fraction <= 1.0:
        raise GeometryError(f"interpolation fraction must be in [0, 1], got {fraction}")
    slerp = Slerp([0.0, 1.0], Rotation.concatenate([start.rotation, end.rotation]))
    return Transform(
        slerp(fraction), (1.0 - fraction) * start.translation + fraction * end.translation
    )


def interpolate_trajectory(
    stamps: ArrayLike, poses: Sequence[Transform], query_stamps: ArrayLike
) -> list[Transform]:
    """Poses of a time-stamped trajectory at other times (each must lie inside its time span)."""
    t = np.asarray(stamps, dtype=np.float64)
    q = np.atleast_1d(np.asarray(query_stamps, dtype=np.float64))
    if t.ndim != 1 or len(t) != len(poses) or len(t) < 2:
        raise GeometryError("a trajectory needs at least two poses, one stamp each")
    if np.any(np.diff(t) <= 0):
        raise GeometryError("trajectory stamps must be strictly increasing")
    if q.min() < t[0] or q.max() > t[-1]:
        raise GeometryError(
            f"query times [{q.min():.3f}, {q.max():.3f}] s leave the trajectory's "
            f"[{t[0]:.3f}, {t[-1]:.3f}] s: interpolation would extrapolate"
        )
    slerp = Slerp(t, Rotation.concatenate([p.rotation for p in poses]))
    translations = np.stack([p.translation for p in poses])
    rotations = slerp(q)
    xyz = np.stack([np.interp(q, t, translations[:, axis]) for axis in range(3)], axis=1)
    return [Transform(rotations[i], xyz[i]) for i in range(len(q))]


def mean_rotation(rotations: Rotation, weights: ArrayLike | None = None) -> Rotation:
    """The chordal L2 mean of rotations; insensitive to the q/−q sign of each quaternion."""
    if len(rotations) == 0:
        raise GeometryError("the mean of no rotations is undefined")
    return rotations.mean(weights=weights)


def validate_covariance(covariance: ArrayLike, dim: int, name: str = "covariance") -> NDArray:
    """A dim x dim covariance (flat or square) that is finite, symmetric and positive semi-definite."""
    c = np.asarray(covariance, dtype=np.float64)
    if c.size != dim * dim:
        raise GeometryError(f"{name} must have {dim * dim} entries ({dim}x{dim}), got {c.size}")
    c = c.reshape(dim, dim)
    if not np.all(np.isfinite(c)):
        raise GeometryError(f"{name} has a NaN or infinite entry")
    scale = max(float(np.abs(c).max()), 1e-300)
    if not np.allclose(c, c.T, atol=1e-9 * scale):
        raise GeometryError(f"{name} is not symmetric")
    if float(np.linalg.eigvalsh(c).min()) < -1e-9 * scale:
        raise GeometryError(f"{name} is not positive semi-definite (a negative variance)")
    return c


def skew(v: ArrayLike) -> NDArray[np.float64]:
    x, y, z = np.asarray(v, dtype=np.float64)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def pose_covariance_from_samples(
    positions: ArrayLike,
    rotations: Rotation,
    floor_position_m: float = 0.0,
    floor_rotation_rad: float = 0.0,
) -> tuple[NDArray[np.float64], Rotation, NDArray[np.float64]]:
    """(mean position, mean rotation, 6x6 covariance) of pose samples, in the ROS PoseWithCovariance
    convention: x, y, z, then rotations about the fixed X, Y, Z axes (R_i = exp(δθ_i) R_mean).
    Floors (standard deviations) keep the covariance honest when the samples agree too well."""
    p = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if len(p) != len(rotations) or len(p) == 0:
        raise GeometryError(f"{len(p)} positions against {len(rotations)} rotations")
    mean_p = p.mean(axis=0)
    mean_r = mean_rotation(rotations)
    deviations = np.hstack([p - mean_p, (rotations * mean_r.inv()).as_rotvec()])
    covariance = deviations.T @ deviations / max(len(p) - 1, 1)
    covariance += np.diag([floor_position_m**2] * 3 + [floor_rotation_rad**2] * 3)
    return mean_p, mean_r, covariance


def propagate_pose_covariance(
    covariance: ArrayLike, T_map_a: Transform, T_a_b: Transform
) -> tuple[Transform, NDArray[np.float64]]:
    """The pose of frame b (rigidly attached to a) and its covariance, from a's pose covariance
    (ROS convention, perturbations in the map frame): δp_b = δp_a − [R_map_a t_a_b]× δθ."""
    cov = validate_covariance(covariance, 6)
    lever = T_map_a.rotation.apply(T_a_b.translation)
    J = np.eye(6)
    J[:3, 3:] = -skew(lever)
    return T_map_a @ T_a_b, J @ cov @ J.T


def left_jacobian_so3(rotvec: ArrayLike) -> NDArray[np.float64]:
    """J_l(φ) with exp(φ + δ) ≈ exp(J_l(φ) δ) exp(φ)."""
    phi = np.asarray(rotvec, dtype=np.float64).reshape(3)
    theta = float(np.linalg.norm(phi))
    Phi = skew(phi)
    if theta < 1e-6:
        return np.eye(3) + 0.5 * Phi + Phi @ Phi / 6.0
    return np.asarray(
        np.eye(3)
        + (1.0 - np.cos(theta)) / theta**2 * Phi
        + (theta - np.sin(theta)) / theta**3 * Phi @ Phi,
        dtype=np.float64,
    )


def tangent_basis(direction: ArrayLike) -> NDArray[np.float64]:
    """3x2 orthonormal basis of the plane orthogonal to a unit vector."""
    d = np.asarray(direction, dtype=np.float64).reshape(3)
    helper = np.eye(3)[int(np.argmin(np.abs(d)))]
    first = np.cross(d, helper)
    first /= np.linalg.norm(first)
    return np.stack([first, np.cross(d, first)], axis=1)
