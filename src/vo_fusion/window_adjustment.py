"""Bundle adjustment over a sliding window of keyframes: the odometry's recent camera poses and
the points they triangulated, refined together against every observation in the window.

Triangulating each point once, from two views, leaves it with the error of those two views; the
odometry then measures later poses against those points, and the errors pile up (on the demo
drive the scale shrank by ~10 % over 60 m). Refining points and poses jointly over several
keyframes uses every view of each point. The oldest `fixed_poses` keyframes stay where they are
(they fix the gauge, scale included, so the window carries on the scale it started with), and so
do points marked fixed (the map's, when the odometry tracks them).

Solved with scipy's trust-region least squares on the reprojection errors (pixels), with the
analytic sparse Jacobian (each residual depends on one pose and one point); observations still
far off after a first solve are dropped and the window solved again (a plain robust loss
converged several times slower here).

`KeyframeWindow` is the odometry's side: a keyframe every few tracked frames, the sightings of
the points at least two keyframes saw gathered into `WindowObservations`, adjusted, and the
adjusted poses and points handed back.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.sparse import csr_matrix
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform, left_jacobian_so3

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowObservations:
    """Which keyframe (`pose`) saw which point (`point`) where (`pixels`, undistorted)."""

    pose: NDArray[np.int64]
    point: NDArray[np.int64]
    pixels: NDArray[np.float64]


@dataclass(frozen=True)
class AdjustedWindow:
    poses: list[Transform]  # T_wc, same order as given
    points: NDArray[np.float64]
    rms_before_px: float
    rms_after_px: float


# --- the keyframe window of visual odometry -------------------------------------------------------
@dataclass
class Keyframe:
    """A frame of the adjusted window: its pose, and the ids and undistorted pixels of the
    tracks with a point it saw."""

    T_wc: Transform
    ids: NDArray[np.int64]
    pixels: NDArray[np.float64]


class KeyframeWindow:
    """The last `size` keyframes, one every `every` tracked frames (fewer than 3 keyframes: no
    adjustment). A window is adjusted when its keyframes share at least `min_shared` sightings
    of points two or more of them saw. An adjustment that turns the newest keyframe by more than
    `max_turn_deg` is not taken (poses and points stay as they were): a window in a turn, on few
    points seen from nearly one place, can swing by degrees, and the odometry would carry the
    swing into every pose after it."""

    def __init__(self, size: int, every: int, min_shared: int, max_turn_deg: float = 1.0):
        self.size, self.every, self.min_shared = size, every, min_shared
        self.max_turn_deg = max_turn_deg
        self.keyframes: deque[Keyframe] = deque(maxlen=size)
        self.frames_since_keyframe = 0
        self.refused = 0  # adjustments not taken

    def keyframe_due(self) -> bool:
        """Count one tracked frame; True when it is to be a keyframe."""
        self.frames_since_keyframe += 1
        if self.size < 3 or self.frames_since_keyframe < self.every:
            return False
        self.frames_since_keyframe = 0
        return True

    def add_and_adjust(
        self,
        K: NDArray[np.float64],
        keyframe: Keyframe,
        ids: NDArray[np.int64],
        points: NDArray[np.float64],
        fixed: NDArray[np.bool_],
    ) -> NDArray[np.float64] | None:
        """Add a keyframe, then bundle-adjust the window's poses (in place) and the points (one
        row per track: `ids` ascending, NaN rows for tracks without a point, `fixed` ones left
        alone) at least two keyframes saw. The points, adjusted; None when nothing was."""
        self.keyframes.append(keyframe)
        gathered = self._observations(ids, points) if len(self.keyframes) >= 3 else None
        if gathered is None:
            return None
        rows, observations = gathered
        result = adjust_window(
            K,
            [keyframe.T_wc for keyframe in self.keyframes],
            points[rows],
            fixed[rows],
            observations,
        )
        turn = result.poses[-1].rotation * keyframe.T_wc.rotation.inv()
        if np.degrees(turn.magnitude()) > self.max_turn_deg:
            self.refused += 1
            logger.debug(
                "window adjustment not taken: it turns the newest keyframe %.1f deg",
                np.degrees(turn.magnitude()),
            )
            return None
        adjusted = points.copy()
        adjusted[rows] = result.points
        for keyframe, adjusted_pose in zip(list(self.keyframes), result.poses, strict=True):
            keyframe.T_wc = adjusted_pose
        logger.debug(
            "window adjusted: %d points, rms %.2f -> %.2f px",
            len(rows),
            result.rms_before_px,
            result.rms_after_px,
        )
        return adjusted

    def _observations(
        self, ids: NDArray[np.int64], points: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], WindowObservations] | None:
        """The rows whose points at least two keyframes of the window saw (a point one keyframe
        saw has no depth to adjust), and those sightings; None when too few."""
        alive_rows = np.flatnonzero(np.isfinite(points).all(axis=1))
        alive_ids = ids[alive_rows]  # ascending: ids are handed out in order
        pose, row, pixels = [], [], []
        for index, keyframe in enumerate(self.keyframes):
            found = np.isin(keyframe.ids, alive_ids)
            pose.append(np.full(int(found.sum()), index))
            row.append(alive_rows[np.searchsorted(alive_ids, keyframe.ids[found])])
            pixels.append(keyframe.pixels[found])
        rows, point, views = np.unique(np.concatenate(row), return_inverse=True, return_counts=True)
        shared = views[point] >= 2
        if shared.sum() < self.min_shared:
            return None
        kept = np.flatnonzero(views >= 2)
        renumber = np.full(len(rows), -1)
        renumber[kept] = np.arange(len(kept))
        observations = WindowObservations(
            np.concatenate(pose)[shared], renumber[point[shared]], np.concatenate(pixels)[shared]
        )
        return rows[kept], observations


# --- the adjustment -----------------------------------------------------------------------------
def adjust_window(
    K: NDArray[np.float64],
    poses: list[Transform],
    points: NDArray[np.float64],
    fixed_points: NDArray[np.bool_],
    observations: WindowObservations,
    fixed_poses: int = 2,
    outlier_px: float = 3.0,
    max_evaluations: int = 30,
) -> AdjustedWindow:
    """Refine the keyframe poses (T_wc, oldest first) after the first `fixed_poses`, and the
    points not marked fixed, to minimise the reprojection error of the observations: a least-
    squares solve, then another without the observations left more than `outlier_px` off."""
    window = _Window.of(K, poses, points, fixed_points, observations, fixed_poses)
    x = window.initial()
    everything = np.ones(len(observations.pose), bool)
    before = _errors(window, x, everything)
    if len(x):
        x = _solve(window, x, everything, max_evaluations)
        inliers = np.linalg.norm(_errors(window, x, everything), axis=1) <= outlier_px
        if not inliers.all():
            x = _solve(window, x, inliers, max_evaluations)
    r, c, p = window.unpack(x)
    adjusted = [
        Transform(Rotation.from_rotvec(r[i]).inv(), c[i]) if i in window.free_poses else poses[i]
        for i in range(len(poses))
    ]
    after = _errors(window, x, everything)
    return AdjustedWindow(adjusted, p, _rms(before), _rms(after))


@dataclass(frozen=True)
class _Window:
    """The window as a least-squares problem. A pose is (rotation vector of R_cw, camera centre):
    centre and rotation stay decoupled, where T_cw's translation (-R_cw c) would tie them and
    slow the solver down. The parameters x are the free poses' (6 each), then the free points'
    (3 each); a pose's or point's slot is its place among the free ones (-1: fixed)."""

    K: NDArray[np.float64]
    rotvecs: NDArray[np.float64]
    centres: NDArray[np.float64]
    points: NDArray[np.float64]
    observations: WindowObservations
    free_poses: list[int]
    free_points: NDArray[np.int64]
    pose_slot: NDArray[np.int64]
    point_slot: NDArray[np.int64]

    @classmethod
    def of(
        cls,
        K: NDArray[np.float64],
        poses: list[Transform],
        points: NDArray[np.float64],
        fixed_points: NDArray[np.bool_],
        observations: WindowObservations,
        fixed_poses: int,
    ) -> _Window:
        free_poses = list(range(fixed_poses, len(poses)))
        free_points = np.flatnonzero(~fixed_points)
        pose_slot = np.full(len(poses), -1)
        pose_slot[free_poses] = np.arange(len(free_poses))
        point_slot = np.full(len(points), -1)
        point_slot[free_points] = np.arange(len(free_points))
        rotvecs = np.array([pose.rotation.inv().as_rotvec() for pose in poses])
        centres = np.array([pose.translation for pose in poses])
        return cls(
            K,
            rotvecs,
            centres,
            points,
            observations,
            free_poses,
            free_points,
            pose_slot,
            point_slot,
        )

    @property
    def n_pose_params(self) -> int:
        return 6 * len(self.free_poses)

    def initial(self) -> NDArray[np.float64]:
        free = self.free_poses
        return np.concatenate(
            [
                np.hstack([self.rotvecs[free], self.centres[free]]).ravel(),
                self.points[self.free_points].ravel(),
            ]
        )

    def unpack(self, x: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray]:
        """(rotation vectors, centres, points) of every pose and point, fixed ones included."""
        r, c, p = self.rotvecs.copy(), self.centres.copy(), self.points.copy()
        pose_params = x[: self.n_pose_params].reshape(-1, 6)
        r[self.free_poses] = pose_params[:, :3]
        c[self.free_poses] = pose_params[:, 3:]
        p[self.free_points] = x[self.n_pose_params :].reshape(-1, 3)
        return r, c, p


def _solve(
    window: _Window, x: NDArray[np.float64], keep: NDArray[np.bool_], max_evaluations: int
) -> NDArray[np.float64]:
    return np.asarray(
        least_squares(
            lambda y: _errors(window, y, keep).ravel(),
            x,
            jac=lambda y: _jacobian(window, y, keep),
            max_nfev=max_evaluations,
            x_scale="jac",
            method="trf",
            tr_solver="lsmr",
        ).x
    )


def _errors(
    window: _Window, x: NDArray[np.float64], keep: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """(n, 2) reprojection errors of the kept observations."""
    r, c, p = window.unpack(x)
    observations, K = window.observations, window.K
    pose, point = observations.pose[keep], observations.point[keep]
    camera = Rotation.from_rotvec(r[pose]).apply(p[point] - c[pose])
    depth = np.maximum(camera[:, 2:3], 1e-6)
    projected = camera[:, :2] / depth @ K[:2, :2].T + K[:2, 2]
    return np.asarray(projected - observations.pixels[keep])


def _jacobian(window: _Window, x: NDArray[np.float64], keep: NDArray[np.bool_]) -> csr_matrix:
    """d(errors)/dx, sparse: each observation's two rows depend on its pose and its point."""
    pose, point = window.observations.pose[keep], window.observations.point[keep]
    d_rotation, d_point = _projection_derivatives(window, x, pose, point)
    blocks = (
        (
            window.pose_slot[pose] >= 0,
            6 * window.pose_slot[pose],
            np.concatenate([d_rotation, -d_point], 2),
        ),
        (
            window.point_slot[point] >= 0,
            window.n_pose_params + 3 * window.point_slot[point],
            d_point,
        ),
    )
    rows, columns, values = [], [], []
    for on, slot_columns, block in blocks:
        index = np.flatnonzero(on)
        width = block.shape[2]
        rows.append(
            np.broadcast_to(
                (2 * index)[:, None, None] + np.arange(2)[:, None], (len(index), 2, width)
            )
        )
        columns.append(
            np.broadcast_to(
                slot_columns[index][:, None, None] + np.arange(width), (len(index), 2, width)
            )
        )
        values.append(block[index])
    return csr_matrix(
        (
            np.concatenate([v.ravel() for v in values]),
            (
                np.concatenate([v.ravel() for v in rows]),
                np.concatenate([v.ravel() for v in columns]),
            ),
        ),
        shape=(2 * len(pose), len(x)),
    )


def _projection_derivatives(
    window: _Window, x: NDArray[np.float64], pose: NDArray[np.int64], point: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """d(pixel)/d(rotation vector) and d(pixel)/d(point), (n, 2, 3) each, of the observations
    (pose, point). With p = R(ω)(X − c): dp/dX = R, dp/dc = −R, dp/dω = −[p]× J_l(ω)."""
    r, c, p = window.unpack(x)
    left = np.stack([left_jacobian_so3(rotvec) for rotvec in r])
    return projection_derivatives(
        window.K, Rotation.from_rotvec(r).as_matrix(), c, p, pose, point, left
    )


def projection_derivatives(
    K: NDArray[np.float64],
    rotations: NDArray[np.float64],
    c: NDArray[np.float64],
    p: NDArray[np.float64],
    pose: NDArray[np.int64],
    point: NDArray[np.int64],
    left: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """d(pixel)/d(rotation) and d(pixel)/d(point) for poses given as R_cw matrices (n, 3, 3) and
    centres `c`, points `p`. The rotation derivative is with respect to the rotation vector when
    its left Jacobians `left` are given, else to a perturbation exp([δ]×) R_cw (no
    singularity at 180°, for whole drives)."""
    camera = np.einsum("nij,nj->ni", rotations[pose], p[point] - c[pose])
    z = np.maximum(camera[:, 2], 1e-6)
    d_pixel = np.zeros((len(pose), 2, 3))
    d_pixel[:, 0, 0] = K[0, 0] / z
    d_pixel[:, 0, 2] = -K[0, 0] * camera[:, 0] / z**2
    d_pixel[:, 1, 1] = K[1, 1] / z
    d_pixel[:, 1, 2] = -K[1, 1] * camera[:, 1] / z**2
    d_point = d_pixel @ rotations[pose]
    d_rotation = d_pixel @ -_skews(camera)
    if left is not None:
        d_rotation = d_rotation @ left[pose]
    return d_rotation, d_point


def _rms(errors: NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(errors**2))) if errors.size else 0.0


def _skews(vectors: NDArray[np.float64]) -> NDArray[np.float64]:
    """[v]× for each row v: (n, 3) -> (n, 3, 3)."""
    x, y, z = vectors.T
    zero = np.zeros(len(vectors))
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=1).reshape(-1, 3, 3)
