"""TUM RGB-D: `rgb.txt` (timestamp, image path) and `groundtruth.txt` (timestamp tx ty tz qx qy qz qw,
the optical centre of the colour camera in the world), associated by time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import DatasetError, Frame, image_file_loader, parse_floats
from pose_reloc.geometry import Transform, interpolate_trajectory

# ROS's default Kinect calibration, which the TUM benchmark recommends for its pre-registered images.
ROS_DEFAULT_KINECT = PinholeCamera(
    np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]]), 640, 480, np.zeros(5)
)


def _table(path: Path, columns: int) -> list[tuple[int, list[str]]]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        raise DatasetError(f"{path} is missing") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if line.strip() and not line.startswith("#"):
            parts = line.split()
            if len(parts) != columns:
                raise DatasetError(f"{path}:{number}: expected {columns} columns, got {len(parts)}")
            rows.append((number, parts))
    return rows


def read_tum(
    sequence_root: str | Path, camera: PinholeCamera = ROS_DEFAULT_KINECT, max_gap_s: float = 0.02
) -> Iterator[Frame]:
    """Frames whose image time lies within the ground truth and within max_gap_s of a pose."""
    root = Path(sequence_root)
    truth_path = root / "groundtruth.txt"
    truth = [(n, parse_floats(" ".join(p), 8, truth_path, n)) for n, p in _table(truth_path, 8)]
    if len(truth) < 2:
        raise DatasetError(f"{truth_path} has fewer than two poses")
    stamps = np.array([v[0] for _, v in truth])
    try:
        poses = [Transform.from_xyz_quat(v[1:4], v[4:8]) for _, v in truth]
    except Exception as error:
        raise DatasetError(f"{truth_path}: {error}") from None
    rgb_path = root / "rgb.txt"
    for number, (stamp_text, name) in _table(rgb_path, 2):
        stamp = float(parse_floats(stamp_text, 1, rgb_path, number)[0])
        nearest = np.abs(stamps - stamp).min()
        if nearest > max_gap_s or not stamps[0] <= stamp <= stamps[-1]:
            continue
        T_wc = interpolate_trajectory(stamps, poses, [stamp])[0]
        image = root / name
        yield Frame(stamp, camera, T_wc, image_file_loader(image), str(image))
