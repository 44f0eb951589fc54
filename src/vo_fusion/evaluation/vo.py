"""`pose-reloc evaluate vo`: monocular visual odometry on a real posed sequence (KITTI) against
its ground truth.

Where metric scale comes from. One camera measures no distance, so the scale has to come from
somewhere; here it comes from the map, as on a robot: a small `FeatureMap` is built from the first
`init_frames` images and their ground-truth poses (what a robot's prebuilt map gives it at the
start), the first frame's ground-truth pose goes to the fusion core as a prior, the map confirms it
(`refine.refine_pose`) and odometry starts from the map points PnP matched. After that first fix
the core gets no more map fixes (`FusionConfig.map_fix_period_s` huge): every later pose is pure
keyframe odometry, so its errors are VO drift.

Figures (camera centres and orientations in the map frame, which is the ground truth's):
`ate_rmse_m_sim3` (after the Sim(3) Umeyama alignment of the tracked positions to ground truth,
`sim3_scale` the scale it found: near 1 when the map's scale carried through), `ate_rmse_m` (as
estimated, no alignment), `median_rotation_deg` and `final_rotation_deg`, `rot_drift_deg_per_100m`,
`translation_drift_percent` (final position error over the distance travelled),
`tracked_frames` of `frames` (the core TRACKING with a pose measured on that frame: the map fix or
an odometry PnP, not coasting), `frame_ms` (median time of `FusionCore.on_image`). Trajectories go
to `groundtruth.tum` and `vo.tum` beside the JSON (`evo_ape tum groundtruth.tum vo.tum -as`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pose_reloc.datasets.record import Frame
from pose_reloc.datasets.rosbag import OdometryReading
from pose_reloc.evaluation.metrics import median
from pose_reloc.geometry import Transform, pose_errors, translation_error_m
from vo_fusion.build_map import build_map
from vo_fusion.errors import VoFusionError
from vo_fusion.evaluation.fusion import (
    FrameRecord,
    RobotFeed,
    feed_robot,
    odometry_only,
    rotation_drift_per_100m,
    write_run,
)
from vo_fusion.fusion import FusionCore, FusionOutput
from vo_fusion.odometry import OdometryConfig
from vo_fusion.refine import RefineConfig
from vo_fusion.tracking import TrackingState

# One map fix at the start (the first frame's prior), none after: pure visual odometry.
VO_ONLY = odometry_only()
# The prior given with the first frame's ground-truth pose: tight, since it is the truth, but
# loose enough that the map's own error passes refine_pose's agreement test.
START_POSITION_STD_M = 0.1
START_ROTATION_STD_DEG = 1.0
# Odometry for KITTI-like driving (1226x370, ~1.2 m forward between frames, so near corners move
# tens of pixels): a deeper flow pyramid, more corners kept further apart over the wider image,
# 1 degree of parallax to triangulate (at ~2.4 m baseline, points 15-30 m away are seen under
# less than 2 degrees), and a lower kept fraction: at that speed a frame keeps only 35-65 % of
# the last one's points (measured on kitti_snippet_a), and with the default 0.3 the track ends at
# frame 20, where a car ahead fills the view. A keyframe every frame (they are ~1.2 m apart;
# every 5th, the default, leaves the window too sparse: Sim(3) ATE 3.1 m instead of 0.12 m).
# The first map fix matches 5000 ORB features: with fewer, the strongest corners cluster on one
# textured façade.
KITTI_ODOMETRY = OdometryConfig(
    max_tracks=1500,
    min_corner_distance_px=12.0,
    flow_pyramid_levels=4,
    min_triangulation_deg=1.0,
    min_kept_fraction=0.15,
    keyframe_every=1,
)
KITTI_REFINE = RefineConfig(max_features=5000)
# Presets of `pose-reloc evaluate vo --odometry`: KITTI-like driving, or the nodes' own defaults
# (a robot's camera at 10 Hz and walking-to-driving speed).
ODOMETRY_PRESETS = {"kitti": KITTI_ODOMETRY, "robot": OdometryConfig()}
# The map the first fix is made against: the first 5 frames, 5000 features each. Measured on the
# two real snippets (ORB): from 3 frames and 2000 features, kitti_snippet_b's foliage gave 24 map
# points and no first fix (19 inliers < 30); from 5 and 5000 both run to the end (Sim(3) ATE
# 0.32 m on a, 0.35 m on b). SIFT from 5 frames and 2000 features: 0.40 m / 0.22 m.
INIT_FRAMES = 5
# The wheel odometry stand-in (`--wheel-stand-in`): as the synthetic city's sensors render it.
WHEEL_SCALE_ERROR = 0.02
WHEEL_NOISE = 0.01
MAP_FEATURES = 5000


@dataclass(frozen=True)
class Similarity:
    """x ↦ scale · R x + t."""

    scale: float
    rotation: NDArray[np.float64]  # 3x3
    translation: NDArray[np.float64]  # 3

    def apply(self, points: ArrayLike) -> NDArray[np.float64]:
        p = np.asarray(points, dtype=np.float64)
        return np.asarray(self.scale * p @ self.rotation.T + self.translation, dtype=np.float64)


def umeyama_alignment(source: ArrayLike, target: ArrayLike, with_scale: bool = True) -> Similarity:
    """The similarity minimising Σ |target_i − (s R source_i + t)|² (Umeyama, PAMI 1991);
    `with_scale=False` gives the rigid SE(3) fit (s = 1). Points are (N, 3), N ≥ 3."""
    x = np.asarray(source, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3 or x.shape != y.shape or len(x) < 3:
        raise VoFusionError(
            f"alignment needs two equally long (N, 3) point sets with N >= 3, got {x.shape} "
            f"and {y.shape}"
        )
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    dx, dy = x - mean_x, y - mean_y
    variance_x = float(np.mean(np.sum(dx**2, axis=1)))
    if variance_x <= 1e-12:
        raise VoFusionError("alignment needs source points that are not all the same point")
    covariance = dy.T @ dx / len(x)
    U, D, Vt = np.linalg.svd(covariance)
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1.0
    R = U @ S @ Vt
    scale = float(np.trace(np.diag(D) @ S) / variance_x) if with_scale else 1.0
    return Similarity(scale, R, mean_y - scale * R @ mean_x)


def evaluate_vo(
    frames: Iterable[Frame],
    init_frames: int = INIT_FRAMES,
    descriptor: str = "orb",
    out: str | Path | None = None,
    log: Callable[[str], None] = print,
    *,
    map_features: int = MAP_FEATURES,
    odometry: OdometryConfig = KITTI_ODOMETRY,
    wheel_stand_in: bool = False,
) -> dict[str, Any]:
    """Monocular VO over `frames`, its metric scale from a map built from the ground-truth poses
    of the first `init_frames` (what a robot's map gives it at the start; see the module
    docstring); `wheel_stand_in`: with `wheel_odometry_stand_in` fused as the robot's odometry.
    The figures, also written to `out` (JSON, TUM files beside)."""
    sequence = list(frames)
    if init_frames < 2:
        raise VoFusionError(f"init_frames is {init_frames}: a map needs at least 2 posed images")
    if len(sequence) <= init_frames:
        raise VoFusionError(
            f"{len(sequence)} frames leave nothing to track after the {init_frames} map frames"
        )
    feature_map = build_map(sequence[:init_frames], descriptor, map_features, log=log)
    core = FusionCore(
        feature_map, VO_ONLY, odometry=odometry, refine=KITTI_REFINE, relocalize=KITTI_REFINE
    )
    feed = wheel_odometry_stand_in(sequence) if wheel_stand_in else None
    records = run_vo(core, sequence, feed)
    figures = vo_figures(records) | {
        "wheel_stand_in": wheel_stand_in,
        "init_frames": init_frames,
        "descriptor": descriptor,
        "map_features": map_features,
        "map_points": len(feature_map),
        "odometry": asdict(odometry),
    }
    if out is not None:
        tracked = [r for r in records if r.T_fused is not None]
        write_run(Path(out), figures, records, "vo.tum", tracked)
    log(
        f"VO over {figures['frames']} frames ({figures['tracked_frames']} tracked, "
        f"{figures['travelled_m']:.1f} m): ATE {figures['ate_rmse_m']:.3f} m "
        f"(Sim(3) {figures['ate_rmse_m_sim3']:.3f} m, scale {figures['sim3_scale']:.3f}), "
        f"rotation median {figures['median_rotation_deg']:.2f} / final "
        f"{figures['final_rotation_deg']:.2f} deg, drift {figures['translation_drift_percent']:.2f}"
        f" %, {figures['frame_ms']:.1f} ms per frame"
    )
    return figures


def wheel_odometry_stand_in(
    frames: Sequence[Frame],
    scale_error: float = WHEEL_SCALE_ERROR,
    noise: float = WHEEL_NOISE,
    seed: int = 0,
) -> RobotFeed:
    """A stand-in for a robot's own odometry where the data has none: the camera's true motion
    between frames with every length `scale_error` too long and `noise` (a fraction of it) of
    white error, chained from the first frame's pose; mounted at the camera itself, every axis
    measured."""
    rng = np.random.default_rng(seed)
    T = frames[0].T_wc
    readings = [OdometryReading(frames[0].stamp, T, np.zeros((6, 6)))]
    for before, after in itertools.pairwise(frames):
        step = before.T_wc.inverse() @ after.T_wc
        length_factor = (1.0 + scale_error) * (1.0 + noise * rng.normal())
        T = T @ Transform(step.rotation, step.translation * length_factor)
        readings.append(OdometryReading(after.stamp, T, np.zeros((6, 6))))
    return RobotFeed(Transform.identity(), readings)


def run_vo(
    core: FusionCore, frames: Sequence[Frame], robot: RobotFeed | None = None
) -> list[FrameRecord]:
    """Every frame through the core, the first with its ground-truth pose as prior, and the
    robot's odometry where given. A record's `T_fused` is set only when the frame was tracked
    (see `_measured`)."""
    first = frames[0]
    covariance = np.diag(
        [START_POSITION_STD_M**2] * 3 + [np.radians(START_ROTATION_STD_DEG) ** 2] * 3
    )
    core.on_prior(first.T_wc, covariance, first.stamp)
    records: list[FrameRecord] = []
    fed = (0, 0)
    T_base_cam = robot.T_base_cam if robot is not None else None
    for frame in frames:
        fed = feed_robot(core, robot, fed, frame.stamp)
        output = core.on_image(frame.image(), frame.camera, frame.stamp, T_base_cam)
        if not records and not output.map_fix:
            raise VoFusionError(
                f"the map of the first frames ({len(core.map)} points) did not confirm the first "
                f"frame's pose ({output.reason}), so odometry has no scale to start from: a "
                "denser map helps (more init frames, more map features, or SIFT on foliage and "
                "low texture); otherwise check the poses and the calibration"
            )
        pose = output.T_map_cam if _measured(output) else None
        records.append(
            FrameRecord(
                stamp=frame.stamp,
                state=output.state,
                T_true=frame.T_wc,
                T_fused=pose,
                kidnap=False,
                frame_ms=output.frame_ms,
                sun_used=False,
            )
        )
    return records


def _measured(output: FusionOutput) -> bool:
    """TRACKING with a pose measured on this frame (not a coasted prediction)."""
    return (
        output.state is TrackingState.TRACKING
        and output.T_map_cam is not None
        and (output.map_fix or output.odometry_inliers > 0)
    )


def vo_figures(records: Sequence[FrameRecord]) -> dict[str, Any]:
    """The figures of the module docstring from the records of `run_vo`."""
    tracked = [(r.T_fused, r.T_true) for r in records if r.T_fused is not None]
    estimates, truths = [e for e, _ in tracked], [t for _, t in tracked]
    t_err, r_err = pose_errors(estimates, truths)
    ate_sim3, scale = float("nan"), float("nan")
    if len(tracked) >= 3:
        estimated = np.array([e.translation for e in estimates])
        true = np.array([t.translation for t in truths])
        alignment = umeyama_alignment(estimated, true)
        ate_sim3 = _rmse(np.linalg.norm(alignment.apply(estimated) - true, axis=1))
        scale = alignment.scale
    travelled = sum(translation_error_m(a.T_true, b.T_true) for a, b in itertools.pairwise(records))
    last = records[-1]
    final_m = final_deg = float("nan")
    if last.T_fused is not None:
        final_m, final_deg = float(t_err[-1]), float(r_err[-1])
    return {
        "frames": len(records),
        "tracked_frames": len(tracked),
        "travelled_m": travelled,
        "ate_rmse_m_sim3": ate_sim3,
        "ate_rmse_m": _rmse(t_err),
        "sim3_scale": scale,
        "median_rotation_deg": median(r_err),
        "final_rotation_deg": final_deg,
        "rot_drift_deg_per_100m": rotation_drift_per_100m(records),
        "translation_drift_percent": 100.0 * final_m / travelled if travelled > 0 else float("nan"),
        "frame_ms": float(np.median([r.frame_ms for r in records])),
    }


def _rmse(errors: NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(errors**2))) if len(errors) else float("nan")
