"""Two keyframes matched and verified by their epipolar geometry alone (no pose trusted): the
essential matrix by USAC-MAGSAC on the undistorted normalised coordinates, the relative rotation
checked for points in front of both cameras, and the inlier matches kept for the tracks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from vo_fusion.build_map import View
from vo_fusion.features import match_descriptors


@dataclass(frozen=True)
class TwoView:
    """Keyframes i and j seen together: `matches` (K, 2) keypoint indices (in i, in j) that fit
    the geometry (their relative pose comes from the odometry and the adjustment), of the
    `candidates` (M, 2) that their descriptors matched (kept for the map build, which matches
    the same features again under the final poses)."""

    i: int
    j: int
    matches: NDArray[np.int64]
    candidates: NDArray[np.int32]

    @property
    def inliers(self) -> int:
        return len(self.matches)

    def as_edges(self) -> NDArray[np.int64]:
        """(K, 4) rows (view i, keypoint in i, view j, keypoint in j), as build_map's tracks take."""
        n = len(self.matches)
        return np.column_stack(
            [np.full(n, self.i), self.matches[:, 0], np.full(n, self.j), self.matches[:, 1]]
        ).astype(np.int64)


def descriptor_matches(pairs: Iterable[TwoView]) -> dict[tuple[int, int], NDArray[np.int32]]:
    """The pairs' candidates by (i, j) with i < j (a pair given as j, i turned round, its rows in
    the order matching i's descriptors against j's gives), as build_map takes them."""
    matches = {}
    for pair in pairs:
        if pair.i < pair.j:
            matches[(pair.i, pair.j)] = pair.candidates
        else:
            turned = pair.candidates[:, ::-1]
            matches[(pair.j, pair.i)] = turned[np.argsort(turned[:, 0], kind="stable")]
    return matches


def verify_pair(
    a: View,
    b: View,
    i: int,
    j: int,
    descriptor: str,
    ratio: float = 0.8,
    threshold_px: float = 1.0,
    min_inliers: int = 30,
) -> TwoView | None:
    """The verified relation of views a (index i) and b (index j), or None when fewer than
    `min_inliers` matches fit one essential matrix with points in front of both cameras."""
    pairs = match_descriptors(a.features.descriptors, b.features.descriptors, descriptor, ratio)
    if len(pairs) < max(min_inliers, 5):
        return None
    xa = np.ascontiguousarray(a.normalized[pairs[:, 0]])
    xb = np.ascontiguousarray(b.normalized[pairs[:, 1]])
    E, mask = cv2.findEssentialMat(
        xa, xb, np.eye(3), method=cv2.USAC_MAGSAC, prob=0.999, threshold=threshold_px / a.camera.fx
    )
    if E is None or E.shape != (3, 3) or mask is None or int(mask.sum()) < min_inliers:
        return None
    _, _, _, cheiral = cv2.recoverPose(E, xa, xb, np.eye(3), mask=mask.copy())
    inliers = cheiral.ravel() > 0
    if int(inliers.sum()) < min_inliers:
        return None
    return TwoView(i, j, pairs[inliers], pairs.astype(np.int32))
