"""Camera calibration YAML in the format ROS camera_calibration writes (and camera_info_manager
reads): image_width, image_height, camera_matrix, distortion_model, distortion_coefficients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import PoseRelocError
from pose_reloc.tools.replay.bag_stream import ReplayError


def _matrix(doc: dict[str, Any], key: str, rows: int | None, path: Path) -> np.ndarray:
    entry = doc.get(key)
    if not isinstance(entry, dict) or "data" not in entry:
        raise ReplayError(f"camera calibration {path} has no {key}: {{rows, cols, data}}")
    data = np.asarray(entry["data"], dtype=np.float64).reshape(-1)
    if rows is not None and data.size != rows * int(entry.get("cols", rows)):
        raise ReplayError(f"{key} in {path} has {data.size} numbers, expected {rows}x{rows}")
    return data


def read_camera_info_yaml(path: str | Path) -> PinholeCamera:
    source = Path(path)
    try:
        doc = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ReplayError(f"camera calibration {source} cannot be read: {error}") from error
    if not isinstance(doc, dict):
        raise ReplayError(f"camera calibration {source} is not a YAML mapping")
    for key in ("image_width", "image_height"):
        if not isinstance(doc.get(key), int):
            raise ReplayError(f"camera calibration {source} needs an integer {key}")
    K = _matrix(doc, "camera_matrix", 3, source).reshape(3, 3)
    D = (
        _matrix(doc, "distortion_coefficients", None, source)
        if "distortion_coefficients" in doc
        else np.zeros(5)
    )
    try:
        return PinholeCamera.from_camera_info(
            K=K,
            D=D,
            distortion_model=str(doc.get("distortion_model", "plumb_bob")),
            width=doc["image_width"],
            height=doc["image_height"],
        )
    except PoseRelocError as error:
        raise ReplayError(f"camera calibration {source}: {error}") from error
