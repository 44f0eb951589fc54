"""Image retrieval as a pose prior (ROS-free): the pose of the site's most similar mapping frame.

A global descriptor per image (a small Lab thumbnail and its grey-level gradients, each part
centred and normalized), reduced by PCA fitted on the site's frames and stored in float16 with the
frames' poses: `build_retrieval_index` writes it, `RetrievalLocalizer` loads it and answers like
`PoseNetLocalizer` (a `PoseEstimate`). The covariance is the spread of the `top_k` best matches'
poses around the best one (similar images taken far apart: a wide prior), scaled on held-out
frames (`calibrate_retrieval_covariance`), plus a floor: retrieval can only answer poses the
mapping drives took, and a robot on another day keeps to other lanes and carries its camera at
another height, which the spread cannot see (1 m and 2 degrees by default, stored in the index).
An image less like its best match than
`min_score` (cosine similarity; `calibrate_min_score` sets it from a held-out drive) gets no answer
(`NotRecognizedError`) rather than the pose of a view that merely resembles it: a camera turned, a
place never mapped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.datasets.record import Frame
from pose_reloc.errors import ModelLoadError, PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.posenet.localizer import (
    FLOOR_POSITION_M,
    FLOOR_ROTATION_DEG,
    PoseEstimate,
    covariance_floor,
    covariance_scaling,
    pose_coverage_scales,
)
from pose_reloc.site_identity import recorded_site

FORMAT = "pose_reloc.retrieval_index/1"
THUMBNAIL = (32, 24)
DESCRIPTOR_SIZE = 5 * THUMBNAIL[0] * THUMBNAIL[1]


def global_descriptor(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    lab = cv2.cvtColor(
        cv2.resize(rgb, THUMBNAIL, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB
    ).astype(np.float32)
    grey = lab[..., 0]
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    parts = []
    for part in (grey, lab[..., 1], lab[..., 2], gx, gy):
        centred = part.reshape(-1) - part.mean()
        parts.append(centred / max(float(np.linalg.norm(centred)), 1e-6))
    return np.concatenate(parts).astype(np.float32)


@dataclass(frozen=True)
class RetrievalIndex:
    """Descriptors (N x dims, unit rows) of posed frames, the PCA that made them, the poses."""

    descriptors: NDArray[np.float16]
    positions: NDArray[np.float64]  # N x 3, camera centres in the map
    quaternions: NDArray[np.float64]  # N x 4, x y z w, map <- optical camera
    pca_mean: NDArray[np.float32]
    pca_components: NDArray[np.float32]  # dims x DESCRIPTOR_SIZE
    info: dict[str, Any]

    def project(self, descriptor: NDArray[np.float32]) -> NDArray[np.float32]:
        reduced = (descriptor - self.pca_mean) @ self.pca_components.T
        return (reduced / max(float(np.linalg.norm(reduced)), 1e-12)).astype(np.float32)

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as stream:  # np.savez would append ".npz" to other names
            np.savez(
                stream,
                descriptors=self.descriptors,
                positions=self.positions.astype(np.float32),
                quaternions=self.quaternions.astype(np.float32),
                pca_mean=self.pca_mean,
                pca_components=self.pca_components.astype(np.float16),
                info=np.array(json.dumps(self.info)),
            )
        return out

    @staticmethod
    def load(path: str | Path) -> RetrievalIndex:
        source = Path(path)
        try:
            with np.load(source, allow_pickle=False) as data:
                info = json.loads(str(data["info"]))
                index = RetrievalIndex(
                    data["descriptors"].astype(np.float16),
                    data["positions"].astype(np.float64),
                    data["quaternions"].astype(np.float64),
                    data["pca_mean"].astype(np.float32),
                    data["pca_components"].astype(np.float32),
                    info,
                )
        except (OSError, KeyError, ValueError) as error:
            raise ModelLoadError(f"{source} is not a retrieval index: {error}") from error
        if info.get("format") != FORMAT:
            raise ModelLoadError(
                f"{source} is a {info.get('format')!r} file, expected a {FORMAT!r} retrieval index "
                "(pose-reloc build-retrieval)"
            )
        frames, dims = index.descriptors.shape
        if (
            frames == 0
            or index.positions.shape != (frames, 3)
            or index.quaternions.shape != (frames, 4)
            or index.pca_components.shape != (dims, DESCRIPTOR_SIZE)
            or index.pca_mean.shape != (DESCRIPTOR_SIZE,)
        ):
            raise ModelLoadError(
                f"{source}: inconsistent retrieval index ({frames} descriptors of {dims}, "
                f"positions {index.positions.shape}, PCA {index.pca_components.shape})"
            )
        return index


def build_retrieval_index(
    frames: Iterable[Frame], dims: int = 256, info: dict[str, Any] | None = None
) -> RetrievalIndex:
    """Describe the frames, fit the PCA on them and keep `dims` components (fewer when there are
    fewer frames)."""
    descriptors, positions, quaternions = [], [], []
    for frame in frames:
        descriptors.append(global_descriptor(frame.image()))
        positions.append(frame.T_wc.translation)
        quaternions.append(frame.T_wc.quat_xyzw)
    if len(descriptors) < 2:
        raise PoseRelocError(
            f"a retrieval index needs at least 2 posed frames, got {len(descriptors)}"
        )
    if dims < 1:
        raise PoseRelocError(f"the index needs at least 1 dimension, got {dims}")
    matrix = np.stack(descriptors)
    mean = matrix.mean(axis=0)
    _, _, vt = np.linalg.svd(matrix - mean, full_matrices=False)
    components = vt[: min(dims, len(vt))].astype(np.float32)
    reduced = (matrix - mean) @ components.T
    reduced /= np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-12)
    return RetrievalIndex(
        reduced.astype(np.float16),
        np.array(positions),
        np.array(quaternions),
        mean.astype(np.float32),
        components,
        {"format": FORMAT, "frames": len(matrix), "dims": len(components), **(info or {})},
    )


class NotRecognizedError(PoseRelocError):
    """No mapped view is similar enough to this image to answer with its pose."""


class RetrievalLocalizer:
    """Loads a retrieval index; `localize(rgb)` returns a PoseEstimate (source "retrieval")."""

    def __init__(
        self,
        index: RetrievalIndex | str | Path,
        top_k: int = 5,
        min_score: float | None = None,
    ):
        """index: the index, or its file; min_score: None for the index's own (calibrated; -1
        when it has none, answering all)."""
        if top_k < 2:
            raise PoseRelocError(f"top_k must be at least 2 (the spread needs two), got {top_k}")
        if isinstance(index, RetrievalIndex):
            self.path, self.index = None, index
        else:
            self.path = Path(index)
            self.index = RetrievalIndex.load(self.path)
        self.site = recorded_site(self.index.info)
        self.descriptors = self.index.descriptors.astype(np.float32)
        self.rotations = Rotation.from_quat(self.index.quaternions)
        self.top_k = min(top_k, len(self.descriptors))
        floor = self.index.info.get("floor") or {}
        self.floor = covariance_floor(
            float(floor.get("position_m", FLOOR_POSITION_M)),
            float(floor.get("rotation_deg", FLOOR_ROTATION_DEG)),
        )
        self.min_score = float(
            self.index.info.get("min_score", -1.0) if min_score is None else min_score
        )
        scale = self.index.info.get("covariance_scale") or {}
        self.covariance_scale = covariance_scaling(
            float(scale.get("position", 1.0)), float(scale.get("rotation", 1.0))
        )

    def spread(self, top: NDArray[np.int64], best: int) -> NDArray[np.float64]:
        """6x6 scatter of the matches' poses about the best one (ROS order, map frame)."""
        deviations = np.hstack(
            [
                self.index.positions[top] - self.index.positions[best],
                (self.rotations[top] * self.rotations[best].inv()).as_rotvec(),
            ]
        )
        return np.asarray(deviations.T @ deviations / (len(top) - 1))

    @property
    def frames(self) -> int:
        return len(self.descriptors)

    def scores(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Cosine similarity of the image to every indexed frame."""
        scores = self.descriptors @ self.index.project(global_descriptor(rgb))
        if not np.all(np.isfinite(scores)):
            raise PoseRelocError("the retrieval descriptor of this image is not finite")
        return scores

    def matches(self, rgb: NDArray[np.uint8]) -> NDArray[np.int64]:
        """The top_k most similar indexed frames, best first; NotRecognizedError when even the
        best is less similar than min_score."""
        scores = self.scores(rgb)
        top = np.argpartition(-scores, self.top_k - 1)[: self.top_k]
        top = top[np.argsort(-scores[top])]
        if scores[top[0]] < self.min_score:
            raise NotRecognizedError(
                f"no mapped view is like this image (best similarity {scores[top[0]]:.2f} < "
                f"{self.min_score:.2f})"
            )
        return top

    def localize(self, rgb: NDArray[np.uint8]) -> PoseEstimate:
        started = time.perf_counter()
        top = self.matches(rgb)
        best = int(top[0])
        spread = self.spread(top, best)
        return PoseEstimate(
            Transform(self.rotations[best], self.index.positions[best]),
            spread * self.covariance_scale + self.floor,
            len(top),
            1000.0 * (time.perf_counter() - started),
            source="retrieval",
        )


def calibrate_min_score(
    localizer: RetrievalLocalizer, frames: Iterable[Frame], quantile: float = 0.01
) -> float:
    """The similarity below which an image gets no answer: the `quantile` of the best-match
    similarities over held-out frames of the mapped route (another day); set on the localizer."""
    best = [float(np.max(localizer.scores(frame.image()))) for frame in frames]
    if not best:
        raise PoseRelocError("calibrating the minimum similarity needs held-out frames")
    localizer.min_score = float(np.quantile(best, quantile))
    return localizer.min_score


def calibrate_retrieval_covariance(
    localizer: RetrievalLocalizer, frames: Sequence[Frame]
) -> dict[str, float]:
    """Scales of the spread (position, rotation) such that, with the floor added, 95.45 % of the
    held-out frames' errors fall inside the 2-sigma ellipsoid (Mahalanobis, 3 DoF each): at least
    1, since the spread is itself in metres and radians (look-alike places far apart must keep
    the answer wide) even where the floor alone covers the held-out errors; at most 1e4. Set on
    the localizer. Images it does not recognize are left out."""
    errors, spreads = [], []
    for frame in frames:
        try:
            top = localizer.matches(frame.image())
        except NotRecognizedError:
            continue
        best = int(top[0])
        e_p = localizer.index.positions[best] - frame.T_wc.translation
        e_r = (frame.T_wc.rotation * localizer.rotations[best].inv()).as_rotvec()
        errors.append(np.hstack([e_p, e_r]))
        spreads.append(localizer.spread(top, best))
    if not errors:
        raise PoseRelocError("no held-out frame was recognized: nothing to calibrate on")
    scales = pose_coverage_scales(errors, spreads, localizer.floor)
    localizer.covariance_scale = covariance_scaling(scales["position"], scales["rotation"])
    return {**scales, "frames": float(len(errors))}
