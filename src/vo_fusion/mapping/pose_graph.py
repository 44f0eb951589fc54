"""Keyframe poses from relative constraints: the odometry's and the images' between neighbours,
the images' across loop closures, an anchor for the first pose and, per pose, the direction of
gravity. A pose is (rotation vector of R_world_cam, camera centre); residuals are in units of
their standard deviations, solved by scipy's sparse trust-region least squares with a soft-L1
loss, so that a wrong loop closure that slipped through verification pulls little. Rotations
are solved as perturbations of the initial ones, exp([δ]×) R₀ (no wrap at 180°)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError

UP = np.array([0.0, 0.0, 1.0])  # gravity-aligned map frames (REP-103): z up
DEFAULT_SIGMA_TILT_RAD = float(np.radians(1.0))


@dataclass(frozen=True)
class Edge:
    """What keyframe j is seen as from keyframe i: `R_ij` (j's frame into i's) and the metric
    position of j in i's frame (`t_ij`)."""

    i: int
    j: int
    R_ij: Rotation
    sigma_rotation_rad: float
    t_ij: NDArray[np.float64]
    sigma_translation_m: float


@dataclass
class PoseGraph:
    """Edges between keyframes, plus gravity: `up_in_camera[i]`, the world's up (+z) seen from
    keyframe i's camera as a gravity source (odometry on level ground, an IMU) says it is."""

    edges: list[Edge] = field(default_factory=list)
    up_in_camera: NDArray[np.float64] | None = None
    sigma_tilt_rad: float | NDArray[np.float64] = DEFAULT_SIGMA_TILT_RAD  # or one per keyframe

    def add(self, edge: Edge) -> None:
        if edge.i == edge.j:
            raise VoFusionError(f"a pose-graph edge joins keyframe {edge.i} to itself")
        self.edges.append(edge)

    def solve(self, initial: Sequence[Transform], max_evaluations: int = 60) -> list[Transform]:
        """Poses T_world_cam minimising the graph's residuals, the first kept where it is."""
        if not self.edges:
            return list(initial)
        problem = _Problem.of(self, initial)
        result = least_squares(
            problem.residuals,
            problem.x0,
            jac_sparsity=problem.sparsity(),
            method="trf",
            loss="soft_l1",
            f_scale=3.0,
            x_scale="jac",
            max_nfev=max_evaluations,
        )
        poses = result.x.reshape(-1, 6)
        rotations = Rotation.from_rotvec(poses[:, :3]) * problem.R0
        return [Transform(R, p[3:].copy()) for R, p in zip(rotations, poses, strict=True)]


@dataclass(frozen=True)
class _Problem:
    x0: NDArray[np.float64]
    R0: Rotation
    i: NDArray[np.int64]
    j: NDArray[np.int64]
    R_ij_inv: Rotation
    sigma_rotation: NDArray[np.float64]
    t_ij: NDArray[np.float64]
    sigma_translation: NDArray[np.float64]
    anchor: NDArray[np.float64]
    up_in_camera: NDArray[np.float64] | None
    sigma_tilt: NDArray[np.float64]  # (1, 1) or (n, 1)

    @classmethod
    def of(cls, graph: PoseGraph, initial: Sequence[Transform]) -> _Problem:
        edges = graph.edges
        n = len(initial)
        if max(max(e.i, e.j) for e in edges) >= n:
            raise VoFusionError(f"a pose-graph edge names a keyframe beyond the {n} given")
        x0 = np.array([np.r_[0.0, 0.0, 0.0, T.translation] for T in initial])
        return cls(
            x0=x0.ravel(),
            R0=Rotation.concatenate([T.rotation for T in initial]),
            i=np.array([e.i for e in edges]),
            j=np.array([e.j for e in edges]),
            R_ij_inv=Rotation.concatenate([e.R_ij for e in edges]).inv(),
            sigma_rotation=np.array([e.sigma_rotation_rad for e in edges]),
            t_ij=np.array([e.t_ij for e in edges]).reshape(-1, 3),
            sigma_translation=np.array([e.sigma_translation_m for e in edges]),
            anchor=x0[0].copy(),
            up_in_camera=graph.up_in_camera,
            sigma_tilt=np.reshape(graph.sigma_tilt_rad, (-1, 1)),
        )

    def residuals(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        poses = x.reshape(-1, 6)
        R = Rotation.from_rotvec(poses[:, :3]) * self.R0
        c = poses[:, 3:]
        Ri_inv = R[self.i].inv()
        rotation = (self.R_ij_inv * Ri_inv * R[self.j]).as_rotvec() / self.sigma_rotation[:, None]
        t_est = Ri_inv.apply(c[self.j] - c[self.i])
        translation = (t_est - self.t_ij) / self.sigma_translation[:, None]
        anchor = (poses[0] - self.anchor) / 1e-4
        parts = [rotation.ravel(), translation.ravel(), anchor]
        if self.up_in_camera is not None:
            tilt = (R.inv().apply(UP) - self.up_in_camera) / self.sigma_tilt
            parts.append(tilt.ravel())
        return np.concatenate(parts)

    def sparsity(self) -> lil_matrix:
        n_poses = len(self.x0) // 6
        n_rows = 6 * len(self.i) + 6
        if self.up_in_camera is not None:
            n_rows += 3 * n_poses
        S = lil_matrix((n_rows, len(self.x0)), dtype=np.int8)
        row = 0
        for _ in ("rotation", "translation"):
            for k in range(len(self.i)):
                for pose in (self.i[k], self.j[k]):
                    S[row : row + 3, 6 * pose : 6 * pose + 6] = 1
                row += 3
        S[row : row + 6, 0:6] = 1
        row += 6
        if self.up_in_camera is not None:
            for pose in range(n_poses):
                S[row : row + 3, 6 * pose : 6 * pose + 3] = 1
                row += 3
        return S
