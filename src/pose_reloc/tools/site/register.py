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
from vo_fusion.refine import refine_pose

PRIOR_STD = (0.3, np.radians(3.0))  # metres, radians: the carried keyframe pose's uncertainty


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
    for count, index in enumerate(chosen, 1):
        frame = frames[index]
        result = refine_pose(frame.image(), frame.camera, priors[index], covariance, feature_map)
        if result.accepted and result.T_wc is not None:
            registered.append(replace(frame, T_wc=result.T_wc))
        else:
            reason = result.reason.split(":")[0].split("(")[0].strip() or "not accepted"
            reasons[reason] = reasons.get(reason, 0) + 1
        if count % 1000 == 0:
            log(f"registered {len(registered)} of {count} frames")
    return Registration(registered, len(chosen), reasons)
