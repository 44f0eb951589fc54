"""What a replay saw, and its figures: the same definitions (and key names) as `pose-reloc evaluate
posenet|sun|fusion`, computed from the nodes' published messages against the bag's ground truth.

Poses here are of base_link in map (what the nodes publish and the bag's ground truth gives)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pose_reloc.evaluation.metrics import median, summary
from pose_reloc.geometry import Transform, interpolate, translation_error_m
from pose_reloc.posenet.evaluate import PoseSample, posenet_figures
from sun_bcnn.evaluate import sun_elevation_deg, sun_figures
from sun_bcnn.inference import SunEstimate
from vo_fusion.evaluation.fusion import KIDNAP_SPEED_MPS, FrameRecord, fusion_figures
from vo_fusion.tracking import TrackingState

GT_MAX_GAP_S = 0.25  # never interpolate ground truth across a wider gap (lost tracking, a cut)


@dataclass(frozen=True)
class FrameState:
    """The fusion node after one image: its state and the time its callback took."""

    stamp: float
    state: TrackingState
    reason: str
    frame_ms: float
    map_inliers: int
    sun_used: bool = False


@dataclass
class ReplayLog:
    """Everything a replay records, in bag time (seconds)."""

    bag: str
    bag_duration_s: float = 0.0
    images_published: int = 0
    frames: list[FrameState] = field(default_factory=list)
    ground_truth: list[tuple[float, Transform]] = field(default_factory=list)
    sun_truth_map: list[tuple[float, NDArray[np.float64]]] = field(default_factory=list)
    T_base_cam: Transform | None = None
    priors: list[tuple[float, PoseSample]] = field(default_factory=list)  # reloc/posenet_pose
    prior_source: str = "posenet"  # posenet_node's prior_source (PRIOR_SOURCES)
    prior_answers: dict[str, int] = field(default_factory=dict)  # answers per source
    fused: dict[float, tuple[Transform, NDArray[np.float64]]] = field(default_factory=dict)
    sun: list[tuple[float, SunEstimate]] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    drops: dict[str, dict[str, int]] = field(default_factory=dict)
    undelivered_images: int = 0
    published: dict[str, int] = field(default_factory=dict)  # what the nodes say they published
    error: str | None = None  # the bag was damaged: the figures cover what was read
    _truth_stamps: NDArray[np.float64] = field(
        default_factory=lambda: np.zeros(0), init=False, repr=False
    )

    def truth_at(self, stamp: float) -> Transform | None:
        """Ground truth at `stamp`, interpolated between neighbours closer than GT_MAX_GAP_S."""
        if len(self._truth_stamps) != len(self.ground_truth):  # appended to since: re-index
            self._truth_stamps = np.array([s for s, _ in self.ground_truth])
        stamps = self._truth_stamps
        after = int(np.searchsorted(stamps, stamp))
        for index in (after - 1, after):
            if 0 <= index < len(stamps) and abs(stamps[index] - stamp) < 1e-4:
                return self.ground_truth[index][1]
        if after == 0 or after == len(stamps) or stamps[after] - stamps[after - 1] > GT_MAX_GAP_S:
            return None
        t0, t1 = stamps[after - 1], stamps[after]
        return interpolate(
            self.ground_truth[after - 1][1], self.ground_truth[after][1], (stamp - t0) / (t1 - t0)
        )

    def sun_map_at(self, stamp: float) -> NDArray[np.float64] | None:
        """The true sun vector in the map frame nearest to `stamp` (within GT_MAX_GAP_S)."""
        if not self.sun_truth_map:
            return None
        nearest = min(self.sun_truth_map, key=lambda item: abs(item[0] - stamp))
        return nearest[1] if abs(nearest[0] - stamp) <= GT_MAX_GAP_S else None

    def sun_truth_cam(self, stamp: float) -> NDArray[np.float64] | None:
        """The true sun vector in the camera frame (needs ground truth and the camera mount)."""
        T_map_base, sun_map = self.truth_at(stamp), self.sun_map_at(stamp)
        if T_map_base is None or self.T_base_cam is None or sun_map is None:
            return None
        return (T_map_base @ self.T_base_cam).rotation.inv().apply(sun_map)


def frame_records(log: ReplayLog) -> list[FrameRecord]:
    """Per image with ground truth: fusion state, fused pose, kidnap (an impossible jump)."""
    records: list[FrameRecord] = []
    previous: tuple[float, Transform] | None = None
    for frame in log.frames:
        truth = log.truth_at(frame.stamp)
        if truth is None:
            continue
        kidnap = (
            previous is not None
            and translation_error_m(truth, previous[1]) / max(frame.stamp - previous[0], 1e-3)
            > KIDNAP_SPEED_MPS
        )
        fused = log.fused.get(frame.stamp)
        records.append(
            FrameRecord(
                frame.stamp,
                frame.state,
                truth,
                fused[0] if fused is not None else None,
                kidnap,
                frame.frame_ms,
                frame.sun_used,
            )
        )
        previous = (frame.stamp, truth)
    return records


def replay_figures(log: ReplayLog) -> dict[str, Any]:
    """metrics.json: sections prior (what reloc/posenet_pose carried, from PoseNet, retrieval or
    both), sun, fusion, relocalization, timing (evaluate's key names)."""
    records = frame_records(log)
    fusion = fusion_figures(records) if records else {}
    prior = _prior_section(log)
    if fusion:
        fusion["prior_median_translation_m"] = prior.get("median_translation_m", math.nan)
        fusion["improvement_over_prior"] = (
            prior.get("median_translation_m", math.nan) / fusion["median_translation_m"]
            if fusion["median_translation_m"] > 0
            else math.nan
        )
    relocalization = {
        key: fusion.pop(key, math.nan)
        for key in (
            "first_fix_s",
            "kidnaps",
            "relocalized",
            "relocalized_within_1s",
            "relocalized_within_2s",
            "relocalization_s",
            "median_relocalization_s",
            "p90_relocalization_s",
            "wrong_relocalizations",
        )
    }
    relocalization["prior_source"] = log.prior_source
    relocalization["prior_poses"] = len(log.priors)
    figures: dict[str, Any] = {
        "bag": log.bag,
        "images": log.images_published,
        "ground_truth": bool(log.ground_truth),
        "prior": prior,
        "sun": _sun_section(log),
        "fusion": fusion,
        "relocalization": relocalization,
        "timing": _timing_section(log),
        "drops": log.drops,
    }
    if log.error:
        figures["error"] = log.error
    return figures


def priors_with_truth(log: ReplayLog) -> list[tuple[float, PoseSample, Transform]]:
    """(stamp, the prior node's answer, ground truth) where ground truth is known."""
    known = []
    for stamp, sample in log.priors:
        truth = log.truth_at(stamp)
        if truth is not None:
            known.append((stamp, sample, truth))
    return known


def _prior_section(log: ReplayLog) -> dict[str, Any]:
    known = priors_with_truth(log)
    figures = posenet_figures([s for _, s, _ in known], [t for _, _, t in known])
    return {
        "source": log.prior_source,
        "answers_from": dict(log.prior_answers),
        "estimates": len(log.priors),
        "with_ground_truth": len(known),
        **figures,
    }


def _sun_section(log: ReplayLog) -> dict[str, Any]:
    if not log.sun:
        return {"estimates": 0}
    estimates = [estimate for _, estimate in log.sun]
    truths = [log.sun_truth_cam(stamp) for stamp, _ in log.sun]
    elevations = [sun_elevation_deg(log.sun_map_at(stamp)) for stamp, _ in log.sun]
    figures = sun_figures(estimates, truths, [False] * len(estimates), elevations)
    return {
        "estimates": len(estimates),
        "valid_rate": float(np.mean([e.valid for e in estimates])),
        "note": "the bag has no overcast labels: overcast_invalid_rate is not measured here",
        **figures,
    }


def _timing_section(log: ReplayLog) -> dict[str, Any]:
    frame_ms = [f.frame_ms for f in log.frames if math.isfinite(f.frame_ms)]
    stamps = [f.stamp for f in log.frames]
    recorded_s = (stamps[-1] - stamps[0]) * len(stamps) / max(len(stamps) - 1, 1) if stamps else 0.0
    return {
        "fusion_frame_ms": median(frame_ms),
        "fusion_frame": summary(frame_ms) if frame_ms else {},
        "prior_latency_ms": median([s.latency_ms for _, s in log.priors]),
        "sun_latency_ms": median([e.inference_ms for _, e in log.sun]),
        "graph_step_ms": summary(log.step_ms) if log.step_ms else {},
        "wall_s": log.wall_s,
        "recorded_s": recorded_s,
        "realtime_factor": recorded_s / log.wall_s if log.wall_s > 0 else math.nan,
        "undelivered_images": log.undelivered_images,
        "published_by_nodes": log.published,
        "recorded": {"prior_poses": len(log.priors), "sun_estimates": len(log.sun)},
    }


def state_spans(log: ReplayLog) -> list[tuple[float, float, TrackingState]]:
    """(start, end, state) runs of the fusion state, for the timeline plot."""
    spans = []
    for state, group in itertools.groupby(log.frames, key=lambda f: f.state):
        frames = list(group)
        spans.append((frames[0].stamp, frames[-1].stamp, state))
    return spans
