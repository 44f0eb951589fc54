"""Pinhole camera with lens distortion (OpenCV underneath), built from CameraInfo fields.

Pixel convention is OpenCV's and ROS's: the centre of the top-left pixel is (0, 0). Frames follow
REP-103's optical frame: z forward, x right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from pose_reloc.errors import CameraModelError

# CameraInfo distortion_model names, and how many coefficients OpenCV accepts for each.
PLUMB_BOB = "plumb_bob"
RATIONAL_POLYNOMIAL = "rational_polynomial"
EQUIDISTANT = "equidistant"
_COEFFICIENT_COUNTS = {PLUMB_BOB: (0, 4, 5), RATIONAL_POLYNOMIAL: (8, 12, 14), EQUIDISTANT: (0, 4)}
# Largest image side a camera may have, above any real sensor (16384 x 16384 is 268 Mpixel): a
# CameraInfo beyond it (4294967295 x 4294967295: uint32 garbage) is refused.
MAX_IMAGE_SIDE = 16384


@dataclass(frozen=True, eq=False)
class PinholeCamera:
    """Intrinsics of the images as they arrive (after binning and ROI), with their distortion."""

    K: NDArray[np.float64]
    width: int
    height: int
    D: NDArray[np.float64]
    distortion_model: str = PLUMB_BOB

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        if K.size != 9:
            raise CameraModelError(f"K must have 9 entries (3x3), got {K.size}")
        K = K.reshape(3, 3)
        if not np.all(np.isfinite(K)):
            raise CameraModelError("K has a NaN or infinite entry: the camera is not calibrated")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise CameraModelError(
                f"K has focal lengths fx={K[0, 0]}, fy={K[1, 1]}; both must be positive "
                "(an all-zero K means the driver published an uncalibrated CameraInfo)"
            )
        if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0.0:
            raise CameraModelError(f"K's last row must be [0, 0, 1] and K[1][0] zero, got\n{K}")
        if not (0 < self.width <= MAX_IMAGE_SIDE and 0 < self.height <= MAX_IMAGE_SIDE):
            raise CameraModelError(
                f"image size {self.width}x{self.height} is not a camera's: width and height "
                f"must be 1..{MAX_IMAGE_SIDE} (is the CameraInfo filled in?)"
            )
        D = np.asarray(self.D, dtype=np.float64).reshape(-1)
        model = self.distortion_model
        if model not in _COEFFICIENT_COUNTS:
            raise CameraModelError(
                f"distortion model {model!r} is not supported; use one of "
                f"{sorted(_COEFFICIENT_COUNTS)}"
            )
        if D.size not in _COEFFICIENT_COUNTS[model]:
            raise CameraModelError(
                f"{model} takes {' or '.join(map(str, _COEFFICIENT_COUNTS[model]))} distortion "
                f"coefficients, got {D.size}"
            )
        if not np.all(np.isfinite(D)):
            raise CameraModelError("the distortion coefficients D have a NaN or infinite entry")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "D", D)

    @classmethod
    def from_camera_info(
        cls,
        *,
        K: ArrayLike,
        D: ArrayLike,
        distortion_model: str,
        width: int,
        height: int,
        binning_x: int = 0,
        binning_y: int = 0,
        roi: tuple[int, int, int, int] = (0, 0, 0, 0),
    ) -> PinholeCamera:
        """From CameraInfo fields. K describes the full-resolution sensor; binning and the region
        of interest (x_offset, y_offset, width, height; all zero = full image) say which part, at
        which scale, the images actually hold, so the returned K is for those images."""
        if binning_x < 0 or binning_y < 0:
            raise CameraModelError(f"binning ({binning_x}, {binning_y}) cannot be negative")
        bx, by = max(binning_x, 1), max(binning_y, 1)
        x_off, y_off, roi_w, roi_h = roi
        model = distortion_model or PLUMB_BOB
        full = cls(np.asarray(K, dtype=np.float64), width, height, np.asarray(D), model)
        if (roi_w, roi_h) != (0, 0):
            if x_off < 0 or y_off < 0 or x_off + roi_w > width or y_off + roi_h > height:
                raise CameraModelError(
                    f"ROI ({x_off}, {y_off}, {roi_w}x{roi_h}) lies outside the {width}x{height} image"
                )
            full = full.cropped(x_off, y_off, roi_w, roi_h)
        if (bx, by) == (1, 1):
            return full
        return full.scaled(full.width // bx, full.height // by)

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @property
    def is_distorted(self) -> bool:
        return bool(np.any(self.D != 0.0))

    def project(self, points_cam: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Pixels (N, 2) of optical-frame points (N, 3), and which lie in front of the camera and
        inside the image. Points behind the camera get NaN pixels."""
        p = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        in_front = p[:, 2] > 1e-9
        pixels = np.full((len(p), 2), np.nan)
        if np.any(in_front):
            pixels[in_front] = self._distort_project(p[in_front])
        with np.errstate(invalid="ignore"):
            inside = (
                in_front
                & (pixels[:, 0] >= -0.5)
                & (pixels[:, 0] < self.width - 0.5)
                & (pixels[:, 1] >= -0.5)
                & (pixels[:, 1] < self.height - 0.5)
            )
        return pixels, inside

    def _distort_project(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        if not self.is_distorted:
            uv = p[:, :2] / p[:, 2:3]
            return np.asarray(uv @ self.K[:2, :2].T + self.K[:2, 2], dtype=np.float64)
        zero = np.zeros(3)
        obj = p.reshape(-1, 1, 3)
        if self.distortion_model == EQUIDISTANT:
            pixels, _ = cv2.fisheye.projectPoints(obj, zero, zero, self.K, self.D)
        else:
            pixels, _ = cv2.projectPoints(obj, zero, zero, self.K, self.D)
        return np.asarray(pixels, dtype=np.float64).reshape(-1, 2)

    def unproject(self, pixels: ArrayLike) -> NDArray[np.float64]:
        """Unit-length optical-frame rays (N, 3) through pixels (N, 2), distortion removed."""
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        normalized: NDArray | cv2.typing.MatLike
        if not self.is_distorted:
            normalized = (uv - self.K[:2, 2]) / np.diag(self.K)[:2]
        elif self.distortion_model == EQUIDISTANT:
            normalized = cv2.fisheye.undistortPoints(uv, self.K, self.D)
        else:
            criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
            identity = np.eye(3)
            normalized = cv2.undistortPointsIter(uv, self.K, self.D, identity, identity, criteria)
        xy = np.asarray(normalized, dtype=np.float64).reshape(-1, 2)
        rays = np.hstack([xy, np.ones((len(xy), 1))])
        return np.asarray(rays / np.linalg.norm(rays, axis=1, keepdims=True), dtype=np.float64)

    def scaled(self, width: int, height: int) -> PinholeCamera:
        """The camera of the same images resized to width x height (pixel centres kept aligned)."""
        if width <= 0 or height <= 0:
            raise CameraModelError(f"cannot resize to {width}x{height}")
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[1, 1] *= sy
        K[0, 1] *= sx
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return replace(self, K=K, width=width, height=height)

    def cropped(self, x_offset: int, y_offset: int, width: int, height: int) -> PinholeCamera:
        """The camera of a width x height window whose top-left pixel is (x_offset, y_offset)."""
        K = self.K.copy()
        K[0, 2] -= x_offset
        K[1, 2] -= y_offset
        return replace(self, K=K, width=width, height=height)

    def for_network_input(self, size: tuple[int, int], center_crop: bool = False) -> PinholeCamera:
        """The camera a network sees after `resize_for_network(image, size, center_crop)`."""
        width, height = size
        if not center_crop:
            return self.scaled(width, height)
        x0, y0, side_w, side_h = _center_crop_window(self.width, self.height, width / height)
        return self.cropped(x0, y0, side_w, side_h).scaled(width, height)


def _center_crop_window(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """The largest centred window of the given width/height aspect: (x0, y0, w, h)."""
    crop_w = min(width, round(height * aspect))
    crop_h = min(height, round(crop_w / aspect))
    return (width - crop_w) // 2, (height - crop_h) // 2, crop_w, crop_h


def resize_for_network(image: NDArray, size: tuple[int, int], center_crop: bool = False) -> NDArray:
    """An image resized (optionally after a centred crop to the target aspect) to size=(w, h)."""
    height, width = image.shape[:2]
    if center_crop:
        x0, y0, crop_w, crop_h = _center_crop_window(width, height, size[0] / size[1])
        image = image[y0 : y0 + crop_h, x0 : x0 + crop_w]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
