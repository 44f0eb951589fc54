"""`pose-reloc evaluate posenet`: PoseNet (with MC-dropout covariance) and the retrieval baseline on
the same frames."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pose_reloc.datasets import read_dataset
from pose_reloc.evaluation.metrics import (
    fraction_within,
    spearman,
    summary,
    within_two_sigma,
    write_json,
)
from pose_reloc.evaluation.retrieval import RetrievalLocalizer
from pose_reloc.geometry import rotation_error_deg, translation_error_m
from pose_reloc.posenet import PoseNetLocalizer


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
    t_err, r_err, sigma, covs, errors, latency, rt_err, rr_err = [], [], [], [], [], [], [], []
    frames = list(read_dataset(data))
    for frame in frames:
        rgb = frame.image()
        estimate = localizer.localize(rgb)
        t_err.append(translation_error_m(estimate.T_map_cam, frame.T_wc))
        r_err.append(rotation_error_deg(estimate.T_map_cam, frame.T_wc))
        errors.append(estimate.T_map_cam.translation - frame.T_wc.translation)
        covs.append(estimate.covariance[:3, :3])
        sigma.append(estimate.position_sigma_m)
        latency.append(estimate.inference_ms)
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
        "median_translation_m": float(np.median(t_err)),
        "median_rotation_deg": float(np.median(r_err)),
        "within_25cm_2deg": fraction_within(t_err, r_err, 0.25, 2.0),
        "within_50cm_5deg": fraction_within(t_err, r_err, 0.5, 5.0),
        "within_5m_10deg": fraction_within(t_err, r_err, 5.0, 10.0),
        "within_2sigma": within_two_sigma(errors, covs),
        "spearman_sigma_error": spearman(sigma, t_err),
        "latency_ms": float(np.median(latency)),
        "latency": summary(latency),
        "translation_m": summary(t_err),
        "rotation_deg": summary(r_err),
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
