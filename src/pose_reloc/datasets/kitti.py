"""KITTI odometry: `poses.txt` (a 3x4 camera-to-world matrix per line, first camera = identity),
`calib.txt` (projection matrices; P0's left 3x3 is K, rectified images), images in `image_0/`
(or `image_2/`, `image_l/`), optional `times.txt` (seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import DatasetError, Frame, image_file_loader, parse_floats
from pose_reloc.geometry import Transform

IMAGE_FOLDERS = ("image_0", "image_2", "image_l")
FRAME_RATE_HZ = 10.0


def read_projection(calib: Path, row: int = 0) -> np.ndarray:
    """The 3x4 projection matrix on line `row` of calib.txt, with or without its `P0:` label."""
    try:
        lines = [line for line in calib.read_text().splitlines() if line.strip()]
    except OSError:
        raise DatasetError(f"{calib} is missing") from None
    if row >= len(lines):
        raise DatasetError(f"{calib} has {len(lines)} lines, no projection matrix P{row}")
    text = lines[row]
    if ":" in text:
        text = text.split(":", 1)[1]
    return parse_floats(text, 12, calib, row + 1).reshape(3, 4)


def read_kitti(sequence_root: str | Path, image_folder: str | None = None) -> Iterator[Frame]:
    root = Path(sequence_root)
    folders = [image_folder] if image_folder else [f for f in IMAGE_FOLDERS if (root / f).is_dir()]
    if not folders:
        raise DatasetError(f"{root} has none of the image folders {IMAGE_FOLDERS}")
    images = sorted((root / folders[0]).glob("*.png"))
    if not images:
        raise DatasetError(f"{root / folders[0]} has no .png images")
    P = read_projection(root / "calib.txt")
    first = cv2.imread(str(images[0]), cv2.IMREAD_UNCHANGED)
    if first is None:
        raise DatasetError(f"image {images[0]} is not readable")
    camera = PinholeCamera(P[:, :3], first.shape[1], first.shape[0], np.zeros(5))
    poses_path = root / "poses.txt"
    try:
        pose_lines = [line for line in poses_path.read_text().splitlines() if line.strip()]
    except OSError:
        raise DatasetError(f"{poses_path} is missing") from None
    if len(pose_lines) != len(images):
        raise DatasetError(f"{poses_path} has {len(pose_lines)} poses for {len(images)} images")
    times = _times(root / "times.txt", len(images))
    for number, (line, image) in enumerate(zip(pose_lines, images, strict=True), start=1):
        matrix = parse_floats(line, 12, poses_path, number).reshape(3, 4)
        try:
            T_wc = Transform.from_matrix(matrix)
        except Exception as error:
            raise DatasetError(f"{poses_path}:{number}: {error}") from None
        yield Frame(float(times[number - 1]), camera, T_wc, image_file_loader(image), str(image))


def _times(path: Path, count: int) -> np.ndarray:
    if not path.is_file():
        return np.arange(count) / FRAME_RATE_HZ
    values = [
        float(parse_floats(line, 1, path, i + 1)[0])
        for i, line in enumerate(path.read_text().splitlines())
        if line.strip()
    ]
    if len(values) != count:
        raise DatasetError(f"{path} has {len(values)} times for {count} images")
    return np.array(values)
