"""The one record every dataset reader yields, and the error they raise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform


class DatasetError(PoseRelocError):
    """A dataset file that is missing or malformed; the message names the file (and line)."""


@dataclass(frozen=True)
class Frame:
    """One posed image: `T_wc` is world-from-camera (optical frame: z forward, x right, y down)."""

    stamp: float  # seconds (Unix time where the dataset has it)
    camera: PinholeCamera
    T_wc: Transform
    load_image: Callable[[], NDArray[np.uint8]]  # RGB (H, W, 3) uint8
    source: str  # where the image comes from, for messages
    sun_cam: NDArray[np.float64] | None = None  # unit vector towards the sun, camera frame
    sun_world: NDArray[np.float64] | None = None
    condition: str = "unknown"  # sunny / overcast where known
    kidnap: bool = False
    segment: int = 0

    def image(self) -> NDArray[np.uint8]:
        return self.load_image()


def image_file_loader(path: Path) -> Callable[[], NDArray[np.uint8]]:
    """A loader returning the RGB pixels of an image file (grey images are expanded to RGB)."""

    def load() -> NDArray[np.uint8]:
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise DatasetError(f"image {path} is missing or not a readable image")
        if pixels.dtype != np.uint8:
            pixels = cv2.convertScaleAbs(pixels, alpha=255.0 / 65535.0)
        if pixels.ndim == 2:
            return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB))
        code = cv2.COLOR_BGRA2RGB if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB
        return np.asarray(cv2.cvtColor(pixels, code))

    return load


def parse_floats(text: str, count: int, path: Path, line_number: int) -> NDArray[np.float64]:
    """`count` numbers from a whitespace- or comma-separated line, or a DatasetError naming it."""
    parts = text.replace(",", " ").split()
    try:
        values = np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        raise DatasetError(
            f"{path}:{line_number}: expected {count} numbers, got {text.strip()!r}"
        ) from None
    if values.size != count or not np.all(np.isfinite(values)):
        raise DatasetError(
            f"{path}:{line_number}: expected {count} finite numbers, got {values.size}"
        )
    return values
