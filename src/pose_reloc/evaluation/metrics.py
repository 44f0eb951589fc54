"""Figures shared by the evaluations: thresholds, rank correlation, JSON output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

# The Mahalanobis radius holding 95.45 % of a Gaussian ("2 sigma") in 1, 2 and 3 dimensions.
TWO_SIGMA_CHI2 = {1: 4.0, 2: float(stats.chi2.ppf(0.9545, 2)), 3: float(stats.chi2.ppf(0.9545, 3))}


def fraction_within(
    translation_m: ArrayLike, rotation_deg: ArrayLike, max_m: float, max_deg: float
) -> float:
    t, r = np.asarray(translation_m), np.asarray(rotation_deg)
    return float(np.mean((t <= max_m) & (r <= max_deg))) if t.size else float("nan")


def median(values: ArrayLike) -> float:
    """The median, NaN for no values (a figure that could not be measured)."""
    v = np.asarray(values, float)
    return float(np.median(v)) if v.size else float("nan")


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def within_two_sigma(errors: Sequence[ArrayLike], covariances: Sequence[ArrayLike]) -> float:
    """Share of error vectors inside their covariance's 2-sigma ellipsoid (Mahalanobis test)."""
    inside = []
    for e, cov in zip(errors, covariances, strict=True):
        e = np.asarray(e, float)
        d2 = float(e @ np.linalg.solve(np.asarray(cov, float), e))
        inside.append(d2 <= TWO_SIGMA_CHI2[e.size])
    return float(np.mean(inside)) if inside else float("nan")


def summary(values: ArrayLike) -> dict[str, float]:
    v = np.asarray(values, float)
    return {
        "median": float(np.median(v)),
        "mean": float(np.mean(v)),
        "p90": float(np.percentile(v, 90)),
    }


def _strict(value: Any) -> Any:
    """NaN and infinity (not measured, never happened) become null: strict JSON for any reader."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_json(path: str | Path, figures: dict[str, Any]) -> None:
    """The figures as strict JSON (NaN and infinity written as null)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_strict(figures), indent=2, allow_nan=False) + "\n")
