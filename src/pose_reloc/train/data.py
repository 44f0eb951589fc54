"""Training data in memory: images resized to the network input, pose and sun labels, scene points.

Augmentation fits a robot camera: exposure, contrast and gamma, blur, sensor noise, and shifts of
a few pixels (small crops). No flips or rotations: they would change the pose the image shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812 (the PyTorch convention)

from pose_reloc.camera import resize_for_network
from pose_reloc.datasets import read_datasets
from pose_reloc.datasets.record import Frame

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ImageSet:
    images: torch.Tensor  # (N, H, W, 3) uint8 RGB at the network input size
    position: torch.Tensor  # (N, 3) camera position, map frame
    orientation: torch.Tensor  # (N, 4) x, y, z, w of R_map_cam, w >= 0
    sun_cam: torch.Tensor  # (N, 3) unit vector towards the sun, camera frame (NaN if unknown)
    overcast: torch.Tensor  # (N,) bool
    K: torch.Tensor  # (N, 3, 3) intrinsics of the network-size image
    points: torch.Tensor  # (N, M, 3) scene points seen in the image, map frame (for reprojection)
    points_valid: torch.Tensor  # (N, M)
    source: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "images": self.images[index],
            "position": self.position[index],
            "orientation": self.orientation[index],
            "sun_cam": self.sun_cam[index],
            "overcast": self.overcast[index],
            "K": self.K[index],
            "points": self.points[index],
            "points_valid": self.points_valid[index],
        }


def _depth_points(
    frame: Frame, depth_path: Path, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    depth_mm = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
    points, valid = np.zeros((count, 3)), np.zeros(count)
    if depth_mm is None:
        return points, valid
    rows, cols = np.nonzero((depth_mm > 0) & (depth_mm < 60000))
    if len(rows) == 0:
        return points, valid
    pick = rng.choice(len(rows), size=min(count, len(rows)), replace=False)
    rays = frame.camera.unproject(np.column_stack([cols[pick], rows[pick]]))
    cam = rays / rays[:, 2:3] * (depth_mm[rows[pick], cols[pick]] / 1000.0)[:, None]
    points[: len(pick)] = frame.T_wc.apply(cam)
    valid[: len(pick)] = 1.0
    return points, valid


def load_image_set(
    root: str | Path | Sequence[str | Path],
    size: tuple[int, int],
    center_crop: bool = False,
    points_per_image: int = 0,
    limit: int | None = None,
    seed: int = 0,
) -> ImageSet:
    """Every frame of a dataset (or of several, one after the other: a robot's mapping drives),
    resized to size=(width, height) for a network."""
    roots = [root] if isinstance(root, str | Path) else list(root)
    frames = list(read_datasets(roots))[:limit]
    rng = np.random.default_rng(seed)

    def load(frame: Frame) -> np.ndarray:
        return np.asarray(resize_for_network(frame.image(), size, center_crop))

    with ThreadPoolExecutor(max_workers=2) as pool:
        images = np.stack(list(pool.map(load, frames)))
    quats = np.stack([f.T_wc.quat_xyzw for f in frames])
    quats *= np.where(quats[:, 3:4] < 0, -1.0, 1.0)
    sun = np.stack([f.sun_cam if f.sun_cam is not None else np.full(3, np.nan) for f in frames])
    K = np.stack([f.camera.for_network_input(size, center_crop).K for f in frames])
    points = np.zeros((len(frames), points_per_image, 3))
    valid = np.zeros((len(frames), points_per_image))
    if points_per_image:
        for i, frame in enumerate(frames):
            depth_path = Path(frame.source).parent.parent / "depth" / Path(frame.source).name
            points[i], valid[i] = _depth_points(frame, depth_path, points_per_image, rng)
    return ImageSet(
        images=torch.from_numpy(images),
        position=torch.tensor(np.stack([f.T_wc.translation for f in frames]), dtype=torch.float32),
        orientation=torch.tensor(quats, dtype=torch.float32),
        sun_cam=torch.tensor(sun, dtype=torch.float32),
        overcast=torch.tensor([f.condition == "overcast" for f in frames]),
        K=torch.tensor(K, dtype=torch.float32),
        points=torch.tensor(points, dtype=torch.float32),
        points_valid=torch.tensor(valid, dtype=torch.float32),
        source={
            "path": str(roots[0]) if len(roots) == 1 else [str(one) for one in roots],
            "frames": len(frames),
        },
    )


def to_network_input(
    images_uint8: torch.Tensor,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> normalized (B, 3, H, W) float, as the exported model's metadata says."""
    x = images_uint8.permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def augment(
    images_uint8: torch.Tensor, generator: torch.Generator, max_shift_px: int = 3
) -> torch.Tensor:
    """Photometric and small geometric jitter of a uint8 batch; returns normalized network input."""
    b = images_uint8.shape[0]
    x = images_uint8.permute(0, 3, 1, 2).float() / 255.0

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(b, 1, 1, 1, generator=generator)

    x = x.clamp(1e-4, 1.0) ** uniform(0.8, 1.25)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * uniform(0.8, 1.2) + mean * uniform(0.7, 1.3)
    blurred = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    x = torch.where(torch.rand(b, 1, 1, 1, generator=generator) < 0.3, blurred, x)
    x = x + 0.01 * torch.randn(x.shape, generator=generator)
    if max_shift_px:
        dx, dy = (
            int(v)
            for v in torch.randint(-max_shift_px, max_shift_px + 1, (2,), generator=generator)
        )
        x = F.pad(x, (max_shift_px,) * 4, mode="replicate")
        h, w = images_uint8.shape[1:3]
        x = x[
            :,
            :,
            max_shift_px + dy : max_shift_px + dy + h,
            max_shift_px + dx : max_shift_px + dx + w,
        ]
    x = x.clamp(0.0, 1.0)
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(
        1, 3, 1, 1
    )
