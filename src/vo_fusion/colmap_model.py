"""A FeatureMap from a COLMAP sparse model (needs pycolmap, an optional extra): maps made by COLMAP
or hloc from a site's images load like our own. Offline only: the nodes never import this."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from vo_fusion.errors import VoFusionError
from vo_fusion.feature_map import FeatureMap

COLMAP_SIFT_SCALE = 512.0  # COLMAP's uint8 SIFT and OpenCV's float SIFT are both at this scale


def load_colmap_model(
    path: str | Path, database_path: str | Path | None = None, frame_id: str = "map"
) -> FeatureMap:
    """A SIFT FeatureMap from a COLMAP sparse model folder (cameras/images/points3D) read with
    pycolmap, and the descriptors of its database (`database.db`, looked for next to the model
    and two folders up). COLMAP stores L1-root SIFT as uint8; they are mapped back to
    L2-normalised SIFT at OpenCV's scale (512) and averaged over each track."""
    try:
        import pycolmap
    except ImportError:
        raise VoFusionError(
            f"pycolmap is not installed, so COLMAP model {path} cannot be read: `pip install "
            "pycolmap`, or build the map from posed images with vo_fusion.build_map.build_map()"
        ) from None
    model = Path(path)
    if not model.is_dir():
        raise VoFusionError(f"COLMAP model folder {model} does not exist")
    database = _colmap_database(model, database_path)
    reconstruction = pycolmap.Reconstruction(str(model))
    per_image = _colmap_descriptors(database)
    points, descriptors, counts, directions = [], [], [], []
    for point in reconstruction.points3D.values():
        observations = [(e.image_id, e.point2D_idx) for e in point.track.elements]
        colmap_sift = np.stack([per_image[i][k] for i, k in observations])
        centres = np.stack([reconstruction.images[i].projection_center() for i, _ in observations])
        rays = centres - point.xyz
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        points.append(point.xyz)
        descriptors.append(mean_sift_from_colmap(colmap_sift))
        counts.append(len(observations))
        directions.append(rays.mean(axis=0) / np.linalg.norm(rays.mean(axis=0)))
    return FeatureMap(
        points_world=np.array(points).reshape(-1, 3),
        descriptors=np.array(descriptors, dtype=np.float32).reshape(-1, 128),
        descriptor_type="sift",
        observation_counts=np.array(counts, dtype=np.int32),
        viewing_directions=np.array(directions).reshape(-1, 3),
        frame_id=frame_id,
        metadata={"source": f"COLMAP model {model}", "database": str(database)},
    )


def _colmap_database(model: Path, database_path: str | Path | None) -> Path:
    """The COLMAP database of a model: `database_path`, or one next to the model or above it."""
    candidates = [Path(database_path)] if database_path else []
    candidates += [model / "database.db", model.parent / "database.db"]
    candidates += [model.parent.parent / "database.db"]
    database = next((c for c in candidates if c.is_file()), None)
    if database is None:
        raise VoFusionError(
            f"no COLMAP database with descriptors found for {model} (looked at "
            f"{', '.join(map(str, candidates))}): pass database_path"
        )
    return database


def _colmap_descriptors(database: Path) -> dict[int, NDArray[np.float64]]:
    """Each image's (M, 128) SIFT descriptors as COLMAP stores them (uint8 values, as float)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT image_id, rows, cols, data FROM descriptors").fetchall()
    return {
        int(i): np.frombuffer(data, np.uint8).reshape(r, c).astype(np.float64)
        for i, r, c, data in rows
    }


def mean_sift_from_colmap(colmap_sift: NDArray[np.float64]) -> NDArray[np.float64]:
    """One OpenCV-scale SIFT descriptor from a track's (L, 128) COLMAP descriptors. COLMAP stores
    L1-root SIFT as uint8: squared back and L2-normalised, then averaged at OpenCV's scale."""
    sift = colmap_sift / COLMAP_SIFT_SCALE
    sift = sift**2
    sift /= np.maximum(np.linalg.norm(sift, axis=1, keepdims=True), 1e-12)
    return np.asarray(COLMAP_SIFT_SCALE * sift.mean(axis=0))
