"""Cambridge Landmarks (Kendall et al. 2015): `dataset_train.txt` / `dataset_test.txt`, three header
lines then `seqN/frameNNNNN.png X Y Z W P Q R` per image: the camera centre in the scene frame and
the world-to-camera rotation as a (w, x, y, z) quaternion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import DatasetError, Frame, image_file_loader, parse_floats
from pose_reloc.geometry import Transform

HEADER_LINES = 3
# The published images are 1920x1080; the reconstructions' focal length is about 1670 px there.
DEFAULT_SIZE = (1920, 1080)
DEFAULT_FOCAL_PX = 1670.0


def read_cambridge(
    split_file: str | Path,
    image_size: tuple[int, int] = DEFAULT_SIZE,
    focal_px: float = DEFAULT_FOCAL_PX,
) -> Iterator[Frame]:
    path = Path(split_file)
    try:
        lines = path.read_text().splitlines()
    except OSError:
        raise DatasetError(
            f"{path} is missing (expected a Cambridge dataset_train.txt / dataset_test.txt)"
        ) from None
    width, height = image_size
    K = np.array([[focal_px, 0, (width - 1) / 2], [0, focal_px, (height - 1) / 2], [0, 0, 1]])
    camera = PinholeCamera(K, width, height, np.zeros(5))
    for number, line in enumerate(lines[HEADER_LINES:], start=HEADER_LINES + 1):
        if not line.strip():
            continue
        name, _, rest = line.strip().partition(" ")
        values = parse_floats(rest, 7, path, number)
        try:
            T_cw = Transform.from_xyz_quat_wxyz([0.0, 0.0, 0.0], values[3:])
        except Exception as error:
            raise DatasetError(f"{path}:{number}: {error}") from None
        T_wc = Transform(T_cw.rotation.inv(), values[:3])
        image = path.parent / name
        yield Frame(
            float(number - HEADER_LINES - 1), camera, T_wc, image_file_loader(image), str(image)
        )
