"""The 3D feature map: triangulated points with one descriptor each, saved as one versioned file.

A map is built offline from posed images (`vo_fusion.build_map`) and queried online from a prior
pose (`vo_fusion.refine`); both sides detect and match features with `vo_fusion.features`.

File format (`FeatureMap.save`): one `np.savez_compressed` archive holding `format_version`, the
arrays of the dataclass and `metadata_json` (a JSON string: how the map was built). Nothing in it
is pickled. `vo_fusion.colmap_model.load_colmap_model` reads a COLMAP model into a FeatureMap
instead (needs pycolmap).
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.geometry import Transform
from pose_reloc.site_identity import recorded_site
from vo_fusion.errors import VoFusionError
from vo_fusion.features import DESCRIPTOR_DTYPES, DESCRIPTOR_TYPES

FORMAT_VERSION = 1
_ARRAY_FIELDS = (
    "points_world",
    "descriptors",
    "observation_counts",
    "viewing_directions",
    "point_covariances",
    "observations",
)
_STORED_AS_FLOAT32 = ("viewing_directions", "point_covariances", "observations")
MIN_DEPTH_M = (
    0.05  # a point must be at least this far in front of the camera (along z) to be in view
)


@dataclass(frozen=True, eq=False)
class FeatureMap:
    """N map points in `frame_id`: position, representative descriptor, how many images saw it,
    the mean unit direction from the point towards the cameras that saw it, and its position
    uncertainty (3x3 covariance in the map frame). `observations` optionally keeps the 2D
    measurements the points came from (rows of point index, image index, u, v; images as listed
    in `metadata["images"]`)."""

    points_world: NDArray[np.float64]  # (N, 3)
    descriptors: NDArray[Any]  # (N, D): uint8 for ORB (D = 32), float32 for SIFT (D = 128)
    descriptor_type: str
    observation_counts: NDArray[np.int32]  # (N,)
    viewing_directions: NDArray[np.float64]  # (N, 3) unit, point -> observing cameras
    # (N, 3, 3) m², NaN where unknown (an empty array: all unknown)
    point_covariances: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 3, 3)))
    observations: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 4)))  # (K, 4)
    frame_id: str = "map"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.descriptor_type not in DESCRIPTOR_TYPES:
            raise VoFusionError(
                f"descriptor type {self.descriptor_type!r} is not one of {DESCRIPTOR_TYPES}"
            )
        points = np.asarray(self.points_world, dtype=np.float64).reshape(-1, 3)
        n = len(points)
        if not np.all(np.isfinite(points)):
            raise VoFusionError("a feature map point has a NaN or infinite coordinate")
        descriptors = np.asarray(self.descriptors, dtype=DESCRIPTOR_DTYPES[self.descriptor_type])
        counts = np.asarray(self.observation_counts, dtype=np.int32).reshape(-1)
        directions = np.asarray(self.viewing_directions, dtype=np.float64).reshape(-1, 3)
        covariances = np.asarray(self.point_covariances, dtype=np.float64).reshape(-1, 3, 3)
        if len(covariances) == 0:
            covariances = np.full((n, 3, 3), np.nan)
        observations = np.asarray(self.observations, dtype=np.float64).reshape(-1, 4)
        lengths = {
            "descriptors": descriptors.shape[0] if descriptors.ndim == 2 else -1,
            "observation counts": len(counts),
            "viewing directions": len(directions),
            "point covariances": len(covariances),
        }
        if any(length != n for length in lengths.values()):
            found = ", ".join(f"{length} {name}" for name, length in lengths.items())
            raise VoFusionError(f"feature map arrays disagree: {n} points, {found}")
        point_index = observations[:, 0]
        if len(observations) and not np.all((point_index >= 0) & (point_index < n)):
            raise VoFusionError("a feature map observation refers to a point that does not exist")
        object.__setattr__(self, "points_world", points)
        object.__setattr__(self, "descriptors", descriptors)
        object.__setattr__(self, "observation_counts", counts)
        object.__setattr__(self, "viewing_directions", directions)
        object.__setattr__(self, "point_covariances", covariances)
        object.__setattr__(self, "observations", observations)

    def __len__(self) -> int:
        return len(self.points_world)

    @property
    def point_std_m(self) -> NDArray[np.float64]:
        """(N,) standard deviation of each point along its least certain axis (NaN: unknown)."""
        if len(self) == 0:
            return np.zeros(0)
        finite = np.all(np.isfinite(self.point_covariances), axis=(1, 2))
        std = np.full(len(self), np.nan)
        if np.any(finite):
            largest = np.linalg.eigvalsh(self.point_covariances[finite])[:, -1]
            std[finite] = np.sqrt(np.maximum(largest, 0.0))
        return std

    def points_in_view(
        self,
        T_wc: Transform,
        camera: PinholeCamera,
        margin_px: float = 0.0,
        max_distance_m: float = np.inf,
        max_view_angle_deg: float = 180.0,
        near_radius_m: float = 0.0,
    ) -> NDArray[np.int64]:
        """Indices of the points in front of camera pose T_wc that project inside the image widened
        by `margin_px` on every side, no further than `max_distance_m`, and seen by the map's
        cameras from within `max_view_angle_deg` of this camera's direction (a façade's back side
        is not in view). Points within `near_radius_m` of the camera centre are in view whatever
        their projection: when the pose is that uncertain, they may be in front of the camera."""
        p_cam = T_wc.inverse().apply(self.points_world).reshape(-1, 3)
        distance = np.linalg.norm(p_cam, axis=1)
        keep = distance <= max_distance_m
        if max_view_angle_deg < 180.0 and np.any(keep):
            to_camera = T_wc.translation - self.points_world
            to_camera /= np.maximum(np.linalg.norm(to_camera, axis=1, keepdims=True), 1e-12)
            cosine = np.einsum("ij,ij->i", to_camera, self.viewing_directions)
            keep &= cosine >= np.cos(np.radians(max_view_angle_deg))
        near = keep & (distance <= near_radius_m)
        candidates = np.flatnonzero(keep & (p_cam[:, 2] > MIN_DEPTH_M) & ~near)
        pixels, _ = camera.project(p_cam[candidates])
        lo, hi_x, hi_y = -0.5 - margin_px, camera.width - 0.5 + margin_px, camera.height - 0.5
        with np.errstate(invalid="ignore"):
            inside = (
                (pixels[:, 0] >= lo)
                & (pixels[:, 0] < hi_x)
                & (pixels[:, 1] >= lo)
                & (pixels[:, 1] < hi_y + margin_px)
            )
        return np.union1d(candidates[inside], np.flatnonzero(near)).astype(np.int64)

    @property
    def site(self) -> str:
        """The site it was made for (pose_reloc.site_identity); "" where it does not say."""
        return recorded_site(self.metadata)

    def save(self, path: str | Path, with_observations: bool = True) -> Path:
        """Write the map to `path` (one compressed .npz archive, replaced atomically). Directions,
        covariances and observations are stored as float32 (ample for them, half the file);
        without observations (only needed to re-optimise the map) it is smaller still."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        arrays: dict[str, Any] = {n: self._stored(n, with_observations) for n in _ARRAY_FIELDS}
        with open(partial, "wb") as out:
            np.savez_compressed(
                out,
                format_version=np.int64(FORMAT_VERSION),
                descriptor_type=np.str_(self.descriptor_type),
                frame_id=np.str_(self.frame_id),
                metadata_json=np.str_(json.dumps(self.metadata, sort_keys=True)),
                **arrays,
            )
        os.replace(partial, target)
        return target

    def _stored(self, name: str, with_observations: bool) -> NDArray:
        values = getattr(self, name)
        if name == "observations" and not with_observations:
            return np.zeros((0, 4), np.float32)
        return values.astype(np.float32) if name in _STORED_AS_FLOAT32 else values

    @classmethod
    def load(cls, path: str | Path) -> FeatureMap:
        """Read a map written by `save`; a VoFusionError names the file and the fix otherwise."""
        source = Path(path)
        rebuild = "build one with `pose-reloc build-map --data POSED_IMAGES --out FILE`"
        if not source.is_file():
            raise VoFusionError(f"feature map {source} does not exist: check the path or {rebuild}")
        if source.stat().st_size == 0:
            raise VoFusionError(f"feature map {source} is empty (0 bytes): {rebuild}")
        try:
            with np.load(source, allow_pickle=False) as archive:
                stored = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
            raise VoFusionError(
                f"feature map {source} is not a readable map archive ({error}): {rebuild}"
            ) from None
        missing = [
            name
            for name in ("format_version", "descriptor_type", "metadata_json", *_ARRAY_FIELDS)
            if name not in stored
        ]
        if missing:
            raise VoFusionError(f"feature map {source} lacks {', '.join(missing)}: {rebuild}")
        version = int(stored["format_version"])
        if version != FORMAT_VERSION:
            raise VoFusionError(
                f"feature map {source} has format version {version} but this code reads version "
                f"{FORMAT_VERSION}: {rebuild}"
            )
        try:
            metadata = json.loads(str(stored["metadata_json"]))
            return cls(
                points_world=stored["points_world"],
                descriptors=stored["descriptors"],
                descriptor_type=str(stored["descriptor_type"]),
                observation_counts=stored["observation_counts"],
                viewing_directions=stored["viewing_directions"],
                point_covariances=stored["point_covariances"],
                observations=stored["observations"],
                frame_id=str(stored.get("frame_id", "map")),
                metadata=metadata,
            )
        except (VoFusionError, ValueError) as error:
            raise VoFusionError(
                f"feature map {source} is inconsistent ({error}): {rebuild}"
            ) from None


def read_map_site(path: str | Path) -> str:
    """The site a map file names (its metadata only, not its arrays); "" where it names none or
    cannot be read (loading it says why)."""
    try:
        with np.load(Path(path), allow_pickle=False) as stored:
            metadata = json.loads(str(stored["metadata_json"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return ""
    return recorded_site(metadata)
