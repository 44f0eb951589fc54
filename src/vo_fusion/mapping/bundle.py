"""Bundle adjustment of a whole drive: every keyframe pose and map point, on the reprojection
errors and on pose factors (the odometry between neighbouring keyframes, the direction of gravity
per keyframe). Solved by Levenberg-Marquardt on the reduced camera system (the Schur complement
of the points, whose 3x3 blocks invert in one batch), with a sparse direct solve: a drive's
thousands of keyframes and hundreds of thousands of observations converge in tens of iterations,
where a generic iterative solver needed minutes for a few dozen keyframes. Reprojection errors
are Huber-weighted (re-weighted each iteration); the first `fixed_poses` poses are held.

A pose is (R_cam_world, camera centre); a step turns R by exp([δ]×) on the left, so poses
facing any way (a U-turn passes 180°, where rotation vectors wrap) are handled alike. The
projection derivatives are `window_adjustment`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import block_diag, bsr_matrix, csr_matrix, diags, vstack
from scipy.sparse.linalg import spsolve
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.pose_graph import UP
from vo_fusion.window_adjustment import WindowObservations, projection_derivatives

HUBER_PX = 1.5
FIXED_WEIGHT = 1e10  # held poses' parameters: a stiff diagonal, and no gradient
CONVERGED = 1e-6  # a relative cost decrease this small ends the solve


@dataclass(frozen=True)
class PoseFactors:
    """Relative-pose measurements between keyframes i and j (`R_ij`: j's camera frame into i's;
    `t_ij`: j's centre in i's frame) with per-factor standard deviations, and the world's up seen
    from each keyframe's camera (`up_in_camera`, or None) with its standard deviation."""

    i: NDArray[np.int64]
    j: NDArray[np.int64]
    R_ij: Rotation
    t_ij: NDArray[np.float64]
    sigma_rotation_rad: NDArray[np.float64]
    sigma_translation_m: NDArray[np.float64]
    up_in_camera: NDArray[np.float64] | None = None
    sigma_tilt_rad: float = np.radians(1.0)
    # None: the translations are in the map's units. A value: the map's units are exp(s) of the
    # odometry's, s estimated with this prior sigma. A uniform stretch of the map then costs the
    # factors nothing (the prior holds the gauge), so a wheel radius a few % off no longer
    # stretches the map along the drive only; the camera height sets the metric scale after.
    sigma_log_scale: float | None = None

    @classmethod
    def between(
        cls,
        pairs: Sequence[tuple[int, int]],
        relative: Sequence[Transform],
        sigma_rotation_rad: Sequence[float] | NDArray[np.float64],
        sigma_translation_m: Sequence[float] | NDArray[np.float64],
        up_in_camera: NDArray[np.float64] | None = None,
        sigma_tilt_rad: float = np.radians(1.0),
        sigma_log_scale: float | None = None,
    ) -> PoseFactors:
        if not pairs:
            raise VoFusionError("pose factors need at least one pair of keyframes")
        return cls(
            np.array([i for i, _ in pairs], dtype=np.int64),
            np.array([j for _, j in pairs], dtype=np.int64),
            Rotation.concatenate([T.rotation for T in relative]),
            np.array([T.translation for T in relative]),
            np.asarray(sigma_rotation_rad, dtype=np.float64),
            np.asarray(sigma_translation_m, dtype=np.float64),
            up_in_camera,
            sigma_tilt_rad,
            sigma_log_scale,
        )

    def subset(self, first: int, end: int) -> PoseFactors:
        """The factors among keyframes first..end-1, renumbered from 0."""
        keep = (self.i >= first) & (self.j >= first) & (self.i < end) & (self.j < end)
        up = None if self.up_in_camera is None else self.up_in_camera[first:end]
        return PoseFactors(
            self.i[keep] - first,
            self.j[keep] - first,
            self.R_ij[np.flatnonzero(keep)],
            self.t_ij[keep],
            self.sigma_rotation_rad[keep],
            self.sigma_translation_m[keep],
            up,
            self.sigma_tilt_rad,
            self.sigma_log_scale,
        )


@dataclass(frozen=True)
class BundleResult:
    poses: list[Transform]  # T_world_cam
    points: NDArray[np.float64]
    inliers: NDArray[np.bool_]  # observations within `outlier_px` at the end
    rms_before_px: float  # of the observations within `outlier_px` before
    rms_after_px: float  # and after
    iterations: int
    odometry_scale: float = 1.0  # map units per odometry unit, where estimated (sigma_log_scale)


def bundle_adjust(
    K: NDArray[np.float64],
    poses: Sequence[Transform],
    points: NDArray[np.float64],
    observations: WindowObservations,
    factors: PoseFactors | None = None,
    max_iterations: int = 30,
    outlier_px: float = 3.0,
    fixed_poses: int = 1,
) -> BundleResult:
    """Poses (T_world_cam) and points minimising Huber-weighted reprojection errors (pixels of
    the undistorted image with intrinsics K) plus the pose factors, in units of their sigmas."""
    problem = _Problem(K, observations, factors, len(poses), len(points), max(fixed_poses, 1))
    state = (
        Rotation.concatenate([T.rotation.inv() for T in poses]),
        np.array([T.translation for T in poses]),
        np.asarray(points, dtype=np.float64).copy(),
        np.zeros(problem.n_scale),
    )
    initial = np.linalg.norm(problem.reprojection(*state[:3]), axis=1)
    before = _rms(initial[initial <= outlier_px])
    damping, iterations = 1e-4, 0
    cost = problem.cost(*state)
    for iterations in range(1, max_iterations + 1):  # noqa: B007
        d_rotation, d_centre, d_point, d_scale = problem.step(*state, damping)
        candidate = (
            Rotation.from_rotvec(d_rotation) * state[0],
            state[1] + d_centre,
            state[2] + d_point,
            state[3] + d_scale,
        )
        candidate_cost = problem.cost(*candidate)
        if candidate_cost < cost:
            improvement = (cost - candidate_cost) / max(cost, 1e-12)
            state, cost, damping = candidate, candidate_cost, max(damping / 3.0, 1e-9)
            if improvement < CONVERGED:
                break
        else:
            damping *= 10.0
            if damping > 1e6:
                break
    errors = np.linalg.norm(problem.reprojection(*state[:3]), axis=1)
    inliers = errors <= outlier_px
    adjusted = [
        Transform(R_cw.inv(), centre) for R_cw, centre in zip(state[0], state[1], strict=True)
    ]
    scale = float(np.exp(state[3].sum()))
    return BundleResult(
        adjusted, state[2], inliers, before, _rms(errors[inliers]), iterations, scale
    )


def _rms(errors: NDArray[np.float64]) -> float:
    """The root mean square of error norms (n,)."""
    return float(np.sqrt(np.mean(errors**2))) if errors.size else 0.0


class _Problem:
    def __init__(
        self,
        K: NDArray[np.float64],
        observations: WindowObservations,
        factors: PoseFactors | None,
        n_poses: int,
        n_points: int,
        fixed_poses: int,
    ):
        self.K, self.observations, self.factors = K, observations, factors
        self.n_poses, self.n_points, self.fixed_poses = n_poses, n_points, fixed_poses
        self.n_scale = int(factors is not None and factors.sigma_log_scale is not None)
        # the block-sparse layout of one 6x3 block per observation, fixed for the whole solve
        self._camera_major = np.lexsort((observations.point, observations.pose))
        per_camera = np.bincount(observations.pose, minlength=n_poses)
        self._camera_rows = np.concatenate([[0], np.cumsum(per_camera)])
        self._block_points = observations.point[self._camera_major]

    # --- residuals --------------------------------------------------------------------------
    def reprojection(self, R: Rotation, c: NDArray, p: NDArray) -> NDArray[np.float64]:
        obs = self.observations
        camera = R[obs.pose].apply(p[obs.point] - c[obs.pose])
        depth = np.maximum(camera[:, 2:3], 1e-6)
        return np.asarray(camera[:, :2] / depth @ self.K[:2, :2].T + self.K[:2, 2] - obs.pixels)

    def factor_residuals(self, R: Rotation, c: NDArray, s: NDArray) -> NDArray[np.float64]:
        """(F, 6) relative-pose residuals in sigmas, then (N, 3) tilt residuals, then the
        odometry scale's prior, flattened."""
        f = self.factors
        if f is None:
            return np.zeros(0)
        relative = _relative(f, R[f.i], c[f.i], R[f.j], c[f.j], s)
        prior = s / f.sigma_log_scale if self.n_scale else np.zeros(0)
        return np.concatenate([relative.ravel(), _tilt(f, R).ravel(), prior])

    def cost(self, R: Rotation, c: NDArray, p: NDArray, s: NDArray) -> float:
        e = np.linalg.norm(self.reprojection(R, c, p), axis=1)
        huber = np.where(e <= HUBER_PX, 0.5 * e**2, HUBER_PX * (e - 0.5 * HUBER_PX))
        return float(huber.sum() + 0.5 * np.sum(self.factor_residuals(R, c, s) ** 2))

    # --- one damped Gauss-Newton step, points eliminated -------------------------------------
    def step(
        self, R: Rotation, c: NDArray, p: NDArray, s: NDArray, damping: float
    ) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        """(rotation perturbations δ, R ← exp([δ]×) R; centre steps; point steps; the odometry
        log-scale's step, empty when it is not estimated)."""
        J_pose, J_point, residual = self._reprojection_blocks(R, c, p)
        obs, n, columns = self.observations, self.n_poses, 6 * self.n_poses + self.n_scale
        F_pose, f_residual = self._factor_system(R, c, s)
        # Every sum over observations is taken per block (a camera's 6x6, a point's 3x3, an
        # observation's 6x3); the one product that couples cameras through shared points,
        # Σ_p W_ip V_p⁻¹ W_jpᵀ, is a single sparse product.
        camera_blocks = _sum_by(obs.pose, np.einsum("mki,mkj->mij", J_pose, J_pose), n)
        g_c = np.zeros(columns)
        g_c[: 6 * n] = _sum_by(obs.pose, np.einsum("mki,mk->mi", J_pose, residual), n).ravel()
        g_c += F_pose.T @ f_residual
        V = _sum_by(obs.point, np.einsum("mki,mkj->mij", J_point, J_point), self.n_points)
        g_p = _sum_by(obs.point, np.einsum("mki,mk->mi", J_point, residual), self.n_points)
        V += damping * np.einsum("nii->ni", V)[:, :, None] * np.eye(3) + 1e-9 * np.eye(3)
        V_inv = np.asarray(np.linalg.inv(V), dtype=np.float64)
        W = np.einsum("mki,mkj->mij", J_pose, J_point)
        W_sparse = self._by_camera_and_point(W)
        Y_sparse = self._by_camera_and_point(W @ V_inv[obs.point])
        cameras = np.arange(n)
        H_cc = _sparse(
            6 * cameras[:, None] + np.arange(6), 6 * cameras, camera_blocks, (columns, columns)
        )
        H_cc = (H_cc + F_pose.T @ F_pose).tocsr()
        held = np.zeros(columns)
        held[: 6 * self.fixed_poses] = FIXED_WEIGHT
        g_c[: 6 * self.fixed_poses] = 0.0
        H_cc = H_cc + diags(damping * H_cc.diagonal() + held + 1e-9)
        coupling = block_diag([Y_sparse @ W_sparse.T, csr_matrix((self.n_scale, self.n_scale))])
        reduced = (H_cc - coupling).tocsc()
        rhs = -g_c
        rhs[: 6 * n] += Y_sparse @ g_p.ravel()
        d_pose = np.asarray(spsolve(reduced, rhs))
        back = (W_sparse.T @ d_pose[: 6 * n]).reshape(-1, 3)
        d_point = -np.einsum("nij,nj->ni", V_inv, g_p + back)
        d_scale = d_pose[6 * n :]
        d_pose = d_pose[: 6 * n].reshape(-1, 6)
        return d_pose[:, :3], d_pose[:, 3:], d_point, d_scale

    def _by_camera_and_point(self, blocks: NDArray[np.float64]) -> bsr_matrix:
        """(6 n_poses, 3 n_points) block-sparse matrix of one 6x3 block per observation (no two
        observations share a camera and a point); block products are several times faster than
        the same product in CSR."""
        return bsr_matrix(
            (blocks[self._camera_major], self._block_points, self._camera_rows),
            shape=(6 * self.n_poses, 3 * self.n_points),
        )

    def _reprojection_blocks(
        self, R: Rotation, c: NDArray, p: NDArray
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Per observation: the Huber-weighted Jacobians by its pose (2x6) and its point (2x3),
        and its weighted residual (2)."""
        obs = self.observations
        errors = self.reprojection(R, c, p)
        norm = np.linalg.norm(errors, axis=1)
        weight = np.sqrt(np.where(norm <= HUBER_PX, 1.0, HUBER_PX / np.maximum(norm, 1e-12)))
        d_rotation, d_point = projection_derivatives(
            self.K, R.as_matrix(), c, p, obs.pose, obs.point
        )
        d_pose = np.concatenate([d_rotation, -d_point], axis=2) * weight[:, None, None]
        return d_pose, d_point * weight[:, None, None], errors * weight[:, None]

    def _factor_system(
        self, R: Rotation, c: NDArray, s: NDArray
    ) -> tuple[csr_matrix, NDArray[np.float64]]:
        """Numeric (central-difference) Jacobian of the pose factors: each depends on one or two
        poses, so 12 batched evaluations give the relative factors' and 3 the tilts'; the
        odometry scale, where estimated, is the last column."""
        columns = 6 * self.n_poses + self.n_scale
        f = self.factors
        if f is None:
            return csr_matrix((0, columns)), np.zeros(0)
        residual = self.factor_residuals(R, c, s)
        Ri, ci, Rj, cj = R[f.i], c[f.i], R[f.j], c[f.j]
        rows = 6 * np.arange(len(f.i))[:, None] + np.arange(6)[None, :]
        J = csr_matrix((6 * len(f.i), columns))
        for side, pose_of in ((0, f.i), (1, f.j)):
            block = np.zeros((len(f.i), 6, 6))
            for k in range(6):
                delta = np.zeros(6)
                delta[k] = EPSILON
                plus = _relative(f, *_perturbed(Ri, ci, Rj, cj, side, delta), s)
                minus = _relative(f, *_perturbed(Ri, ci, Rj, cj, side, -delta), s)
                block[:, :, k] = (plus - minus) / (2 * EPSILON)
            J = J + _sparse(rows, 6 * pose_of, block, (6 * len(f.i), columns))
        blocks = [J, self._tilt_jacobian(R, columns)]
        if self.n_scale:
            blocks[0] = blocks[0] + self._scale_column(Ri, ci, cj, s, columns)
            prior = np.zeros((1, columns))
            prior[0, -1] = 1.0 / f.sigma_log_scale  # type: ignore[operator]
            blocks.append(csr_matrix(prior))
        return vstack(blocks).tocsr(), residual

    def _tilt_jacobian(self, R: Rotation, columns: int) -> csr_matrix:
        f = self.factors
        if f is None or f.up_in_camera is None:
            return csr_matrix((0, columns))
        tilt_block = np.zeros((self.n_poses, 3, 6))
        for k in range(3):
            turn = Rotation.from_rotvec(np.eye(3)[k] * EPSILON)
            tilt_block[:, :, k] = (_tilt(f, turn * R) - _tilt(f, turn.inv() * R)) / (2 * EPSILON)
        poses = np.arange(self.n_poses)
        rows_tilt = 3 * poses[:, None] + np.arange(3)[None, :]
        return _sparse(rows_tilt, 6 * poses, tilt_block, (3 * self.n_poses, columns))

    def _scale_column(
        self, Ri: Rotation, ci: NDArray, cj: NDArray, s: NDArray, columns: int
    ) -> csr_matrix:
        """The relative factors' derivatives by the odometry log-scale, exact: the translation
        residual is (exp(-s) R_i (c_j - c_i) - t_ij) / sigma."""
        f = self.factors
        assert f is not None
        derivative = np.zeros((len(f.i), 6))
        in_map = Ri.apply(cj - ci)
        derivative[:, 3:] = -np.exp(-s.sum()) * in_map / f.sigma_translation_m[:, None]
        rows = np.arange(6 * len(f.i))
        return csr_matrix(
            (derivative.ravel(), (rows, np.full(len(rows), columns - 1))),
            shape=(len(rows), columns),
        )


EPSILON = 1e-6


def _relative(
    f: PoseFactors, Ri: Rotation, ci: NDArray, Rj: Rotation, cj: NDArray, s: NDArray
) -> NDArray:
    """(F, 6) residuals of the relative factors, in sigmas. Poses as R_cw and centres; `s` the
    odometry's log-scale (empty: metric)."""
    rotation = (f.R_ij.inv() * Ri * Rj.inv()).as_rotvec() / f.sigma_rotation_rad[:, None]
    in_odometry_units = Ri.apply(cj - ci) * float(np.exp(-s.sum()))
    translation = (in_odometry_units - f.t_ij) / f.sigma_translation_m[:, None]
    return np.concatenate([rotation, translation], axis=1)


def _perturbed(
    Ri: Rotation, ci: NDArray, Rj: Rotation, cj: NDArray, side: int, delta: NDArray
) -> tuple[Rotation, NDArray, Rotation, NDArray]:
    turn = Rotation.from_rotvec(delta[:3])
    if side == 0:
        return turn * Ri, ci + delta[3:], Rj, cj
    return Ri, ci, turn * Rj, cj + delta[3:]


def _tilt(f: PoseFactors, R: Rotation) -> NDArray[np.float64]:
    if f.up_in_camera is None:
        return np.zeros((0, 3))
    return (R.apply(UP) - f.up_in_camera) / f.sigma_tilt_rad


def _sparse(
    rows: NDArray[np.int64],
    first_column: NDArray[np.int64],
    blocks: NDArray,
    shape: tuple[int, int],
) -> csr_matrix:
    """A sparse matrix from dense (n, a, b) blocks: block k's rows `rows[k]`, columns
    first_column[k] .. + b."""
    n, a, b = blocks.shape
    row_index = np.broadcast_to(rows[:, :, None], (n, a, b))
    column_index = np.broadcast_to(first_column[:, None, None] + np.arange(b), (n, a, b))
    return csr_matrix((blocks.ravel(), (row_index.ravel(), column_index.ravel())), shape=shape)


def _sum_by(index: NDArray[np.int64], blocks: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """(n, ...) the sums of `blocks` (m, ...) grouped by `index` (m,)."""
    flat = blocks.reshape(len(blocks), -1)
    sums = np.stack(
        [np.bincount(index, weights=flat[:, k], minlength=n) for k in range(flat.shape[1])],
        axis=1,
    )
    return sums.reshape((n, *blocks.shape[1:]))
