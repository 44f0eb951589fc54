"""`pose-reloc evaluate posenet`: PoseNet (with MC-dropout covariance) and the retrieval baseline on
the same frames."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pose_reloc.datasets import read_dataset
from pose_reloc.evaluation.metrics import (
    fraction_within,
    spearman,
    summary,
    within_two_sigma,
    write_json,
)
from pose_reloc.evaluation.retrieval import RetrievalLocalizer
from pose_reloc.geometry import Transform, rotation_error_deg, translation_error_m
from pose_reloc.posenet.localizer import PoseNetLocalizer


@dataclass(frozen=True)
class PoseSample:
    """One PoseNet answer: the pose, its 6x6 covariance (ROS order: x y z, then rotation), and the
    inference time."""

    T: Transform
    covariance: NDArray[np.float64]
    latency_ms: float


def posenet_figures(estimates: Sequence[PoseSample], truths: Sequence[Transform]) -> dict[str, Any]:
    """Accuracy, uncertainty calibration (Mahalanobis test of the position under its 3x3 block)
    and latency of poses against the true ones."""
    t_err = [translation_error_m(e.T, t) for e, t in zip(estimates, truths, strict=True)]
    r_err = [rotation_error_deg(e.T, t) for e, t in zip(estimates, truths, strict=True)]
    if not t_err:
        return {"median_translation_m": float("nan"), "median_rotation_deg": float("nan")}
    sigma = [float(np.sqrt(np.trace(e.covariance[:3, :3]))) for e in estimates]
    latency = [e.latency_ms for e in estimates]
    return {
        "median_translation_m": float(np.median(t_err)),
        "median_rotation_deg": float(np.median(r_err)),
        "within_25cm_2deg": fraction_within(t_err, r_err, 0.25, 2.0),
        "within_50cm_5deg": fraction_within(t_err, r_err, 0.5, 5.0),
        "within_5m_10deg": fraction_within(t_err, r_err, 5.0, 10.0),
        "within_2sigma": within_two_sigma(
            [e.T.translation - t.translation for e, t in zip(estimates, truths, strict=True)],
            [e.covariance[:3, :3] for e in estimates],
        ),
        "spearman_sigma_error": spearman(sigma, t_err),
        "latency_ms": float(np.median(latency)),
        "latency": summary(latency),
        "translation_m": summary(t_err),
        "rotation_deg": summary(r_err),
    }


def evaluate_posenet(
    model: str | Path,
    data: str | Path,
    train: str | Path | None = None,
    out: str | Path | None = None,
    providers: Sequence[str] = ("cpu",),
    samples: int = 0,
    threads: int = 2,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    localizer = PoseNetLocalizer(model, providers, samples, threads)
    retrieval = RetrievalLocalizer(read_dataset(train)) if train else None
    rt_err, rr_err = [], []
    frames = list(read_dataset(data))
    estimates, truths = [], []
    for frame in frames:
        rgb = frame.image()
        estimate = localizer.localize(rgb)
        estimates.append(PoseSample(estimate.T_map_cam, estimate.covariance, estimate.inference_ms))
        truths.append(frame.T_wc)
        if retrieval is not None:
            guess = retrieval.localize(rgb)
            rt_err.append(translation_error_m(guess, frame.T_wc))
            rr_err.append(rotation_error_deg(guess, frame.T_wc))
    figures: dict[str, Any] = {
        "frames": len(frames),
        "model": str(model),
        "data": str(data),
        "mc_samples": localizer.samples,
        "provider": localizer.model.providers[0],
        **posenet_figures(estimates, truths),
    }
    if retrieval is not None:
        figures["retrieval"] = {
            "train": str(train),
            "median_translation_m": float(np.median(rt_err)),
            "median_rotation_deg": float(np.median(rr_err)),
            "within_5m_10deg": fraction_within(rt_err, rr_err, 5.0, 10.0),
        }
    if out is not None:
        write_json(out, figures)
    log(
        f"PoseNet on {len(frames)} frames: median {figures['median_translation_m']:.2f} m / "
        f"{figures['median_rotation_deg']:.1f} deg, {100 * figures['within_2sigma']:.0f}% within 2 sigma, "
        f"{figures['latency_ms']:.2f} ms for {localizer.samples} samples"
        + (
            f"; retrieval median {figures['retrieval']['median_translation_m']:.2f} m / "
            f"{figures['retrieval']['median_rotation_deg']:.1f} deg"
            if retrieval is not None
            else ""
        )
    )
    return figures
