"""The prior node's answer for one image (ROS-free): PoseNet, image retrieval, or both.

With both, retrieval answers when PoseNet agrees with it (their 6-DoF difference inside the 99 %
gate of the two covariances), PoseNet otherwise: retrieval is the more precise where the robot is
on its mapped route and knows it (0.2-0.4 m against PoseNet's 3-5 m on the demo city), but answers
with the pose of a merely similar view when the camera looks elsewhere, where PoseNet is still
metres, not streets, off. When retrieval does not recognize the image, PoseNet answers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import pose_mahalanobis
from pose_reloc.posenet.localizer import PoseEstimate, PoseNetLocalizer
from pose_reloc.posenet.retrieval import NotRecognizedError, RetrievalLocalizer

PRIOR_SOURCES = ("posenet", "retrieval", "both")
PRIOR_LABELS = {"posenet": "PoseNet", "retrieval": "retrieval", "both": "PoseNet + retrieval"}
AGREEMENT_CHI2 = 16.8119  # chi-square, 6 degrees of freedom, 99 % (scipy.stats is slow to import)


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

    def loaded(self) -> list[tuple[str, str, str]]:
        """(kind, path, site) of the model and the index it answers from, for check_sites."""
        loaded = []
        if self.posenet is not None:
            loaded.append(("PoseNet model", str(self.posenet.model.path), self.posenet.site))
        if self.retrieval is not None:
            where = str(self.retrieval.path) if self.retrieval.path else "(in memory)"
            loaded.append(("retrieval index", where, self.retrieval.site))
        return loaded

    def localize(self, rgb: NDArray[np.uint8]) -> PoseEstimate:
        if self.retrieval is None:
            return self.posenet.localize(rgb)  # type: ignore[union-attr]
        if self.posenet is None:
            return self.retrieval.localize(rgb)
        posenet = self.posenet.localize(rgb)
        try:
            retrieved = self.retrieval.localize(rgb)
        except NotRecognizedError:
            return posenet
        return retrieved if agree(posenet, retrieved) else posenet


def agree(a: PoseEstimate, b: PoseEstimate) -> bool:
    """Whether two estimates of one pose are consistent (inside the 99 % gate)."""
    distance = pose_mahalanobis(a.T_map_cam, a.covariance, b.T_map_cam, b.covariance)
    return distance**2 <= AGREEMENT_CHI2
