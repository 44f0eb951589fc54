"""Microsoft 7-Scenes: `seq-NN/frame-NNNNNN.color.png` with `frame-NNNNNN.pose.txt`, a 4x4
camera-to-world matrix per frame (Kinect, 640x480, focal length 585 px)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import DatasetError, Frame, image_file_loader, parse_floats
from pose_reloc.geometry import Transform

KINECT = PinholeCamera(
    np.array([[585.0, 0, 320.0], [0, 585.0, 240.0], [0, 0, 1]]), 640, 480, np.zeros(5)
)
FRAME_RATE_HZ = 30.0


def read_pose_matrix(path: Path) -> Transform:
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        raise DatasetError(f"pose file {path} is missing") from None
    if len(lines) != 4:
        raise DatasetError(f"{path}: a pose file has 4 rows of 4 numbers, found {len(lines)} rows")
    rows = [parse_floats(line, 4, path, i + 1) for i, line in enumerate(lines)]
    try:
        return Transform.from_matrix(np.stack(rows))
    except Exception as error:
        raise DatasetError(f"{path}: {error}") from None


def read_seven_scenes(
    scene_root: str | Path, sequences: Sequence[str] | None = None
) -> Iterator[Frame]:
    root = Path(scene_root)
    folders = [root / s for s in sequences] if sequences else sorted(root.glob("seq-*"))
    if not folders:
        raise DatasetError(f"{root} has no seq-* folders: is it a 7-Scenes scene?")
    for folder in folders:
        images = sorted(folder.glob("frame-*.color.png"))
        if not images:
            raise DatasetError(f"{folder} has no frame-*.color.png images")
        for index, image in enumerate(images):
            pose = image.with_name(image.name.replace(".color.png", ".pose.txt"))
            yield Frame(
                index / FRAME_RATE_HZ,
                KINECT,
                read_pose_matrix(pose),
                image_file_loader(image),
                str(image),
            )
