"""map-site measured on real images whose poses are known (the KITTI snippets), ground truth used
only to score and, with drift added, as the robot's odometry:

1. the true camera poses become a wheel-odometry stand-in: the same drift model as our synthetic
   robot's (`synth.sensors.wheel_odometry`: a constant scale error, a heading creep per metre,
   white noise on each step), planar, in a gravity-aligned odom frame;
2. map-site maps the even frames from their images and that odometry, and registers each of
   them against the map it built;
3. the odd frames, in no keyframe, are localized against the site's map as the node would:
   priors off the truth by a fixed distance and angle in seeded random directions, refined by
   PnP against the map;
4. the site is brought onto the truth by one similarity fitted on the registered even frames
   (the map's scale is the odometry's, with its scale error; the SE(3) keyframe figures say what
   that error costs) and the odd frames are scored there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pose_reloc.datasets.record import Frame
from pose_reloc.errors import PoseRelocError
from pose_reloc.evaluation.metrics import fraction_within
from pose_reloc.geometry import Transform, rotation_error_deg
from pose_reloc.synth.config import SensorsConfig
from pose_reloc.synth.sensors import wheel_odometry
from pose_reloc.tools.site.inputs import CAMERA_IN_BASE, MappingInput
from pose_reloc.tools.site.run import Site, SiteSettings, make_site
from pose_reloc.tools.site.score import PoseSimilarity
from vo_fusion.evaluation.pnp_comparison import offset_pose, prior_covariance
from vo_fusion.refine import refine_pose


@dataclass(frozen=True)
class PosedImagesProtocol:
    odometry: SensorsConfig = field(default_factory=SensorsConfig)  # the stand-in's drift
    prior_offset_m: float = 2.0
    prior_offset_deg: float = 5.0
    seed: int = 0

    def distance_error(self) -> float:
        """The stand-in's white error on the length of a mapped step (two frames' steps, each
        with `wheel_noise`): the prior map-site's `odometry_distance_error` should say, since
        monocular images cannot correct a step's length, only the odometry can."""
        return self.odometry.wheel_noise / np.sqrt(2.0)


def odometry_stand_in(
    truth: Sequence[Transform],
    stamps: Sequence[float],
    drift: SensorsConfig,
    rng: np.random.Generator,
) -> list[Transform]:
    """T_odom_cam of a wheel odometry that drifts as `drift` says, for a camera at base_link
    (looking along x) that moved as `truth` (T_world_cam, z up) says."""
    mount = Transform(CAMERA_IN_BASE, np.zeros(3))
    base = [T @ mount.inverse() for T in truth]
    samples = wheel_odometry(base, stamps, [True] * len(base), drift, rng)
    return [sample.T_odom_base @ mount for sample in samples]


def evaluate_posed_images(
    frames: Sequence[Frame],
    settings: SiteSettings,
    protocol: PosedImagesProtocol,
    folder: Path,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Figures of the protocol in the module docstring; the site is written into `folder`."""
    if len(frames) < 8:
        raise PoseRelocError(f"{len(frames)} frames: the protocol needs 8 or more")
    rng = np.random.default_rng(protocol.seed)
    truth = [frame.T_wc for frame in frames]
    odometry = odometry_stand_in(truth, [f.stamp for f in frames], protocol.odometry, rng)
    even = range(0, len(frames), 2)
    mapped = [replace(frames[i], T_wc=odometry[i]) for i in even]
    site = make_site(MappingInput(mapped, [truth[i] for i in even], None), settings, folder)
    to_truth = _site_onto_truth(site, {frames[i].stamp: truth[i] for i in even})
    odd = [frames[i] for i in range(1, len(frames), 2)]
    log(f"localizing {len(odd)} odd frames against the site's map")
    figures = {
        "protocol": _described(protocol),
        "site": site.figures,
        "site_to_truth_scale": to_truth.scale,
        **_localize(odd, site, to_truth, protocol, rng),
    }
    return figures


def _site_onto_truth(site: Site, truth_by_stamp: dict[float, Transform]) -> PoseSimilarity:
    if len(site.registered) < 3:
        raise PoseRelocError(
            f"only {len(site.registered)} mapped frames registered against the site's map: "
            "nothing to align with the truth"
        )
    return PoseSimilarity.fit(
        [f.T_wc for f in site.registered], [truth_by_stamp[f.stamp] for f in site.registered]
    )


def _localize(
    frames: Sequence[Frame],
    site: Site,
    to_truth: PoseSimilarity,
    protocol: PosedImagesProtocol,
    rng: np.random.Generator,
) -> dict[str, Any]:
    offset_m = protocol.prior_offset_m / to_truth.scale  # in the site's units
    covariance = prior_covariance(offset_m, protocol.prior_offset_deg)
    position_errors: list[float] = []
    rotation_errors: list[float] = []
    reasons: dict[str, int] = {}
    for frame in frames:
        prior = offset_pose(to_truth.undo(frame.T_wc), offset_m, protocol.prior_offset_deg, rng)
        result = refine_pose(frame.image(), frame.camera, prior, covariance, site.feature_map)
        if result.accepted and result.T_wc is not None:
            estimate = to_truth.apply(result.T_wc)
            error = estimate.translation - frame.T_wc.translation
            position_errors.append(float(np.linalg.norm(error)))
            rotation_errors.append(rotation_error_deg(estimate, frame.T_wc))
        else:
            reason = result.reason.split(":")[0].strip() or "not accepted"
            reasons[reason] = reasons.get(reason, 0) + 1
    accepted = len(position_errors)
    figures: dict[str, Any] = {
        "odd_frames": len(frames),
        "odd_accepted": accepted,
        "odd_accepted_share": accepted / len(frames),
        "odd_not_accepted": reasons,
    }
    if accepted:
        errors = np.array(position_errors)
        figures.update(
            odd_position_median_m=float(np.median(errors)),
            odd_position_p90_m=float(np.percentile(errors, 90)),
            odd_rotation_median_deg=float(np.median(rotation_errors)),
            odd_within_5cm_2deg=fraction_within(errors, rotation_errors, 0.05, 2.0),
        )
    return figures


def _described(protocol: PosedImagesProtocol) -> dict[str, Any]:
    drift = protocol.odometry
    return {
        "odometry": "ground truth + drift (stand-in for wheel odometry)",
        "odometry_scale_error": drift.wheel_scale_error,
        "odometry_yaw_drift_deg_per_m": drift.wheel_yaw_drift_deg_per_m,
        "odometry_noise": drift.wheel_noise,
        "odometry_yaw_noise_deg": drift.wheel_yaw_noise_deg,
        "mapped": "even frames",
        "localized": "odd frames",
        "prior_offset_m": protocol.prior_offset_m,
        "prior_offset_deg": protocol.prior_offset_deg,
        "seed": protocol.seed,
        "aligned_by": "one similarity fitted on the registered even frames",
    }
