"""Sun-BCNN inference (ROS-free): one image -> the unit sun vector in the camera optical frame
(z forward, x right, y down) with its uncertainty from MC-dropout samples (Peretroukhin et al.,
ICRA 2017), all samples in one batched ONNX run.

From N unit samples s_i: the mean m = mean(s_i); its norm |m| (the concentration: 1 when the samples
agree, towards 0 when they scatter, as on an overcast frame); the direction m/|m|; the 3x3
covariance of the s_i; the angles azimuth = atan2(x, z) and zenith = acos(-y) of each sample and
their 2x2 covariance, with azimuth deviations wrapped to [-pi, pi] around the direction's azimuth
(so samples either side of +-180 deg are close, not 360 deg apart). The estimate is `valid` when the
RMS angle of the samples to the direction is at most `max_spread_deg` and |m| >= `min_mean_norm`.
A floor (`floor_deg`, an angular sigma) keeps the covariances of identical samples honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pose_reloc.errors import PoseRelocError
from pose_reloc.mc_model import McSampleModel
from pose_reloc.onnx_session import DEFAULT_PROVIDERS

SUN_OUTPUT = "sun"
DEFAULT_MAX_SPREAD_DEG = 20.0
DEFAULT_MIN_MEAN_NORM = 0.9  # |mean| of unit vectors scattered by an RMS angle t is ~ 1 - t^2 / 2
DEFAULT_FLOOR_DEG = 0.5


@dataclass(frozen=True)
class SunEstimate:
    direction: NDArray[np.float64]  # (3,) unit vector towards the sun, camera optical frame
    covariance: NDArray[np.float64]  # (3, 3) of the unit samples (plus the floor)
    azimuth: float  # rad, atan2(x, z) of the direction
    zenith: float  # rad, acos(-y) of the direction
    angle_covariance: NDArray[np.float64]  # (2, 2) of (azimuth, zenith), rad^2
    samples: int
    spread_deg: float  # RMS angle of the samples to the direction
    mean_norm: float  # |mean of the unit samples|, in [0, 1]
    valid: bool
    inference_ms: float = 0.0

    @property
    def angle_sigma_deg(self) -> float:
        """sqrt of the trace of the (azimuth, zenith) covariance, degrees."""
        return float(np.degrees(np.sqrt(np.trace(self.angle_covariance))))


def azimuth_zenith(vectors: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(azimuth, zenith) in radians of unit vectors (..., 3) in the optical frame."""
    v = np.asarray(vectors, dtype=np.float64)
    azimuth = np.arctan2(v[..., 0], v[..., 2])
    zenith = np.arccos(np.clip(-v[..., 1], -1.0, 1.0))
    return azimuth, zenith


def wrap_angle(radians: ArrayLike) -> NDArray[np.float64]:
    """Angles wrapped to [-pi, pi)."""
    return np.asarray((np.asarray(radians, np.float64) + np.pi) % (2.0 * np.pi) - np.pi)


def angle_between_deg(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Angles in degrees between unit vectors (..., 3), robust near 0 and 180 deg."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.asarray(np.degrees(np.arctan2(cross, np.sum(a * b, axis=-1))))


def summarize_samples(
    samples: ArrayLike,
    max_spread_deg: float = DEFAULT_MAX_SPREAD_DEG,
    min_mean_norm: float = DEFAULT_MIN_MEAN_NORM,
    floor_deg: float = DEFAULT_FLOOR_DEG,
    inference_ms: float = 0.0,
) -> SunEstimate:
    """A SunEstimate from N sun-vector samples (N, 3); each is normalized first."""
    s = np.asarray(samples, dtype=np.float64).reshape(-1, 3)
    norms = np.linalg.norm(s, axis=1)
    if len(s) == 0 or not np.all(np.isfinite(s)) or np.any(norms < 1e-9):
        raise PoseRelocError("the Sun-BCNN model produced a NaN or zero sun vector for this image")
    s = s / norms[:, None]
    mean = s.mean(axis=0)
    mean_norm = float(np.linalg.norm(mean))
    direction = mean / mean_norm if mean_norm > 1e-9 else s[0]
    ddof = 1 if len(s) > 1 else 0
    floor = np.radians(floor_deg) ** 2
    tangent = np.eye(3) - np.outer(direction, direction)
    covariance = np.atleast_2d(np.cov(s.T, ddof=ddof)) + floor * tangent
    azimuth, zenith = azimuth_zenith(direction)
    sample_az, sample_zen = azimuth_zenith(s)
    deviations = np.stack([wrap_angle(sample_az - azimuth), sample_zen - zenith])
    angle_covariance = np.atleast_2d(np.cov(deviations, ddof=ddof)) + floor * np.eye(2)
    spread_deg = float(np.sqrt(np.mean(angle_between_deg(s, direction) ** 2)))
    return SunEstimate(
        direction=direction,
        covariance=covariance,
        azimuth=float(azimuth),
        zenith=float(zenith),
        angle_covariance=angle_covariance,
        samples=len(s),
        spread_deg=spread_deg,
        mean_norm=mean_norm,
        valid=spread_deg <= max_spread_deg and mean_norm >= min_mean_norm,
        inference_ms=inference_ms,
    )


class SunEstimator(McSampleModel):
    """Loads a sun_bcnn ONNX model; `estimate(rgb)` returns a SunEstimate.

    A model whose dropout is not live gives one sample: its spread is 0 and only the floor makes
    the covariance, so `valid` then says nothing about the sun being visible.
    """

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] = DEFAULT_PROVIDERS,
        samples: int = 0,
        threads: int = 2,
        max_spread_deg: float | None = None,
        min_mean_norm: float | None = None,
        floor_deg: float = DEFAULT_FLOOR_DEG,
    ):
        super().__init__(model_path, "sun_bcnn", {SUN_OUTPUT: 3}, providers, samples, threads)
        # Validity thresholds: given here, else the ones calibrated into the model, else defaults.
        calibrated = self.extra.get("validity") or {}
        self.model_thresholds = {
            "max_spread_deg": float(calibrated.get("max_spread_deg", DEFAULT_MAX_SPREAD_DEG)),
            "min_mean_norm": float(calibrated.get("min_mean_norm", DEFAULT_MIN_MEAN_NORM)),
        }
        self.max_spread_deg = (
            self.model_thresholds["max_spread_deg"] if max_spread_deg is None else max_spread_deg
        )
        self.min_mean_norm = (
            self.model_thresholds["min_mean_norm"] if min_mean_norm is None else min_mean_norm
        )
        self.floor_deg = floor_deg
        self.angle_scale = float((self.extra.get("covariance_scale") or {}).get("angles", 1.0))

    def run_samples(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float64], float]:
        """The raw (samples, 3) network outputs for one image and the inference time in ms."""
        out, elapsed_ms = self.run(rgb)
        return out[SUN_OUTPUT], elapsed_ms

    def estimate(self, rgb: NDArray[np.uint8]) -> SunEstimate:
        samples, elapsed_ms = self.run_samples(rgb)
        estimate = summarize_samples(
            samples, self.max_spread_deg, self.min_mean_norm, self.floor_deg, elapsed_ms
        )
        if self.angle_scale == 1.0:
            return estimate
        return replace(
            estimate,
            covariance=estimate.covariance * self.angle_scale,
            angle_covariance=estimate.angle_covariance * self.angle_scale,
        )


def calibrate_sun(estimator: SunEstimator, frames: Sequence[Any]) -> dict[str, float]:
    """On held-out frames: the scale making 95.45 % of sunny (azimuth, zenith) errors fall inside the
    scaled 2-sigma ellipse, and the mean-norm threshold that best separates sunny from overcast
    frames (maximizing the worse of the two rates). The spread threshold is then left open."""
    from pose_reloc.evaluation.metrics import TWO_SIGMA_CHI2

    estimator.angle_scale = 1.0
    d2, sunny_norms, overcast_norms = [], [], []
    for frame in frames:
        estimate = estimator.estimate(frame.image())
        if frame.condition == "overcast":
            overcast_norms.append(estimate.mean_norm)
        elif frame.sun_cam is not None:
            sunny_norms.append(estimate.mean_norm)
            azimuth, zenith = azimuth_zenith(np.asarray(frame.sun_cam, float))
            error = np.array([wrap_angle(azimuth - estimate.azimuth), zenith - estimate.zenith])
            d2.append(float(error @ np.linalg.solve(estimate.angle_covariance, error)))
    result = {
        "angles": float(np.quantile(d2, 0.9545) / TWO_SIGMA_CHI2[2]),
        "frames": float(len(frames)),
    }
    estimator.angle_scale = result["angles"]
    if overcast_norms and sunny_norms:
        sunny, overcast = np.asarray(sunny_norms), np.asarray(overcast_norms)
        candidates = np.unique(np.concatenate([sunny, overcast]))
        scores = [min(np.mean(sunny >= t), np.mean(overcast < t)) for t in candidates]
        best = float(candidates[int(np.argmax(scores))])
        below = candidates[candidates < best]
        if below.size:  # half way to the next value down: a margin for the samples' randomness
            best = 0.5 * (best + float(below.max()))
        result |= {"min_mean_norm": best, "max_spread_deg": 180.0}
        estimator.min_mean_norm, estimator.max_spread_deg = best, 180.0
    return result
