"""`pose-reloc evaluate posenet`: PoseNet (with MC-dropout covariance) and the retrieval baseline on
the same frames."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pose_reloc.datasets import read_dataset, read_datasets
from pose_reloc.errors import PoseRelocError
from pose_reloc.evaluation.metrics import (
    fraction_within,
    spearman,
    summary,
    within_two_sigma,
    write_json,
)
from pose_reloc.geometry import Transform, pose_errors
from pose_reloc.posenet.localizer import PoseEstimate, PoseNetLocalizer
from pose_reloc.posenet.retrieval import (
    NotRecognizedError,
    RetrievalLocalizer,
    build_retrieval_index,
)


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
    t_err, r_err = pose_errors([e.T for e in estimates], truths)
    if not len(t_err):
        keys = ("median_translation_m", "median_rotation_deg", "within_2sigma")
        return {key: float("nan") for key in (*keys, "spearman_sigma_error", "latency_ms")}
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


@dataclass
class _Answers:
    """PoseNet's and retrieval's answers on a set of frames, with the true poses."""

    estimates: list[PoseSample] = field(default_factory=list)
    truths: list[Transform] = field(default_factory=list)
    retrieved: list[PoseSample | None] = field(default_factory=list)  # None: not recognized

    def __add__(self, other: _Answers) -> _Answers:
        return _Answers(
            self.estimates + other.estimates,
            self.truths + other.truths,
            self.retrieved + other.retrieved,
        )

    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "frames": len(self.truths),
            **posenet_figures(self.estimates, self.truths),
        }
        if self.retrieved:
            answered = [
                (sample, truth)
                for sample, truth in zip(self.retrieved, self.truths, strict=True)
                if sample is not None
            ]
            figures["retrieval"] = {
                "answered": len(answered) / len(self.retrieved),
                **posenet_figures([a for a, _ in answered], [t for _, t in answered]),
            }
        return figures


def _sample(estimate: PoseEstimate) -> PoseSample:
    return PoseSample(estimate.T_map_cam, estimate.covariance, estimate.inference_ms)


def evaluate_posenet(
    model: str | Path,
    data: str | Path,
    train: str | Path | Sequence[str | Path] | None = None,
    out: str | Path | None = None,
    providers: Sequence[str] = ("cpu",),
    samples: int = 0,
    threads: int = 2,
    log: Callable[[str], None] = print,
    another_day: Sequence[str | Path] = (),
    retrieval_index: str | Path | None = None,
) -> dict[str, Any]:
    """PoseNet and image retrieval (a `retrieval_index` file, else one built here from the
    `train`ing frames; neither: PoseNet alone) on the frames of `data` (the same day as
    training), and on each `another_day` set (held-out drives: other dates, hours, weather,
    lanes, camera heights, parked vehicles), each and pooled."""
    localizer = PoseNetLocalizer(model, providers, samples, threads)
    retrieval, retrieval_source = _retrieval(retrieval_index, train)

    def answers(path: str | Path) -> _Answers:
        result = _Answers()
        for frame in read_dataset(path):
            rgb = frame.image()
            estimate = localizer.localize(rgb)
            result.estimates.append(_sample(estimate))
            result.truths.append(frame.T_wc)
            if retrieval is not None:
                try:
                    result.retrieved.append(_sample(retrieval.localize(rgb)))
                except NotRecognizedError:
                    result.retrieved.append(None)
        if not result.truths:
            raise PoseRelocError(f"{path} holds no frames to evaluate PoseNet on")
        return result

    figures: dict[str, Any] = {
        "model": str(model),
        "data": str(data),
        "mc_samples": localizer.samples,
        "provider": localizer.model.providers[0],
        **answers(data).figures(),
    }
    if retrieval is not None:
        figures["retrieval"]["index"] = retrieval_source
    log(_line(f"PoseNet on {data}", figures))
    if another_day:
        sets = {str(path): answers(path) for path in another_day}
        pooled = sum(sets.values(), _Answers())
        figures["another_day"] = {
            "all": pooled.figures(),
            "sets": {path: answers_of.figures() for path, answers_of in sets.items()},
        }
        for path, set_figures in figures["another_day"]["sets"].items():
            log(_line(f"  another day, {path}", set_figures))
        log(_line("another day, all", figures["another_day"]["all"]))
    if out is not None:
        write_json(out, figures)
    return figures


def _retrieval(
    index: str | Path | None, train: str | Path | Sequence[str | Path] | None
) -> tuple[RetrievalLocalizer | None, str]:
    """The retrieval localizer compared with PoseNet, and what it was made from."""
    if index is not None:
        return RetrievalLocalizer(index), str(index)
    if not train:
        return None, ""
    built = build_retrieval_index(read_datasets(train))
    return RetrievalLocalizer(built), f"built from {train} (uncalibrated)"


def _line(title: str, figures: dict[str, Any]) -> str:
    line = (
        f"{title}: {figures['frames']} frames, median {figures['median_translation_m']:.2f} m / "
        f"{figures['median_rotation_deg']:.1f} deg, {100 * figures['within_2sigma']:.0f}% within "
        f"2 sigma, Spearman {figures['spearman_sigma_error']:.2f}, {figures['latency_ms']:.2f} ms"
    )
    if "retrieval" in figures:
        retrieval = figures["retrieval"]
        line += (
            f"; retrieval answered {100 * retrieval['answered']:.0f}%, median "
            f"{retrieval['median_translation_m']:.2f} m / "
            f"{retrieval['median_rotation_deg']:.1f} deg, "
            f"{100 * retrieval['within_2sigma']:.0f}% within 2 sigma, "
            f"Spearman {retrieval['spearman_sigma_error']:.2f}, {retrieval['latency_ms']:.2f} ms"
        )
    return line
