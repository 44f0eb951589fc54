"""The prior node's answer for one image (ROS-free): PoseNet, image retrieval, or both.

With both, each localizes the image and the one whose calibrated position covariance is the
smaller is answered: both covariances are scaled on held-out frames to cover their errors, so the
smaller one is the one expected to be closer.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pose_reloc.errors import PoseRelocError
from pose_reloc.posenet.localizer import PoseEstimate, PoseNetLocalizer
from pose_reloc.posenet.retrieval import RetrievalLocalizer

PRIOR_SOURCES = ("posenet", "retrieval", "both")


class PriorLocalizer:
    def __init__(
        self, posenet: PoseNetLocalizer | None = None, retrieval: RetrievalLocalizer | None = None
    ):
        if posenet is None and retrieval is None:
            raise PoseRelocError("a prior needs PoseNet, a retrieval index or both")
        self.posenet, self.retrieval = posenet, retrieval

    @property
    def source(self) -> str:
        if self.posenet is not None and self.retrieval is not None:
            return "both"
        return "posenet" if self.posenet is not None else "retrieval"

    def localize(self, rgb: NDArray[np.uint8]) -> PoseEstimate:
        estimates = [
            localizer.localize(rgb)
            for localizer in (self.posenet, self.retrieval)
            if localizer is not None
        ]
        return min(estimates, key=lambda e: float(np.trace(e.covariance[:3, :3])))
