"""Every frame of the drive posed against the site's map: the prior is the mapped keyframe pose
carried by odometry to the frame, refined by PnP against the feature map (the node's own
refinement); frames it does not accept keep no pose and are counted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from pose_reloc.datasets.record import Frame
from pose_reloc.geometry import Transform
from vo_fusion.feature_map import FeatureMap
from vo_fusion.parallel import thread_map
from vo_fusion.refine import RefinementResult, refine_pose

PRIOR_STD = (0.3, np.radians(3.0))  # metres, radians: the carried keyframe pose's uncertainty
LOG_EVERY = 1000  # frames


@dataclass(frozen=True)
class Registration:
    frames: list[Frame]  # the registered frames, T_wc the refined T_map_cam
    attempted: int
    reasons: dict[str, int]  # why the others were not registered


def register_frames(
    frames: Sequence[Frame],
    priors: Sequence[Transform],
    feature_map: FeatureMap,
    stride: int = 1,
    log: Callable[[str], None] = print,
) -> Registration:
    covariance = np.diag([PRIOR_STD[0] ** 2] * 3 + [PRIOR_STD[1] ** 2] * 3)
    registered: list[Frame] = []
    reasons: dict[str, int] = {}
    chosen = range(0, len(frames), max(stride, 1))

    def refined(index: int) -> RefinementResult:
        frame = frames[index]
        return refine_pose(frame.image(), frame.camera, priors[index], covariance, feature_map)

    for start in range(0, len(chosen), LOG_EVERY):
        batch = chosen[start : start + LOG_EVERY]
        for index, result in zip(batch, thread_map(refined, batch), strict=True):
            if result.accepted and result.T_wc is not None:
                registered.append(replace(frames[index], T_wc=result.T_wc))
            else:
                reason = result.reason.split(":")[0].split("(")[0].strip() or "not accepted"
                reasons[reason] = reasons.get(reason, 0) + 1
        if len(batch) == LOG_EVERY:
            log(f"registered {len(registered)} of {start + len(batch)} frames")
    return Registration(registered, len(chosen), reasons)
