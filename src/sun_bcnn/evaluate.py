"""`pose-reloc evaluate sun`: Sun-BCNN's accuracy, the honesty of its uncertainty, and its validity
flag, on a dataset with known sun vectors (e.g. `pose-reloc synth`).

Figures (all angles in degrees):
- `median_error_deg`, `mean_error_deg`, `error` (median, mean, p90): angle between the estimated and
  the true sun vector, over the frames with a known sun that are not overcast ("sunny" frames), and
  the same over the sunny frames the estimator marked valid (`valid_error`);
- `error_by_elevation`: the same per band of true sun elevation ([0, 20), [20, 40), [40, 90], from
  the frame's map-frame sun vector, map z up);
- `within_1sigma`, `within_2sigma`: calibration by a Mahalanobis test of the (azimuth, zenith) error
  (azimuth wrapped) under the predicted 2x2 angle covariance, against the chi-square 2-dof radii
  2.30 and 6.18 (68.27 % and 95.45 % of a Gaussian); a calibrated model gives about 0.68 and 0.95;
- `spearman_sigma_error`: rank correlation of the predicted spread (RMS angle of the samples) with
  the error (positive: the model knows when it is wrong);
- `sunny_valid_rate`, `overcast_invalid_rate`: how often the validity flag is right;
- `latency_ms` (median for one image's batch of `samples` MC samples) and `latency` (summary).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from pose_reloc.datasets import read_dataset
from pose_reloc.datasets.record import Frame
from pose_reloc.evaluation.metrics import TWO_SIGMA_CHI2, median, spearman, summary, write_json
from sun_bcnn.inference import (
    SunEstimate,
    SunEstimator,
    angle_between_deg,
    azimuth_zenith,
    wrap_angle,
)

ELEVATION_BANDS_DEG = ((0.0, 20.0), (20.0, 40.0), (40.0, 90.0))
ONE_SIGMA_CHI2_2DOF = float(stats.chi2.ppf(0.6827, 2))  # 2.30
TWO_SIGMA_CHI2_2DOF = TWO_SIGMA_CHI2[2]  # 6.18


def mahalanobis_angles(estimate: SunEstimate, sun_cam: ArrayLike) -> float:
    """Squared Mahalanobis distance of the true (azimuth, zenith) under the estimate's covariance."""
    azimuth, zenith = azimuth_zenith(np.asarray(sun_cam, float))
    error = np.array([wrap_angle(azimuth - estimate.azimuth), zenith - estimate.zenith])
    return float(error @ np.linalg.solve(estimate.angle_covariance, error))


def sun_elevation_deg(sun_map: ArrayLike | None) -> float:
    """Elevation of a unit sun vector in the map frame (map z up); NaN when unknown."""
    if sun_map is None:
        return float("nan")
    return float(np.degrees(np.arcsin(np.clip(np.asarray(sun_map, float)[2], -1.0, 1.0))))


def elevation_deg(frame: Frame) -> float:
    """True sun elevation from the frame's map-frame sun vector (NaN when unknown)."""
    return sun_elevation_deg(frame.sun_world)


def _rate(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if len(flags) else float("nan")


def _by_elevation(errors: np.ndarray, elevations: np.ndarray) -> dict[str, dict[str, float]]:
    bands = {}
    for low, high in ELEVATION_BANDS_DEG:
        upper = elevations <= high if high >= 90.0 else elevations < high
        chosen = errors[(elevations >= low) & upper]
        bands[f"{low:.0f}-{high:.0f}"] = {
            "frames": int(chosen.size),
            "median_error_deg": median(list(chosen)),
        }
    return bands


def sun_figures(
    estimates: Sequence[SunEstimate],
    suns_cam: Sequence[ArrayLike | None],
    overcast: Sequence[bool],
    elevations_deg: Sequence[float],
) -> dict[str, Any]:
    """The figures of estimates against the true sun vectors in the camera frame (None: unknown)
    and the frames' conditions; latency from each estimate's `inference_ms`."""
    errors, elevations, spreads, d2, valid_sunny, valid_overcast = ([] for _ in range(6))
    for estimate, sun_cam, cloudy, elevation in zip(
        estimates, suns_cam, overcast, elevations_deg, strict=True
    ):
        if cloudy:
            valid_overcast.append(estimate.valid)
        elif sun_cam is not None:
            errors.append(float(angle_between_deg(estimate.direction, sun_cam)))
            elevations.append(elevation)
            spreads.append(estimate.spread_deg)
            d2.append(mahalanobis_angles(estimate, sun_cam))
            valid_sunny.append(estimate.valid)
    error, distance = np.asarray(errors, float), np.asarray(d2, float)
    valid_errors = [e for e, v in zip(errors, valid_sunny, strict=True) if v]
    latency = [estimate.inference_ms for estimate in estimates]
    return {
        "sunny_frames": len(errors),
        "overcast_frames": len(valid_overcast),
        "median_error_deg": median(errors),
        "mean_error_deg": float(error.mean()) if error.size else float("nan"),
        "error": summary(error) if error.size else {},
        "valid_error": summary(valid_errors) if valid_errors else {},
        "error_by_elevation": _by_elevation(error, np.asarray(elevations, float)),
        "within_1sigma": _rate(list(distance <= ONE_SIGMA_CHI2_2DOF)),
        "within_2sigma": _rate(list(distance <= TWO_SIGMA_CHI2_2DOF)),
        "spearman_sigma_error": spearman(spreads, errors),
        "sunny_valid_rate": _rate(valid_sunny),
        "overcast_invalid_rate": _rate([not v for v in valid_overcast]),
        "latency_ms": median(latency),
        "latency": summary(latency) if latency else {},
    }


def evaluate_sun(
    model: str | Path,
    data: str | Path,
    out: str | Path | None = None,
    providers: Sequence[str] = ("cpu",),
    samples: int = 0,
    threads: int = 2,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the model on every frame of `data`; returns the figures and writes them to `out` (JSON)."""
    estimator = SunEstimator(model, providers, samples, threads)
    frames = list(read_dataset(data))
    estimates = [estimator.estimate(frame.image()) for frame in frames]
    figures: dict[str, Any] = {
        "model": str(model),
        "data": str(data),
        "provider": estimator.model.providers[0],
        "frames": len(frames),
        "samples": estimator.samples,
        **sun_figures(
            estimates,
            [frame.sun_cam for frame in frames],
            [frame.condition == "overcast" for frame in frames],
            [elevation_deg(frame) for frame in frames],
        ),
    }
    if out is not None:
        write_json(out, figures)
    log(
        f"Sun-BCNN on {len(frames)} frames ({figures['sunny_frames']} sunny, "
        f"{figures['overcast_frames']} overcast): "
        f"median error {figures['median_error_deg']:.1f} deg, "
        f"{100 * figures['within_2sigma']:.0f}% within 2 sigma, sunny valid "
        f"{100 * figures['sunny_valid_rate']:.0f}%, overcast invalid "
        f"{100 * figures['overcast_invalid_rate']:.0f}%, {figures['latency_ms']:.2f} ms for "
        f"{estimator.samples} samples"
    )
    return figures
