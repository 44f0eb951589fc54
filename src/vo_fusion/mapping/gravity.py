"""The direction of gravity at each frame from an IMU's accelerometer, the robot's own
acceleration taken out with its odometry.

An accelerometer measures specific force: the body's acceleration less gravity, so a robot at
rest reads +g along the world's up. A moving robot's reading is off by its acceleration (2.5 m/s²
turning a corner at 5 m/s: 14°), which the odometry knows: over a window around each frame the
accelerometer's mean (every sample turned into the frame's body axes by the odometry's rotation
since) less the odometry's mean acceleration (its velocity change across the window) leaves g
along up. Planar wheel odometry drives in the plane of the ground, so on a slope this gives the
tilt the flat-ground assumption cannot.

The deviation stated with each direction: the accelerometer's noise averaged over the window's
samples, the velocities' noise from the odometry's positions, a share of the acceleration taken out
(the odometry's scale error, a few per cent), and a floor for the accelerometer's bias and the
mount's calibration, which no averaging removes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation, Slerp

from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError

GRAVITY_MPS2 = 9.80665
WINDOW_S = 1.0  # the accelerometer averaged over this long around each frame
MIN_SAMPLES = 3
# A calibrated MEMS accelerometer's bias (about 0.02 m/s²) and a mount calibrated to ~0.1°.
FLOOR_RAD = float(np.radians(0.15))
COMPENSATION_SHARE = 0.03  # of the acceleration taken out: the odometry's scale, its lags
VELOCITY_SPAN_S = 0.1  # each end's velocity: the odometry's motion over +- this
MAX_MAGNITUDE_ERROR = 0.05  # |force - acceleration| further than this from g: not gravity


@dataclass(frozen=True)
class ImuSamples:
    """An accelerometer's readings in the robot's base frame, in stamp order."""

    stamps: NDArray[np.float64]  # (n,) s
    specific_force: NDArray[np.float64]  # (n, 3) m/s², +g up at rest
    variance: NDArray[np.float64]  # (n,) m²/s⁴ per axis, as the IMU states it

    def __post_init__(self) -> None:
        n = len(self.stamps)
        if self.specific_force.shape != (n, 3) or self.variance.shape != (n,):
            raise VoFusionError(
                f"IMU samples: {n} stamps, forces {self.specific_force.shape}, variances "
                f"{self.variance.shape}: one (3,) force and one variance per stamp"
            )
        if n > 1 and np.any(np.diff(self.stamps) < 0.0):
            raise VoFusionError("IMU samples must come in stamp order")


@dataclass(frozen=True)
class GravityPriors:
    """The world's up seen from each frame and its deviation (rad), in the frame the IMU's
    samples were given in (gravity_from_imu: the base frame; `in_camera` turns it); NaN where
    the IMU said nothing usable (too few samples, or a window whose reading is not gravity)."""

    up: NDArray[np.float64]  # (n, 3) unit vectors or NaN rows
    sigma_rad: NDArray[np.float64]  # (n,)
    rejected: int = 0  # frames whose window read no gravity (|force - acceleration| not g)

    @property
    def measured(self) -> NDArray[np.bool_]:
        return np.asarray(np.isfinite(self.sigma_rad))

    def in_camera(self, R_base_cam: Rotation) -> GravityPriors:
        """The same directions in the axes of a camera mounted at R_base_cam."""
        up = np.asarray(R_base_cam.inv().apply(self.up), dtype=np.float64)
        return GravityPriors(up, self.sigma_rad, self.rejected)


def gravity_from_imu(
    stamps: Sequence[float] | NDArray[np.float64],
    T_odom_base: Sequence[Transform],
    imu: ImuSamples,
    window_s: float = WINDOW_S,
) -> GravityPriors:
    """The up direction in each frame's base axes (frames at `stamps`, posed by the odometry's
    `T_odom_base`) from the accelerometer samples within window_s around it."""
    # Seconds since the first frame: Unix stamps (1.8e9 s) keep only 0.2 µs in a float64.
    epoch = float(stamps[0]) if len(stamps) else 0.0
    t = np.asarray(stamps, dtype=np.float64) - epoch
    n = len(t)
    if len(T_odom_base) != n:
        raise VoFusionError(f"{n} stamps but {len(T_odom_base)} odometry poses")
    if n > 1 and np.any(np.diff(t) <= 0.0):
        raise VoFusionError("the frames' stamps must increase for the IMU's gravity")
    up = np.full((n, 3), np.nan)
    sigma = np.full(n, np.nan)
    if n < 2:
        return GravityPriors(up, sigma)
    imu_t = imu.stamps - epoch
    inside = (imu_t >= t[0]) & (imu_t <= t[-1])
    if inside.sum() < MIN_SAMPLES:
        return GravityPriors(up, sigma)
    odometry = _Odometry(t, T_odom_base)
    samples = ImuSamples(imu_t[inside], imu.specific_force[inside], imu.variance[inside])
    R_at_sample = Slerp(t, odometry.rotations)(samples.stamps)
    spacing = float(np.median(np.diff(samples.stamps)))
    rejected = 0
    for f in range(n):
        first, end = np.searchsorted(samples.stamps, [t[f] - window_s / 2, t[f] + window_s / 2])
        if end - first < MIN_SAMPLES:
            continue
        found = _window_up(samples, R_at_sample, first, end, spacing, odometry, f)
        if found is None:
            continue
        if not found[1] > 0.0:  # its magnitude is not gravity's
            rejected += 1
            continue
        up[f], sigma[f] = found
    return GravityPriors(up, sigma, rejected)


def _window_up(
    samples: ImuSamples,
    R_at_sample: Rotation,
    first: int,
    end: int,
    spacing: float,
    odometry: _Odometry,
    f: int,
) -> tuple[NDArray[np.float64], float] | None:
    """Frame f's up and its deviation from samples first..end-1 (sigma 0: the window's
    reading is not gravity); None where the odometry does not cover the window."""
    # Each sample in frame f's body axes: the odometry's rotation from f to the sample.
    R_f = odometry.rotations[f]
    turned = (R_f.inv() * R_at_sample[first:end]).apply(samples.specific_force[first:end])
    # The samples stand for the interval they cover, half a spacing beyond each end.
    t0 = samples.stamps[first] - spacing / 2.0
    t1 = samples.stamps[end - 1] + spacing / 2.0
    acceleration = odometry.mean_acceleration(t0, t1)
    if acceleration is None:
        return None
    g_up = turned.mean(axis=0) - R_f.inv().apply(acceleration)
    magnitude = float(np.linalg.norm(g_up))
    if abs(magnitude - GRAVITY_MPS2) > MAX_MAGNITUDE_ERROR * GRAVITY_MPS2:
        return g_up, 0.0
    variance = float(np.mean(samples.variance[first:end])) / (end - first)
    variance += odometry.velocity_variance * 2.0 / (t1 - t0) ** 2
    variance += (COMPENSATION_SHARE * float(np.linalg.norm(acceleration))) ** 2
    return g_up / magnitude, float(np.hypot(np.sqrt(variance) / magnitude, FLOOR_RAD))


class _Odometry:
    """The odometry's positions and rotations at the frames' stamps."""

    def __init__(self, t: NDArray[np.float64], T_odom_base: Sequence[Transform]) -> None:
        self.t = t
        self.positions = np.array([T.translation for T in T_odom_base])
        self.rotations = Rotation.concatenate([T.rotation for T in T_odom_base])
        self.velocity_variance = _velocity_variance(self.positions)

    def mean_acceleration(self, t0: float, t1: float) -> NDArray[np.float64] | None:
        """The mean acceleration over t0..t1 (odom frame): the change of velocity."""
        v0, v1 = self.velocity(t0), self.velocity(t1)
        if v0 is None or v1 is None:
            return None
        return (v1 - v0) / (t1 - t0)

    def velocity(self, at: float) -> NDArray[np.float64] | None:
        """The mean velocity over at +- VELOCITY_SPAN_S (None where the stamps do not cover
        one span)."""
        t = self.t
        before = max(at - VELOCITY_SPAN_S, t[0])
        after = min(at + VELOCITY_SPAN_S, t[-1])
        if after - before < 2.0 * VELOCITY_SPAN_S - 1e-6:
            return None
        p0 = np.array([np.interp(before, t, self.positions[:, k]) for k in range(3)])
        p1 = np.array([np.interp(after, t, self.positions[:, k]) for k in range(3)])
        return np.asarray((p1 - p0) / (after - before), dtype=np.float64)


def _velocity_variance(positions: NDArray[np.float64]) -> float:
    """A velocity's variance (per axis, over one VELOCITY_SPAN_S span either side) from the
    odometry's step-to-step jitter, the spread of its second differences: what its noise puts
    into the acceleration taken out."""
    if len(positions) < 3:
        return 0.0
    jitter = np.diff(positions, n=2, axis=0)
    step_variance = float(np.median(np.sum(jitter**2, axis=1))) / 3.0 / 2.0
    return step_variance * 2.0 / (2.0 * VELOCITY_SPAN_S) ** 2
