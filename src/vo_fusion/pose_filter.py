"""An error-state Kalman filter over SE(3) for the camera pose: visual-odometry increments predict,
PnP poses and sun directions correct, and a lost tracker's covariance grows honestly.

State: T_map_cam (the camera optical frame in `map`) and its 6x6 covariance P in the ROS
PoseWithCovariance convention of `vo_fusion.refine`: (x, y, z) perturb the camera centre c in map
axes, (rx, ry, rz) are the rotation vector δθ of a perturbation about the fixed map axes,
R' = exp([δθ]×) R (R = R_map_cam). Corrections are injected the same way: c += δc, R = exp(δθ) R.

Predict. A VO increment Δ = T_{k-1,k} (camera k in camera k-1) has its covariance Q in the same
convention but in the previous camera's axes: t_Δ' = t_Δ + δt, R_Δ' = exp([δφ]×) R_Δ. With
R = R_{k-1}, T_k = T_{k-1} ∘ Δ gives c_k = c + R t_Δ and R_k = R R_Δ. Perturbing both,
    c_k' = c + δc + exp([δθ]×) R (t_Δ + δt) ≈ c_k + δc − [R t_Δ]× δθ + R δt,
    R_k' = exp([δθ]×) R exp([δφ]×) R_Δ = exp([δθ]×) exp([R δφ]×) R_k ≈ exp([δθ + R δφ]×) R_k,
so P_k = F P Fᵀ + G Q Gᵀ with F = [[I, −[R t_Δ]×], [0, I]] and G = blockdiag(R, R).

Sun. The sun direction seen in the camera is h = R_cam_map s_map = Rᵀ s_map. With R' = exp(δθ) R,
h' = Rᵀ exp(−[δθ]×) s_map ≈ h + Rᵀ [s_map]× δθ, so dh/dδθ = Rᵀ [s_map]× and dh/dδc = 0. A unit
vector has two degrees of freedom: residual, Jacobian and noise are projected onto an orthonormal
basis B of the plane orthogonal to h. Rotation about s_map is in the null space of [s_map]×: the
sun never observes it (nor, without correlation, the position).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import cho_factor, cho_solve
from scipy.spatial.transform import Rotation

from pose_reloc.errors import GeometryError
from pose_reloc.geometry import Transform, skew, tangent_basis, validate_covariance
from vo_fusion.errors import VoFusionError

logger = logging.getLogger(__name__)

# A sun vector further than this from unit norm is a bug upstream, not rounding: skip it.
SUN_VECTOR_NORM_TOLERANCE = 1e-2
# Added to the projected 2x2 sun noise (rad²) so a rank-deficient covariance stays invertible.
SUN_NOISE_FLOOR_RAD2 = 1e-10


class TimeWentBackwards(VoFusionError):  # noqa: N818 (the name reads as the event it reports)
    """A stamp older than the filter's state: the caller should reset (and log it once)."""


@dataclass(frozen=True)
class FilterConfig:
    """Gates and growth rates of `PoseFilter`."""

    pose_gate_chi2: float = 22.458  # chi² 6 dof at 0.999: squared Mahalanobis gate of a PnP pose
    sun_gate_chi2: float = 13.816  # chi² 2 dof at 0.999: squared Mahalanobis gate of a sun vector
    sun_max_angle_deg: float = 26.0  # Sun-BCNN dropped observations further off than ~26°
    gravity_gate_chi2: float = 13.816  # chi² 2 dof at 0.999: the same for the up vector
    gravity_max_angle_deg: float = 20.0  # a tilt further off than this is no quasi-static robot
    min_sun_elevation_deg: float = 0.0  # sun vectors of a sun lower than this are skipped
    # Random walk while no motion information arrives: the variance grows by rate² per second
    # (so the std has grown by `rate` after one second).
    lost_position_growth_m_per_s: float = 0.5
    lost_rotation_growth_deg_per_s: float = 5.0
    # Beyond this the filter has diverged: a pose this uncertain is no pose at all. (Odometry
    # alone for a kilometre is honestly tens of metres uncertain, and still tracking.)
    max_position_std_m: float = 500.0
    time_tolerance_s: float = 1e-3  # stamps this much older than the state are still taken

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not np.isfinite(value):
                raise VoFusionError(f"FilterConfig.{item.name} must be finite, got {value}")
            if item.name != "min_sun_elevation_deg" and not value > 0:
                raise VoFusionError(f"FilterConfig.{item.name} must be positive, got {value}")
        if not self.sun_max_angle_deg <= 180.0:
            raise VoFusionError(
                f"FilterConfig.sun_max_angle_deg must be at most 180, got {self.sun_max_angle_deg}"
            )
        if not -90.0 <= self.min_sun_elevation_deg < 90.0:
            raise VoFusionError(
                "FilterConfig.min_sun_elevation_deg must lie in [-90, 90), got "
                f"{self.min_sun_elevation_deg}"
            )


@dataclass(frozen=True)
class UpdateResult:
    """What became of one measurement. `mahalanobis` is the distance (sigmas, the square root of
    the value gated against chi²), NaN when the measurement was skipped before it was computed."""

    accepted: bool
    reason: str
    mahalanobis: float = float("nan")


def compose_jacobians(
    R_map_prev: Rotation, t_delta: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(F, G) of T_k = T_{k-1} ∘ Δ: P_k = F P Fᵀ + G Q Gᵀ (see the module docstring)."""
    R = R_map_prev.as_matrix()
    F = np.eye(6)
    F[:3, 3:] = -skew(R @ np.asarray(t_delta, dtype=np.float64))
    G = np.zeros((6, 6))
    G[:3, :3] = G[3:, 3:] = R
    return F, G


def predicted_sun_cam(R_map_cam: Rotation, sun_map: ArrayLike) -> NDArray[np.float64]:
    """The sun direction the camera should see: h = R_map_camᵀ s_map."""
    return np.asarray(R_map_cam.inv().apply(np.asarray(sun_map, dtype=np.float64)))


def sun_jacobian(R_map_cam: Rotation, sun_map: ArrayLike) -> NDArray[np.float64]:
    """3x6 dh/d(δc, δθ) of h = R_map_camᵀ s_map: [0, Rᵀ [s_map]×]."""
    H = np.zeros((3, 6))
    H[:, 3:] = R_map_cam.as_matrix().T @ skew(sun_map)
    return H


def inject(T_map_cam: Transform, correction: ArrayLike) -> Transform:
    """The pose moved by an error-state correction (δc, δθ): c + δc, exp([δθ]×) R."""
    dx = np.asarray(correction, dtype=np.float64).reshape(6)
    return Transform(
        Rotation.from_rotvec(dx[3:]) * T_map_cam.rotation, T_map_cam.translation + dx[:3]
    )


def _symmetric(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (matrix + matrix.T), dtype=np.float64)


def _checked_covariance(covariance: ArrayLike, dim: int, name: str) -> NDArray[np.float64]:
    try:
        return np.array(validate_covariance(covariance, dim, name), dtype=np.float64)
    except GeometryError as error:
        raise VoFusionError(f"{error}: the filter state is left unchanged") from error


def _checked_stamp(stamp: float) -> float:
    value = float(stamp)
    if not np.isfinite(value):
        raise VoFusionError(f"stamp {stamp!r} is not a finite number of seconds")
    return value


def _unit_vector_problem(vector: NDArray[np.float64], name: str) -> str:
    """Why a vector is not a usable unit direction ('' when it is)."""
    if vector.shape != (3,):
        return f"{name} must have 3 components, got shape {vector.shape}"
    if not np.all(np.isfinite(vector)):
        return f"{name} has a NaN or infinite component"
    norm = float(np.linalg.norm(vector))
    if abs(norm - 1.0) > SUN_VECTOR_NORM_TOLERANCE:
        return f"{name} has norm {norm:.4f}, not 1"
    return ""


@dataclass(frozen=True)
class _Correction:
    """A Kalman correction computed but not yet applied."""

    dx: NDArray[np.float64]
    covariance: NDArray[np.float64]
    mahalanobis_sq: float


def _kalman_correction(
    P: NDArray[np.float64],
    residual: NDArray[np.float64],
    H: NDArray[np.float64],
    R_meas: NDArray[np.float64],
) -> _Correction | None:
    """Error-state correction and Joseph-form covariance for r = H δx + v, v ~ N(0, R_meas);
    None when the innovation covariance is singular."""
    S = _symmetric(H @ P @ H.T + R_meas)
    try:
        factor = cho_factor(S, lower=True)
    except np.linalg.LinAlgError:
        return None
    mahalanobis_sq = float(residual @ cho_solve(factor, residual))
    K = cho_solve(factor, H @ P).T  # P Hᵀ S⁻¹, P and S symmetric
    I_KH = np.eye(len(P)) - K @ H
    covariance = _symmetric(I_KH @ P @ I_KH.T + K @ R_meas @ K.T)
    return _Correction(K @ residual, covariance, mahalanobis_sq)


class PoseFilter:
    """The camera pose in `map` and its covariance, from VO increments, PnP poses and the sun.

    Time: every call but `reset` refuses a stamp older than the state (beyond
    `time_tolerance_s`) with TimeWentBackwards. `predict`, `coast` and accepted updates move the
    state's stamp forward (never back); skipped or rejected measurements change nothing. The
    filter does not move itself to a measurement's time: predict or coast to it first.
    Bad covariances raise VoFusionError before anything changes."""

    def __init__(self, config: FilterConfig | None = None):
        self.config = config or FilterConfig()
        self._pose: Transform | None = None
        self._covariance = np.full((6, 6), np.nan)
        self._stamp = float("nan")
        self._coasting_since: float | None = None  # when coast() began, until motion is known

    @property
    def initialized(self) -> bool:
        return self._pose is not None

    @property
    def pose(self) -> Transform:
        """T_map_cam."""
        return self._require_pose()

    @property
    def covariance(self) -> NDArray[np.float64]:
        """6x6 ROS covariance of `pose` (a copy)."""
        self._require_pose()
        return self._covariance.copy()

    @property
    def stamp(self) -> float:
        """Time of the state, seconds (NaN before `reset`)."""
        return self._stamp

    @property
    def position_std_m(self) -> float:
        """Standard deviation of the position along its worst axis."""
        self._require_pose()
        return float(np.sqrt(max(np.linalg.eigvalsh(self._covariance[:3, :3]).max(), 0.0)))

    @property
    def diverged(self) -> bool:
        """The position std exceeds `max_position_std_m`, or the state is not finite."""
        if self._pose is None:
            return False
        if not np.all(np.isfinite(self._covariance)):
            return True
        if not np.all(np.isfinite(self._pose.as_matrix())):
            return True
        return not self.position_std_m <= self.config.max_position_std_m

    def reset(self, T_map_cam: Transform, covariance: ArrayLike, stamp: float) -> None:
        """Start over from a pose (any stamp: this is how a caller recovers from time going
        backwards)."""
        P = _checked_covariance(covariance, 6, "initial pose covariance")
        self._commit(T_map_cam, P, _checked_stamp(stamp))

    def predict(self, delta: Transform, delta_covariance: ArrayLike, stamp: float) -> None:
        """Move by a VO increment Δ = T_{k-1,k}, its covariance Q in the previous camera's axes."""
        T = self._require_pose()
        Q = _checked_covariance(delta_covariance, 6, "increment covariance")
        stamp = self._checked_forward(stamp)
        F, G = compose_jacobians(T.rotation, delta.translation)
        P = _symmetric(F @ self._covariance @ F.T + G @ Q @ G.T)
        self._commit(T @ delta, P, stamp)

    def coast(self, stamp: float) -> None:
        """No motion information up to `stamp` (tracking lost): the pose stays, and its standard
        deviations grow linearly with the time spent coasting, at the configured rates (a robot
        moving at v while lost is v·t away, not v·√t): over a coast that began at t0, each
        variance gains rate² ((t − t0)² − (t_prev − t0)²)."""
        T = self._require_pose()
        stamp = self._checked_forward(stamp)
        if self._coasting_since is None:
            self._coasting_since = self._stamp
        before = self._stamp - self._coasting_since
        after = stamp - self._coasting_since
        rates = np.array(
            [self.config.lost_position_growth_m_per_s] * 3
            + [np.radians(self.config.lost_rotation_growth_deg_per_s)] * 3
        )
        growth = np.diag(rates**2 * (after**2 - before**2))
        coasting_since = self._coasting_since
        self._commit(T, self._covariance + growth, stamp)
        self._coasting_since = coasting_since

    def inflate(self, position_std_m: float, rotation_std_deg: float) -> None:
        """Add this much uncertainty to every axis at once (tracking was just lost: the last pose
        is no longer a measurement of where the camera is)."""
        T = self._require_pose()
        added = np.diag([position_std_m**2] * 3 + [np.radians(rotation_std_deg) ** 2] * 3)
        coasting_since = self._coasting_since
        self._commit(T, self._covariance + added, self._stamp)
        self._coasting_since = coasting_since

    def update_pose(self, T_meas: Transform, covariance: ArrayLike, stamp: float) -> UpdateResult:
        """Correct with an absolute pose (PnP) and its 6x6 ROS covariance; gated."""
        T = self._require_pose()
        R_meas = _checked_covariance(covariance, 6, "pose measurement covariance")
        stamp = self._checked_forward(stamp)
        residual = np.concatenate(
            [
                T_meas.translation - T.translation,
                (T_meas.rotation * T.rotation.inv()).as_rotvec(),
            ]
        )
        return self._correct(residual, np.eye(6), R_meas, self.config.pose_gate_chi2, stamp)

    def update_sun(
        self,
        sun_cam: ArrayLike,
        sun_cam_covariance: ArrayLike,
        sun_map: ArrayLike,
        elevation_deg: float,
        stamp: float,
    ) -> UpdateResult:
        """Correct the orientation with an observed unit sun vector (camera frame, 3x3 covariance)
        against the ephemeris' sun vector in `map`; skipped with a reason when unusable."""
        self._require_pose()
        Sigma = _checked_covariance(sun_cam_covariance, 3, "sun vector covariance")
        stamp = self._checked_forward(stamp)
        observed = np.asarray(sun_cam, dtype=np.float64).reshape(-1)
        expected_map = np.asarray(sun_map, dtype=np.float64).reshape(-1)
        problem = self._sun_problem(observed, expected_map, float(elevation_deg))
        if problem:
            return self._skip(problem)
        return self._update_direction(
            "sun",
            observed / np.linalg.norm(observed),
            Sigma,
            expected_map / np.linalg.norm(expected_map),
            self.config.sun_max_angle_deg,
            self.config.sun_gate_chi2,
            stamp,
        )

    def update_gravity(
        self, up_cam: ArrayLike, up_cam_covariance: ArrayLike, stamp: float
    ) -> UpdateResult:
        """Correct the tilt with the up direction an accelerometer measured (camera frame, unit,
        3x3 covariance) against the map's up (+z); skipped with a reason when unusable."""
        self._require_pose()
        Sigma = _checked_covariance(up_cam_covariance, 3, "up vector covariance")
        stamp = self._checked_forward(stamp)
        observed = np.asarray(up_cam, dtype=np.float64).reshape(-1)
        problem = _unit_vector_problem(observed, "observed up vector")
        if problem:
            return self._skip(problem)
        return self._update_direction(
            "up",
            observed / np.linalg.norm(observed),
            Sigma,
            np.array([0.0, 0.0, 1.0]),
            self.config.gravity_max_angle_deg,
            self.config.gravity_gate_chi2,
            stamp,
        )

    def _update_direction(
        self,
        what: str,
        observed: NDArray[np.float64],
        Sigma: NDArray[np.float64],
        expected_map: NDArray[np.float64],
        max_angle_deg: float,
        gate_chi2: float,
        stamp: float,
    ) -> UpdateResult:
        """A unit direction known in the map, observed in the camera: the orientation about the
        two axes across it corrected (none about the direction itself)."""
        T = self._require_pose()
        h = predicted_sun_cam(T.rotation, expected_map)
        angle_deg = float(np.degrees(np.arccos(np.clip(observed @ h, -1.0, 1.0))))
        if not angle_deg <= max_angle_deg:
            return self._skip(
                f"{what} vector {angle_deg:.1f} deg from the predicted one > {max_angle_deg}"
            )
        B = tangent_basis(h)
        R_meas = B.T @ Sigma @ B + SUN_NOISE_FLOOR_RAD2 * np.eye(2)
        H = B.T @ sun_jacobian(T.rotation, expected_map)
        return self._correct(B.T @ (observed - h), H, R_meas, gate_chi2, stamp)

    def _sun_problem(self, observed: NDArray, expected_map: NDArray, elevation_deg: float) -> str:
        if not np.isfinite(elevation_deg):
            return f"sun elevation {elevation_deg} is not finite"
        if elevation_deg < self.config.min_sun_elevation_deg:
            return (
                f"sun elevation {elevation_deg:.1f} deg is below "
                f"{self.config.min_sun_elevation_deg} deg"
            )
        return _unit_vector_problem(observed, "observed sun vector") or _unit_vector_problem(
            expected_map, "sun vector in map"
        )

    def _correct(
        self,
        residual: NDArray[np.float64],
        H: NDArray[np.float64],
        R_meas: NDArray[np.float64],
        gate_chi2: float,
        stamp: float,
    ) -> UpdateResult:
        T = self._require_pose()
        correction = _kalman_correction(self._covariance, residual, H, R_meas)
        if correction is None:
            return self._skip("the innovation covariance is singular")
        distance = float(np.sqrt(max(correction.mahalanobis_sq, 0.0)))
        if not correction.mahalanobis_sq <= gate_chi2:
            return self._skip(
                f"squared Mahalanobis distance {correction.mahalanobis_sq:.1f} > gate {gate_chi2}",
                distance,
            )
        self._commit(inject(T, correction.dx), correction.covariance, stamp)
        return UpdateResult(True, "accepted", distance)

    @staticmethod
    def _skip(reason: str, mahalanobis: float = float("nan")) -> UpdateResult:
        logger.debug("measurement not used: %s", reason)
        return UpdateResult(False, reason, mahalanobis)

    def _require_pose(self) -> Transform:
        if self._pose is None:
            raise VoFusionError("the pose filter has no state yet: call reset() with a pose first")
        return self._pose

    def _checked_forward(self, stamp: float) -> float:
        """The stamp the state moves to; raises TimeWentBackwards for one older than the state."""
        value = _checked_stamp(stamp)
        if value < self._stamp - self.config.time_tolerance_s:
            raise TimeWentBackwards(
                f"stamp {value:.6f} s is {self._stamp - value:.6f} s older than the filter "
                "state: reset the filter (bag loop or clock jump?)"
            )
        return max(value, self._stamp)

    def _commit(self, T_map_cam: Transform, covariance: NDArray[np.float64], stamp: float) -> None:
        self._pose = T_map_cam
        self._covariance = _symmetric(covariance)
        self._stamp = stamp
        self._coasting_since = None
