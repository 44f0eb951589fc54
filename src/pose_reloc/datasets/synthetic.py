"""The synthetic dataset format written by `pose-reloc synth`:

DATASET/dataset.yaml   format version, scene, camera (K, size), T_base_cam, frames, location
DATASET/poses.csv      one row per frame (columns in POSE_COLUMNS):
                       index, stamp (Unix s), image (relative path), x y z qx qy qz qw (T_wc,
                       camera optical frame in map, ROS quaternion order), fx fy cx cy width
                       height, sun_cam_{x,y,z} and sun_world_{x,y,z} (unit vectors towards the
                       sun), sun_elevation_deg, condition (sunny/overcast), kidnap (0/1), segment
DATASET/images/NNNNNN.png          RGB images
DATASET/depth/NNNNNN.png           optional, 16-bit depth in millimetres (0 = sky)
DATASET/images_noshadow/NNNNNN.png optional twin rendered without cast shadows
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import yaml

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import DatasetError, Frame, image_file_loader
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform

FORMAT = "pose_reloc-synthetic-1"
POSE_COLUMNS = (
    "index",
    "stamp",
    "image",
    "x",
    "y",
    "z",
    "qx",
    "qy",
    "qz",
    "qw",
    "fx",
    "fy",
    "cx",
    "cy",
    "width",
    "height",
    "sun_cam_x",
    "sun_cam_y",
    "sun_cam_z",
    "sun_world_x",
    "sun_world_y",
    "sun_world_z",
    "sun_elevation_deg",
    "condition",
    "kidnap",
    "segment",
)


@dataclass
class SyntheticDatasetWriter:
    """Appends frames to a dataset folder; `close` writes dataset.yaml with the frame count."""

    root: Path
    info: dict[str, Any]

    def __post_init__(self) -> None:
        (self.root / "images").mkdir(parents=True, exist_ok=True)
        self._file: TextIO = (self.root / "poses.csv").open("w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(POSE_COLUMNS)
        self.count = 0

    def image_path(self, index: int, folder: str = "images") -> Path:
        (self.root / folder).mkdir(exist_ok=True)
        return self.root / folder / f"{index:06d}.png"

    def add(self, frame: Frame, sun_elevation_deg: float) -> None:
        T, cam = frame.T_wc, frame.camera
        sun_cam = frame.sun_cam if frame.sun_cam is not None else np.full(3, np.nan)
        sun_world = frame.sun_world if frame.sun_world is not None else np.full(3, np.nan)
        self._csv.writerow(
            [
                self.count,
                f"{frame.stamp:.6f}",
                f"images/{self.count:06d}.png",
                *(f"{v:.9f}" for v in (*T.translation, *T.quat_xyzw)),
                *(f"{v:.6f}" for v in (cam.fx, cam.fy, cam.cx, cam.cy)),
                cam.width,
                cam.height,
                *(f"{v:.9f}" for v in (*sun_cam, *sun_world)),
                f"{sun_elevation_deg:.4f}",
                frame.condition,
                int(frame.kidnap),
                frame.segment,
            ]
        )
        self.count += 1

    def close(self) -> None:
        self._file.close()
        info = {"format": FORMAT, "frames": self.count, **self.info}
        (self.root / "dataset.yaml").write_text(yaml.safe_dump(info, sort_keys=False))


def read_info(root: str | Path) -> dict[str, Any]:
    path = Path(root) / "dataset.yaml"
    try:
        info = yaml.safe_load(path.read_text())
    except OSError:
        raise DatasetError(
            f"{path} is missing: is {root} a pose_reloc synthetic dataset?"
        ) from None
    except yaml.YAMLError as error:
        raise DatasetError(f"{path} is not valid YAML: {error}") from None
    found = info.get("format") if isinstance(info, dict) else None
    if found != FORMAT:
        raise DatasetError(f"{path}: format is {found!r}, expected {FORMAT!r}")
    return info


def read_synthetic(root: str | Path) -> Iterator[Frame]:
    """Frames of a synthetic dataset folder, in file order."""
    base = Path(root)
    read_info(base)
    path = base / "poses.csv"
    try:
        handle = path.open(newline="")
    except OSError:
        raise DatasetError(f"{path} is missing") from None
    with handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None or tuple(header) != POSE_COLUMNS:
            raise DatasetError(f"{path}:1: the header is not the pose_reloc synthetic columns")
        for line_number, row in enumerate(rows, start=2):
            yield _frame_from_row(base, path, line_number, row)


def _frame_from_row(base: Path, path: Path, line_number: int, row: list[str]) -> Frame:
    if len(row) != len(POSE_COLUMNS):
        raise DatasetError(
            f"{path}:{line_number}: {len(row)} columns, expected {len(POSE_COLUMNS)}"
        )
    field = dict(zip(POSE_COLUMNS, row, strict=True))
    try:
        number = {k: float(v) for k, v in field.items() if k not in ("image", "condition")}
        T_wc = Transform.from_xyz_quat(
            [number["x"], number["y"], number["z"]],
            [number["qx"], number["qy"], number["qz"], number["qw"]],
        )
        K = np.array([[number["fx"], 0, number["cx"]], [0, number["fy"], number["cy"]], [0, 0, 1]])
        camera = PinholeCamera(K, int(number["width"]), int(number["height"]), np.zeros(5))
    except (ValueError, PoseRelocError) as error:
        raise DatasetError(f"{path}:{line_number}: {error}") from None
    sun_cam = np.array([number["sun_cam_x"], number["sun_cam_y"], number["sun_cam_z"]])
    sun_world = np.array([number["sun_world_x"], number["sun_world_y"], number["sun_world_z"]])
    image_path = base / field["image"]
    return Frame(
        stamp=number["stamp"],
        camera=camera,
        T_wc=T_wc,
        load_image=image_file_loader(image_path),
        source=str(image_path),
        sun_cam=None if np.isnan(sun_cam).any() else sun_cam,
        sun_world=None if np.isnan(sun_world).any() else sun_world,
        condition=field["condition"],
        kidnap=bool(int(number["kidnap"])),
        segment=int(number["segment"]),
    )
