"""Bundle adjustment of a whole drive: every keyframe pose and map point, on the reprojection
errors and on pose factors (the odometry between neighbouring keyframes, the direction of gravity
per keyframe, and on a level site each keyframe's height). Solved by Levenberg-Marquardt on the
reduced camera system (the Schur complement of the points, whose 3x3 blocks invert in one batch),
with a sparse direct solve: a drive's thousands of keyframes and hundreds of thousands of
observations converge in tens of iterations, where a generic iterative solver needed minutes for
a few dozen keyframes. Reprojection errors are Huber-weighted (re-weighted each iteration); the
first `fixed_poses` poses are held (a single one, where gravity priors level every pose, in its
centre and yaw only).

A pose is (R_cam_world, camera centre); a step turns R by exp([δ]×) on the left, so poses
facing any way (a U-turn passes 180°, where rotation vectors wrap) are handled alike. The
projection derivatives are `window_adjustment`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import bsr_matrix, csc_matrix, csr_matrix, diags, tril, vstack
from scipy.sparse.linalg import splu
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.pose_graph import DEFAULT_SIGMA_TILT_RAD, UP
from vo_fusion.window_adjustment import WindowObservations, projection_derivatives

try:
    from cholespy import CholeskySolverD, MatrixType
except ImportError:  # the `mapping` extra is not installed: SuperLU solves the same systems
    CholeskySolverD = None

HUBER_PX = 1.5
FIXED_WEIGHT = 1e10  # held poses' parameters: a stiff diagonal, and no gradient
CONVERGED = 1e-5  # a relative cost decrease this small ends the solve


@dataclass(frozen=True)
class OdometryErrors:
    """The systematic errors of a wheel odometry that the bundle estimates with the map, each
    with its prior standard deviation (None: taken as absent). With white sigmas alone, a bias
    that repeats on every step pulls the map along: 0.2°/m of heading creep is 10° after 50 m,
    where white steps would have averaged down.
    - `log_scale`: every distance reads exp(s) of the map's (a wheel radius off). A uniform
      stretch of the map then costs the factors nothing, so its prior holds the gauge and the
      camera height sets the metric scale after.
    - `yaw_per_m` (rad/m): the heading creeps this much per metre driven (unequal wheel radii).
    - `turn_scale`: turns read (1 + κ) of the true ones (a wheelbase off; skid steering)."""

    log_scale: float | None = None
    yaw_per_m: float | None = None
    turn_scale: float | None = None

    def _all(self) -> tuple[float | None, float | None, float | None]:
        return self.log_scale, self.yaw_per_m, self.turn_scale

    def sigmas(self) -> NDArray[np.float64]:
        """The estimated ones' prior sigmas, in the order above."""
        return np.array([s for s in self._all() if s is not None], dtype=np.float64)

    def estimated(self) -> NDArray[np.int64]:
        """Which of (log scale, yaw per metre, turn scale) are estimated."""
        return np.array([k for k, s in enumerate(self._all()) if s is not None], dtype=np.int64)


@dataclass(frozen=True)
class OdometryCalibration:
    """What the bundle found the odometry off by (1, 0, 1 where not estimated)."""

    scale: float = 1.0  # map units per odometry unit
    yaw_drift_deg_per_m: float = 0.0
    turn_scale: float = 1.0

    @classmethod
    def from_parameters(cls, full: NDArray[np.float64]) -> OdometryCalibration:
        return cls(float(np.exp(full[0])), float(np.degrees(full[1])), float(1.0 + full[2]))


@dataclass(frozen=True)
class PoseFactors:
    """Relative-pose measurements between keyframes i and j (`R_ij`: j's camera frame into i's;
    `t_ij`: j's centre in i's frame) with per-factor standard deviations, and the world's up seen
    from each keyframe's camera (`up_in_camera`, or None) with its standard deviation. With
    `sigma_yaw_rad`, a factor's turn about the up axis has that deviation and its tilt
    `sigma_rotation_rad` (wheel odometry measures the one and not the other)."""

    i: NDArray[np.int64]
    j: NDArray[np.int64]
    R_ij: Rotation
    t_ij: NDArray[np.float64]
    sigma_rotation_rad: NDArray[np.float64]
    sigma_translation_m: NDArray[np.float64]
    up_in_camera: NDArray[np.float64] | None = None
    sigma_tilt_rad: float | NDArray[np.float64] = DEFAULT_SIGMA_TILT_RAD  # or one per keyframe
    systematic: OdometryErrors = OdometryErrors()  # none: the steps are metric and unbiased
    sigma_yaw_rad: NDArray[np.float64] | None = None  # None: sigma_rotation_rad about every axis
    # A level site: every camera's height along UP within this of the held poses' (None: the
    # ground may climb; only the odometry's steps and the images say how much)
    sigma_level_m: float | None = None

    def __post_init__(self) -> None:
        turning = self.systematic.yaw_per_m, self.systematic.turn_scale, self.sigma_yaw_rad
        if any(s is not None for s in turning) and self.up_in_camera is None:
            raise VoFusionError("the odometry's heading errors are about the up axis: give it")
        if self.sigma_level_m is not None and not self.sigma_level_m > 0.0:
            raise VoFusionError(
                f"the level ground's sigma is {self.sigma_level_m} m: a standard deviation, "
                "must be > 0"
            )

    @property
    def length(self) -> NDArray[np.float64]:
        """Each factor's driven distance, in the odometry's units."""
        return np.asarray(np.linalg.norm(self.t_ij, axis=1), dtype=np.float64)

    def up_at_j(self) -> NDArray[np.float64]:
        assert self.up_in_camera is not None
        return np.asarray(self.up_in_camera[self.j], dtype=np.float64)

    def turn(self) -> NDArray[np.float64]:
        """Each factor's measured turn (rad) about the up axis."""
        if self.up_in_camera is None:
            return np.zeros(len(self.i))
        return np.asarray(np.einsum("ni,ni->n", self.R_ij.as_rotvec(), self.up_at_j()))

    @classmethod
    def between(
        cls,
        pairs: Sequence[tuple[int, int]],
        relative: Sequence[Transform],
        sigma_rotation_rad: Sequence[float] | NDArray[np.float64],
        sigma_translation_m: Sequence[float] | NDArray[np.float64],
        up_in_camera: NDArray[np.float64] | None = None,
        sigma_tilt_rad: float | NDArray[np.float64] = DEFAULT_SIGMA_TILT_RAD,
        systematic: OdometryErrors = OdometryErrors(),
        sigma_yaw_rad: Sequence[float] | NDArray[np.float64] | None = None,
        sigma_level_m: float | None = None,
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
            systematic,
            None if sigma_yaw_rad is None else np.asarray(sigma_yaw_rad, dtype=np.float64),
            sigma_level_m,
        )

    def subset(self, first: int, end: int) -> PoseFactors:
        """The factors among keyframes first..end-1, renumbered from 0."""
        keep = (self.i >= first) & (self.j >= first) & (self.i < end) & (self.j < end)
        up = None if self.up_in_camera is None else self.up_in_camera[first:end]
        sigma_tilt = self.sigma_tilt_rad
        if np.ndim(sigma_tilt):
            sigma_tilt = np.asarray(sigma_tilt)[first:end]
        return PoseFactors(
            self.i[keep] - first,
            self.j[keep] - first,
            self.R_ij[np.flatnonzero(keep)],
            self.t_ij[keep],
            self.sigma_rotation_rad[keep],
            self.sigma_translation_m[keep],
            up,
            sigma_tilt,
            self.systematic,
            None if self.sigma_yaw_rad is None else self.sigma_yaw_rad[keep],
            self.sigma_level_m,
        )

    def rotation_in_sigmas(self, error: NDArray[np.float64]) -> NDArray[np.float64]:
        """(F, 3) rotation errors (rotation vectors in j's camera frame) in units of sigma."""
        if self.sigma_yaw_rad is None:
            return error / self.sigma_rotation_rad[:, None]
        up = self.up_at_j()
        yaw = np.einsum("ni,ni->n", error, up)
        tilt = error - yaw[:, None] * up
        return np.asarray(
            tilt / self.sigma_rotation_rad[:, None] + (yaw / self.sigma_yaw_rad)[:, None] * up
        )


@dataclass(frozen=True)
class BundleResult:
    poses: list[Transform]  # T_world_cam
    points: NDArray[np.float64]
    inliers: NDArray[np.bool_]  # observations within `outlier_px` at the end
    rms_before_px: float  # of the observations within `outlier_px` before
    rms_after_px: float  # and after
    iterations: int
    odometry: OdometryCalibration = OdometryCalibration()  # where estimated (`systematic`)


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
    fixed_poses = max(fixed_poses, 1)
    held_height = float(np.mean([T.translation @ UP for T in poses[:fixed_poses]]))
    problem = _Problem(K, observations, factors, len(poses), len(points), fixed_poses, held_height)
    state = (
        Rotation.concatenate([T.rotation.inv() for T in poses]),
        np.array([T.translation for T in poses]),
        np.asarray(points, dtype=np.float64).copy(),
        np.zeros(problem.n_calibration),
    )
    initial = np.linalg.norm(problem.reprojection(*state[:3]), axis=1)
    before = _rms(initial[initial <= outlier_px])
    damping, iterations = 1e-4, 0
    cost = problem.cost(*state)
    for iterations in range(1, max_iterations + 1):  # noqa: B007
        d_rotation, d_centre, d_point, d_calibration = problem.step(*state, damping)
        candidate = (
            Rotation.from_rotvec(d_rotation) * state[0],
            state[1] + d_centre,
            state[2] + d_point,
            state[3] + d_calibration,
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
    odometry = OdometryCalibration.from_parameters(problem.full_calibration(state[3]))
    return BundleResult(
        adjusted, state[2], inliers, before, _rms(errors[inliers]), iterations, odometry
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
        held_height: float = 0.0,
    ):
        self.K, self.observations, self.factors = K, observations, factors
        self.held_height = held_height  # the held poses' mean height: a level site's
        self.n_poses, self.n_points, self.fixed_poses = n_poses, n_points, fixed_poses
        # Gravity priors fix roll and pitch of every pose, so a single held pose needs only its
        # centre and yaw held; holding its tilt too forced the whole drive onto that one
        # keyframe's tilt (on hilly real roads, the first keyframes came out 2-3° off).
        self._level_gauge = (
            fixed_poses == 1 and factors is not None and factors.up_in_camera is not None
        )
        self._estimated = np.zeros(0, dtype=np.int64)
        if factors is not None:
            self._estimated = factors.systematic.estimated()
            self._length, self._turn = factors.length, factors.turn()
        self.n_calibration = len(self._estimated)
        # the block-sparse layout of one 6x3 block per observation, fixed for the whole solve
        self._camera_major = np.lexsort((observations.point, observations.pose))
        per_camera = np.bincount(observations.pose, minlength=n_poses)
        self._camera_rows = np.concatenate([[0], np.cumsum(per_camera)])
        self._block_points = observations.point[self._camera_major]
        self._point_major = np.lexsort((observations.pose, observations.point))
        per_point = np.bincount(observations.point, minlength=n_points)
        self._point_rows = np.concatenate([[0], np.cumsum(per_point)])
        self._block_cameras = observations.pose[self._point_major]

    # --- residuals --------------------------------------------------------------------------
    def reprojection(self, R: Rotation, c: NDArray, p: NDArray) -> NDArray[np.float64]:
        obs = self.observations
        camera = R[obs.pose].apply(p[obs.point] - c[obs.pose])
        depth = np.maximum(camera[:, 2:3], 1e-6)
        return np.asarray(camera[:, :2] / depth @ self.K[:2, :2].T + self.K[:2, 2] - obs.pixels)

    def full_calibration(self, x: NDArray) -> NDArray[np.float64]:
        """(log scale, yaw per metre, turn scale - 1): the estimated ones from `x`, others 0."""
        full = np.zeros(3)
        full[self._estimated] = x
        return full

    def relative(
        self, Ri: Rotation, ci: NDArray, Rj: Rotation, cj: NDArray, x: NDArray
    ) -> NDArray[np.float64]:
        """(F, 6) residuals of the relative factors, in sigmas (poses as R_cw and centres), the
        odometry's steps corrected by its systematic errors `x`."""
        f = self.factors
        assert f is not None
        log_scale, yaw_per_m, turn_error = self.full_calibration(x)
        R_ij = f.R_ij
        if yaw_per_m or turn_error:
            true_turn = (self._turn - yaw_per_m * self._length) / (1.0 + turn_error)
            correction = (true_turn - self._turn)[:, None] * f.up_at_j()
            R_ij = R_ij * Rotation.from_rotvec(correction)
        rotation = f.rotation_in_sigmas((R_ij.inv() * Ri * Rj.inv()).as_rotvec())
        in_odometry_units = Ri.apply(cj - ci) * float(np.exp(-log_scale))
        translation = (in_odometry_units - f.t_ij) / f.sigma_translation_m[:, None]
        return np.concatenate([rotation, translation], axis=1)

    def factor_residuals(self, R: Rotation, c: NDArray, x: NDArray) -> NDArray[np.float64]:
        """(F, 6) relative-pose residuals in sigmas, then (N, 3) tilt residuals, (N,) heights
        off the level ground where it is assumed, then the priors of the odometry's systematic
        errors, flattened."""
        f = self.factors
        if f is None:
            return np.zeros(0)
        relative = self.relative(R[f.i], c[f.i], R[f.j], c[f.j], x)
        prior = x / f.systematic.sigmas()
        return np.concatenate([relative.ravel(), _tilt(f, R).ravel(), self._level(c), prior])

    def _level(self, c: NDArray) -> NDArray[np.float64]:
        f = self.factors
        if f is None or f.sigma_level_m is None:
            return np.zeros(0)
        return np.asarray((c @ UP - self.held_height) / f.sigma_level_m)

    def cost(self, R: Rotation, c: NDArray, p: NDArray, s: NDArray) -> float:
        e = np.linalg.norm(self.reprojection(R, c, p), axis=1)
        huber = np.where(e <= HUBER_PX, 0.5 * e**2, HUBER_PX * (e - 0.5 * HUBER_PX))
        return float(huber.sum() + 0.5 * np.sum(self.factor_residuals(R, c, s) ** 2))

    # --- one damped Gauss-Newton step, points eliminated -------------------------------------
    def step(
        self, R: Rotation, c: NDArray, p: NDArray, s: NDArray, damping: float
    ) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        """(rotation perturbations δ, R ← exp([δ]×) R; centre steps; point steps; the steps of
        the odometry's estimated systematic errors)."""
        J_pose, J_point, residual = self._reprojection_blocks(R, c, p)
        obs, n, columns = self.observations, self.n_poses, 6 * self.n_poses + self.n_calibration
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
        W_transposed = self._by_point_and_camera(W)
        Y_sparse = self._by_camera_and_point(W @ V_inv[obs.point])
        cameras = np.arange(n)
        H_cc = _sparse(
            6 * cameras[:, None] + np.arange(6), 6 * cameras, camera_blocks, (columns, columns)
        )
        H_cc = (H_cc + F_pose.T @ F_pose).tocsr()
        H_cc, held = self._hold(H_cc, g_c, R)
        H_cc = H_cc + diags(damping * H_cc.diagonal() + held + 1e-9)
        coupling = (Y_sparse @ W_transposed).tocsr()
        coupling.resize((columns, columns))  # the calibration's columns: no point couples them
        reduced = (H_cc - coupling).tocsc()
        rhs = -g_c
        rhs[: 6 * n] += Y_sparse @ g_p.ravel()
        d_pose = _solve_symmetric(reduced, rhs)
        back = (W_transposed @ d_pose[: 6 * n]).reshape(-1, 3)
        d_point = -np.einsum("nij,nj->ni", V_inv, g_p + back)
        d_calibration = d_pose[6 * n :]
        d_pose = d_pose[: 6 * n].reshape(-1, 6)
        return d_pose[:, :3], d_pose[:, 3:], d_point, d_calibration

    def _hold(self, H_cc: csr_matrix, g_c: NDArray, R: Rotation) -> tuple[csr_matrix, NDArray]:
        """The held poses: a stiff diagonal (returned, to be added) and no gradient (`g_c` is
        changed in place); with a level gauge, the first pose's yaw and centre only."""
        columns = H_cc.shape[0]
        held = np.zeros(columns)
        held[: 6 * self.fixed_poses] = FIXED_WEIGHT
        first_turn = g_c[:3].copy()
        g_c[: 6 * self.fixed_poses] = 0.0
        if self._level_gauge:
            # only the first pose's yaw (about the up it has now) is held, with its centre
            up = R[0].apply(UP)
            held[:3] = 0.0
            g_c[:3] = first_turn - up * (up @ first_turn)
            H_cc = H_cc + _sparse(
                np.arange(3)[None],
                np.zeros(1, dtype=np.int64),
                FIXED_WEIGHT * np.outer(up, up)[None],
                (columns, columns),
            )
        return H_cc, held

    def _by_camera_and_point(self, blocks: NDArray[np.float64]) -> bsr_matrix:
        """(6 n_poses, 3 n_points) block-sparse matrix of one 6x3 block per observation (no two
        observations share a camera and a point); block products are several times faster than
        the same product in CSR."""
        return bsr_matrix(
            (blocks[self._camera_major], self._block_points, self._camera_rows),
            shape=(6 * self.n_poses, 3 * self.n_points),
        )

    def _by_point_and_camera(self, blocks: NDArray[np.float64]) -> bsr_matrix:
        """The transpose of `_by_camera_and_point(blocks)`, built point-major (transposing the
        block matrix itself cost as much as building it)."""
        return bsr_matrix(
            (
                np.transpose(blocks[self._point_major], (0, 2, 1)),
                self._block_cameras,
                self._point_rows,
            ),
            shape=(3 * self.n_points, 6 * self.n_poses),
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
        self, R: Rotation, c: NDArray, x: NDArray
    ) -> tuple[csr_matrix, NDArray[np.float64]]:
        """Numeric (central-difference) Jacobian of the pose factors: each depends on one or two
        poses, so 12 batched evaluations give the relative factors' and 3 the tilts'; the
        odometry's estimated systematic errors are the last columns."""
        columns = 6 * self.n_poses + self.n_calibration
        f = self.factors
        if f is None:
            return csr_matrix((0, columns)), np.zeros(0)
        residual = self.factor_residuals(R, c, x)
        Ri, ci, Rj, cj = R[f.i], c[f.i], R[f.j], c[f.j]
        rows = 6 * np.arange(len(f.i))[:, None] + np.arange(6)[None, :]
        J = csr_matrix((6 * len(f.i), columns))
        for side, pose_of in ((0, f.i), (1, f.j)):
            block = np.zeros((len(f.i), 6, 6))
            for k in range(6):
                delta = np.zeros(6)
                delta[k] = EPSILON
                plus = self.relative(*_perturbed(Ri, ci, Rj, cj, side, delta), x)
                minus = self.relative(*_perturbed(Ri, ci, Rj, cj, side, -delta), x)
                block[:, :, k] = (plus - minus) / (2 * EPSILON)
            J = J + _sparse(rows, 6 * pose_of, block, (6 * len(f.i), columns))
        blocks = [J, self._tilt_jacobian(R, columns), self._level_jacobian(columns)]
        if self.n_calibration:
            blocks[0] = blocks[0] + self._calibration_columns(Ri, ci, Rj, cj, x, columns)
            prior = np.zeros((self.n_calibration, columns))
            prior[:, 6 * self.n_poses :] = np.diag(1.0 / f.systematic.sigmas())
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

    def _level_jacobian(self, columns: int) -> csr_matrix:
        f = self.factors
        if f is None or f.sigma_level_m is None:
            return csr_matrix((0, columns))
        poses = np.arange(self.n_poses)
        block = np.broadcast_to(UP / f.sigma_level_m, (self.n_poses, 1, 3))
        return _sparse(poses[:, None], 6 * poses + 3, block, (self.n_poses, columns))

    def _calibration_columns(
        self, Ri: Rotation, ci: NDArray, Rj: Rotation, cj: NDArray, x: NDArray, columns: int
    ) -> csr_matrix:
        """The relative factors' derivatives by the odometry's systematic errors (central
        differences; every factor depends on all of them)."""
        derivative = np.zeros((6 * len(ci), self.n_calibration))
        for k in range(self.n_calibration):
            delta = np.zeros(self.n_calibration)
            delta[k] = EPSILON
            plus = self.relative(Ri, ci, Rj, cj, x + delta)
            minus = self.relative(Ri, ci, Rj, cj, x - delta)
            derivative[:, k] = ((plus - minus) / (2 * EPSILON)).ravel()
        rows = np.repeat(np.arange(len(derivative)), self.n_calibration)
        first = 6 * self.n_poses
        cols = np.tile(np.arange(first, first + self.n_calibration), len(derivative))
        return csr_matrix((derivative.ravel(), (rows, cols)), shape=(len(derivative), columns))


EPSILON = 1e-6


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
    return (R.apply(UP) - f.up_in_camera) / np.reshape(f.sigma_tilt_rad, (-1, 1))


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


def _solve_symmetric(A: csc_matrix, b: NDArray[np.float64]) -> NDArray[np.float64]:
    """A x = b for the symmetric positive definite reduced camera system: a Cholesky
    factorization by CHOLMOD (cholespy, the `mapping` extra) with a nested-dissection ordering,
    or where it is not installed SuperLU with a symmetric fill-reducing ordering (minimum degree
    on A + Aᵀ) and diagonal pivots. On the demo city's whole survey (22,581 columns, 18 million
    non-zeros: long tracks couple each keyframe with a hundred others) CHOLMOD took 4.3 s where
    SuperLU took 7.0 s; SuperLU's default column ordering filled 2.5 times as much again."""
    if CholeskySolverD is not None:
        lower = tril(A, format="csc")
        try:
            solver = CholeskySolverD(
                A.shape[0],
                lower.indptr.astype(np.int32),
                lower.indices.astype(np.int32),
                lower.data.astype(np.float64),
                MatrixType.CSC,
            )
        except ValueError:
            pass  # not positive definite to CHOLMOD's eye: SuperLU's pivots may still serve
        else:
            x = np.zeros(len(b))
            solver.solve(np.ascontiguousarray(b, dtype=np.float64), x)
            return x
    factor = splu(
        A,
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    return np.asarray(factor.solve(b), dtype=np.float64)


def _sum_by(index: NDArray[np.int64], blocks: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """(n, ...) the sums of `blocks` (m, ...) grouped by `index` (m,)."""
    flat = blocks.reshape(len(blocks), -1)
    sums = np.stack(
        [np.bincount(index, weights=flat[:, k], minlength=n) for k in range(flat.shape[1])],
        axis=1,
    )
    return sums.reshape((n, *blocks.shape[1:]))
