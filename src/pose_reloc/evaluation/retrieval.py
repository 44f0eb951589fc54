"""The image-retrieval baseline PoseNet is compared with: the pose of the most similar training
image, by a global descriptor: small normalized colour thumbnails (Lab) plus grey-level gradients."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
from numpy.typing import NDArray

from pose_reloc.datasets.record import Frame
from pose_reloc.geometry import Transform

THUMBNAIL = (32, 24)


def global_descriptor(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    lab = cv2.cvtColor(
        cv2.resize(rgb, THUMBNAIL, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB
    ).astype(np.float32)
    grey = lab[..., 0]
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    parts = []
    for part in (grey, lab[..., 1], lab[..., 2], gx, gy):
        centred = part.reshape(-1) - part.mean()
        parts.append(centred / max(float(np.linalg.norm(centred)), 1e-6))
    return np.concatenate(parts).astype(np.float32)


class RetrievalLocalizer:
    def __init__(self, frames: Iterable[Frame]):
        poses, descriptors = [], []
        for frame in frames:
            poses.append(frame.T_wc)
            descriptors.append(global_descriptor(frame.image()))
        self.poses: list[Transform] = poses
        self.descriptors = np.stack(descriptors)

    def localize(self, rgb: NDArray[np.uint8]) -> Transform:
        scores = self.descriptors @ global_descriptor(rgb)
        return self.poses[int(np.argmax(scores))]
