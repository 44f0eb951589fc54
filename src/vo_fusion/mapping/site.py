"""A site mapped from a robot's drive: camera-rate frames posed by its odometry in, keyframe poses
in a gravity-aligned metric map frame out, with what each stage measured.

The odometry anchors what the images cannot fix: the length of each step (forward motion between
neighbouring keyframes leaves the images' direction of travel uncertain by degrees), and the
poses of keyframes whose images match nothing. The images correct what wheel odometry gets
wrong, its heading above all, through bundle adjustments of the keyframes and their points with
the odometry as relative-pose factors, window by window along the drive; then loop closures
(keyframes the robot passed before, near where the adjusted poses say it is now, verified by
their geometry and measured by PnP) bend the drift out in a pose graph, and one adjustment of
all keyframes, with the loops' matches joined into the tracks, finishes the poses. The
camera's height above the ground or the GPS (or the odometry, where neither serves) sets the
scale.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pose_reloc.datasets.record import Frame
from pose_reloc.geometry import Transform
from vo_fusion.build_map import View, detect_views
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.adjustment import (
    AdjustedKeyframes,
    adjust_keyframes,
    adjust_windows,
    triangulate_keyframes,
)
from vo_fusion.mapping.bundle import OdometryErrors, PoseFactors
from vo_fusion.mapping.gravity import GravityPriors
from vo_fusion.mapping.keyframes import path_lengths, select_keyframes
from vo_fusion.mapping.loops import LoopClosure, LoopSearch, close_loops, loop_candidates
from vo_fusion.mapping.pose_graph import UP, Edge, PoseGraph
from vo_fusion.mapping.scale import (
    PositionFixes,
    ScaleEstimate,
    scale_from_camera_height,
    scale_from_fixes,
    scale_from_odometry,
    scaled_poses,
    surer_scale,
)
from vo_fusion.mapping.two_view import TwoView, descriptor_matches, verify_pair
from vo_fusion.parallel import thread_map

MIN_FEATURES = 50  # a keyframe with fewer (dark, blank, blurred) is posed by odometry alone


@dataclass(frozen=True)
class MappingConfig:
    descriptor: str = "orb"
    max_features: int = 2000
    keyframe_distance_m: float = 0.5
    keyframe_rotation_deg: float = 5.0
    sequential_pairs: int = 4  # each keyframe matched with this many following ones
    min_inliers: int = 30
    loops: LoopSearch = field(default_factory=LoopSearch)
    odometry_distance_error: float = 0.01  # sigma of an odometry step, a fraction of its length
    odometry_heading_error_deg_per_m: float = 0.5  # sigma of a step's turn, per metre
    # The odometry's systematic errors, estimated with the map (see bundle.OdometryErrors), with
    # these prior sigmas; None: taken as absent.
    odometry_scale_error: float | None = 0.05  # a fraction
    odometry_yaw_drift_deg_per_m: float | None = 1.0
    odometry_turn_scale_error: float | None = 0.1  # a fraction of each turn
    tilt_error_deg: float = 1.0  # of the gravity direction the odometry (flat ground) gives
    max_reprojection_px: float = 2.0
    camera_height_m: float | None = None  # above the ground; None: scale from odometry
    # A level site (a warehouse floor, a flat campus): every keyframe's camera at one height
    # within this sigma (m), as SE(2)-constrained mapping of ground robots assumes; None: the
    # ground may climb. The user's word: with wheel odometry and its flat-ground tilt priors the
    # images barely resist it (a 5 % hill flattened raised the reprojection rms 0.38 -> 0.40 px).
    level_ground_m: float | None = None

    def __post_init__(self) -> None:
        sigmas = {
            "odometry distance error": self.odometry_distance_error,
            "odometry heading error": self.odometry_heading_error_deg_per_m,
            "odometry scale error": self.odometry_scale_error,
            "odometry yaw drift error": self.odometry_yaw_drift_deg_per_m,
            "odometry turn scale error": self.odometry_turn_scale_error,
            "tilt error": self.tilt_error_deg,
            "level ground sigma": self.level_ground_m,
        }
        for name, sigma in sigmas.items():
            if sigma is not None and not sigma > 0.0:
                raise VoFusionError(f"the {name} is {sigma}: a standard deviation, must be > 0")


@dataclass
class SiteMapping:
    """Keyframe `poses` (T_map_cam; `keyframes` index the input frames), the adjusted points and
    their tracks, the loop closures, the scale, what was measured on the way (`figures`), and
    the descriptor matches of the keyframe pairs it tried (`descriptor_matches`: build_map takes
    them)."""

    keyframes: list[int]
    poses: list[Transform]
    adjusted: AdjustedKeyframes
    loops: list[LoopClosure]
    scale: ScaleEstimate
    figures: dict[str, float | int | str] = field(default_factory=dict)
    descriptor_matches: dict[tuple[int, int], NDArray[np.int32]] = field(default_factory=dict)

    def frame_poses(self, frames: Sequence[Frame]) -> list[Transform]:
        """T_map_cam for every input frame: the nearest keyframe's pose moved by the odometry
        between the two (the keyframes' correction carried to the frames between them)."""
        keys = np.asarray(self.keyframes)
        result = []
        for index, frame in enumerate(frames):
            k = int(np.abs(keys - index).argmin())
            step = frames[self.keyframes[k]].T_wc.inverse() @ frame.T_wc
            scaled = Transform(step.rotation, step.translation * self.scale.scale)
            result.append(self.poses[k] @ scaled)
        return result


def map_site(
    frames: Sequence[Frame],
    config: MappingConfig = MappingConfig(),
    log: Callable[[str], None] = print,
    fixes: PositionFixes | None = None,
    step_noise: NDArray[np.float64] | None = None,
    gravity: GravityPriors | None = None,
) -> SiteMapping:
    """Map the drive in `frames`, whose `T_wc` are the odometry's T_odom_cam (the mount applied);
    `fixes` (GPS), where given, may set the scale (`_scale` says when); `step_noise`, where
    given, (len(frames) - 1, 2) the variances of the distance (m²) and the turn (rad²) the
    odometry measured from each frame to the next, as it states them: they weigh its steps in
    place of the configured fractions (the turn's only about the up axis; tilts stay
    configured: wheels do not measure them); `gravity`, where given, the world's up in each
    frame's camera axes as an IMU measured it: it tilts the keyframes it measured in place of
    the odometry's flat ground."""
    started = time.perf_counter()
    lap = _Laps()
    odometry = [frame.T_wc for frame in frames]
    keyframes = select_keyframes(odometry, config.keyframe_distance_m, config.keyframe_rotation_deg)
    driven = float(path_lengths(odometry)[-1]) if odometry else 0.0
    if len(keyframes) < 3:
        raise VoFusionError(
            f"the drive moved {driven:.2f} m by its odometry ({len(frames)} frames, "
            f"{len(keyframes)} keyframes): a map needs a drive of several metres"
        )
    key_odometry = [odometry[k] for k in keyframes]
    log(f"{len(keyframes)} keyframes of {len(frames)} frames over {driven:.0f} m")
    views = detect_views(
        [frames[k] for k in keyframes], config.descriptor, config.max_features, level_offset=True
    )
    blind = sum(len(v.features) < MIN_FEATURES for v in views)
    lap("features")
    neighbours = _neighbour_pairs(views, config)
    lap("neighbour_pairs")
    log(f"{len(neighbours)} neighbour pairs verified, {blind} keyframes without features")
    if not neighbours:
        raise VoFusionError(
            f"no two keyframes matched ({blind} of {len(views)} keyframes have fewer than "
            f"{MIN_FEATURES} features): no point could be triangulated; are the images dark, "
            "blank or blurred?"
        )
    key_noise = None
    if step_noise is not None:
        key_noise = _between_keyframes(np.asarray(step_noise), keyframes, len(frames))
    key_gravity = None if gravity is None else _at_keyframes(gravity, keyframes, len(frames))
    factors = _odometry_factors(key_odometry, config, key_noise, key_gravity)
    adjusted, loops, candidates = _adjust_drive(
        views, key_odometry, neighbours, factors, config, lap
    )
    log(f"{len(loops)} loop closures of {len(candidates)} candidates")
    stamps = np.array([frames[k].stamp for k in keyframes])
    # The camera height is along the ground's normal, the mount's up (not gravity's, on a slope)
    ground_normal = _odometry_up(key_odometry)
    scale, scale_figures = _scale(adjusted, key_odometry, ground_normal, config, stamps, fixes)
    final = scaled_poses(adjusted.poses, scale.scale)
    elapsed = time.perf_counter() - started
    log(
        f"adjusted {len(adjusted.points)} points from {adjusted.rms_before_px:.2f} to "
        f"{adjusted.rms_after_px:.2f} px rms; scale "
        f"x{scale.scale:.4f} from the {scale.source} ({elapsed:.0f} s)"
    )
    figures: dict[str, float | int | str] = {
        "frames": len(frames),
        "keyframes": len(keyframes),
        "driven_m": round(driven, 2),
        "keyframes_without_features": blind,
        "neighbour_pairs_verified": len(neighbours),
        "loop_candidates": len(candidates),
        "loop_closures": len(loops),
        "points": len(adjusted.points),
        "rms_before_px": round(adjusted.rms_before_px, 3),
        "rms_after_px": round(adjusted.rms_after_px, 3),
        "inlier_share": round(adjusted.inlier_share, 4),
        "scale": scale.scale,
        "scale_source": scale.source,
        **scale_figures,
        "keyframes_tilted_by_imu": 0 if key_gravity is None else int(key_gravity.measured.sum()),
        "odometry_scale_in_map": round(adjusted.odometry.scale, 5),
        "odometry_yaw_drift_deg_per_m": round(adjusted.odometry.yaw_drift_deg_per_m, 4),
        "odometry_turn_scale": round(adjusted.odometry.turn_scale, 4),
        "seconds": round(elapsed, 1),
        **{f"seconds_{stage}": seconds for stage, seconds in lap.items()},
    }
    matched = descriptor_matches([*neighbours, *(loop.pair for loop in loops)])
    return SiteMapping(keyframes, final, adjusted, loops, scale, figures, matched)


class _Laps(dict[str, float]):
    """Seconds per stage: each call closes the stage it names."""

    def __init__(self) -> None:
        super().__init__()
        self._last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self[stage] = round(now - self._last, 1)
        self._last = now


def _neighbour_pairs(views: Sequence[View], config: MappingConfig) -> list[TwoView]:
    pairs = [
        (i, j)
        for i in range(len(views) - 1)
        for j in range(i + 1, min(i + 1 + config.sequential_pairs, len(views)))
    ]
    verified = thread_map(
        lambda ij: verify_pair(
            views[ij[0]], views[ij[1]], *ij, config.descriptor, min_inliers=config.min_inliers
        ),
        pairs,
    )
    return [pair for pair in verified if pair is not None]


def _adjust_drive(
    views: Sequence[View],
    odometry: Sequence[Transform],
    neighbours: Sequence[TwoView],
    factors: PoseFactors,
    config: MappingConfig,
    lap: _Laps,
) -> tuple[AdjustedKeyframes, list[LoopClosure], list[tuple[int, int]]]:
    """Windows along the drive, loops searched from their poses (against their points, not yet
    adjusted together: the loops' adjustment does that), the drive bent by the loops, then all
    keyframes adjusted together with the loops' matches in the tracks."""
    px = config.max_reprojection_px
    drive = adjust_windows(views, odometry, neighbours, factors, px)
    lap("window_adjustment")
    candidates = loop_candidates(drive, path_lengths(odometry), config.loops)
    loops: list[LoopClosure] = []
    if candidates:
        points = triangulate_keyframes(views, drive, neighbours, px)
        loops = close_loops(views, points, candidates, config.descriptor, config.loops)
    lap("loop_search")
    if loops:
        drive = _close(drive, loops, factors, config)
    pairs = [*neighbours, *(loop.pair for loop in loops)]
    adjusted = adjust_keyframes(views, drive, pairs, factors, px)
    lap("adjustment")
    return adjusted, loops, candidates


def _at_keyframes(gravity: GravityPriors, keyframes: list[int], n_frames: int) -> GravityPriors:
    if len(gravity.sigma_rad) != n_frames:
        raise VoFusionError(f"{len(gravity.sigma_rad)} gravity directions for {n_frames} frames")
    return GravityPriors(gravity.up[keyframes], gravity.sigma_rad[keyframes])


def _between_keyframes(
    step_noise: NDArray[np.float64], keyframes: Sequence[int], n_frames: int
) -> NDArray[np.float64]:
    """(K - 1, 2) the variances summed over the frame steps from each keyframe to the next."""
    if step_noise.shape != (n_frames - 1, 2) or not np.all(np.isfinite(step_noise)):
        raise VoFusionError(
            f"the odometry's step noise is {step_noise.shape} (finite: "
            f"{bool(np.all(np.isfinite(step_noise)))}): one finite (distance, turn) variance "
            f"pair per step between {n_frames} frames is needed"
        )
    summed = np.vstack([np.zeros((1, 2)), np.cumsum(step_noise, axis=0)])
    return np.asarray(np.diff(summed[np.asarray(keyframes)], axis=0), dtype=np.float64)


# What the stated noise leaves out (image and odometry stamps never agree exactly; the images'
# poses are interpolated between odometry messages): added in quadrature.
STATED_NOISE_FLOOR_M = 0.001
STATED_NOISE_FLOOR_RAD = np.radians(0.01)


def _odometry_factors(
    odometry: Sequence[Transform],
    config: MappingConfig,
    stated: NDArray[np.float64] | None = None,
    gravity: GravityPriors | None = None,
) -> PoseFactors:
    """The odometry's steps between keyframes as factors, weighted by the noise the odometry
    states (`stated`: variances of each step's distance and turn) or else by the configured
    fractions of each step; each keyframe's up as the IMU measured it (`gravity`) or else as
    the odometry's flat ground has it."""
    pairs = [(i, i + 1) for i in range(len(odometry) - 1)]
    steps = [odometry[i].inverse() @ odometry[j] for i, j in pairs]
    lengths = np.array([np.linalg.norm(s.translation) for s in steps])
    sigma_rotation = np.radians(config.odometry_heading_error_deg_per_m * np.maximum(lengths, 0.1))
    sigma_translation = config.odometry_distance_error * lengths + 0.005
    sigma_yaw = None
    if stated is not None:
        sigma_translation = np.sqrt(stated[:, 0] + STATED_NOISE_FLOOR_M**2)
        sigma_yaw = np.sqrt(stated[:, 1] + STATED_NOISE_FLOOR_RAD**2)
    up = _odometry_up(odometry)
    sigma_tilt = np.full(len(odometry), np.radians(config.tilt_error_deg))
    if gravity is not None:
        measured = gravity.measured
        up[measured] = gravity.up[measured]
        sigma_tilt[measured] = gravity.sigma_rad[measured]
    return PoseFactors.between(
        pairs,
        steps,
        sigma_rotation,
        sigma_translation,
        up,
        sigma_tilt,
        OdometryErrors(
            None if config.odometry_scale_error is None else np.log1p(config.odometry_scale_error),
            _radians(config.odometry_yaw_drift_deg_per_m),
            config.odometry_turn_scale_error,
        ),
        sigma_yaw,
        config.level_ground_m,
    )


def _odometry_up(odometry: Sequence[Transform]) -> NDArray[np.float64]:
    """(n, 3) the odometry's up (+z of odom) in each camera's axes: the mount's, on planar
    odometry."""
    return np.array([T.rotation.inv().apply(UP) for T in odometry])


def _radians(degrees: float | None) -> float | None:
    return None if degrees is None else float(np.radians(degrees))


# A loop's PnP covariance counts its pixels' noise, not the error of the points it was measured
# on (triangulated within a window, metres uncertain in depth at 30-50 m), and loops along one
# revisited street share those points, so their errors are not independent. On the survey the
# PnP's sigma ranks the loops' true errors well (Spearman 0.82; 0.04 m median below a 3 cm
# sigma, 0.22 m over all) and inflated by 40 it gave the best graph of 1.5-100 (keyframe ATE
# 0.61 m with every loop at 5 cm / 0.2 degrees -> 0.17 m), from which the final adjustment
# needs 10 iterations, not 35.
LOOP_SIGMA_INFLATION = 40.0
LOOP_FLOOR_M = 0.01
LOOP_FLOOR_RAD = np.radians(0.05)


def _close(
    poses: Sequence[Transform],
    loops: Sequence[LoopClosure],
    factors: PoseFactors,
    config: MappingConfig,
) -> list[Transform]:
    """The adjusted poses bent by the loop closures: a pose graph of the adjusted neighbour
    steps (stiff) and the closures (each as sure as its PnP, inflated; robust to a wrong one)."""
    graph = PoseGraph(up_in_camera=factors.up_in_camera, sigma_tilt_rad=factors.sigma_tilt_rad)
    for i in range(len(poses) - 1):
        step = poses[i].inverse() @ poses[i + 1]
        length = float(np.linalg.norm(step.translation))
        graph.add(
            Edge(
                i,
                i + 1,
                step.rotation,
                np.radians(0.05),
                t_ij=step.translation,
                sigma_translation_m=0.01 * length + 0.005,
            )
        )
    for loop in loops:
        graph.add(
            Edge(
                loop.pair.i,
                loop.pair.j,
                loop.T_ij.rotation,
                float(np.hypot(LOOP_SIGMA_INFLATION * loop.sigma_rotation_rad, LOOP_FLOOR_RAD)),
                t_ij=loop.T_ij.translation,
                sigma_translation_m=float(
                    np.hypot(LOOP_SIGMA_INFLATION * loop.sigma_translation_m, LOOP_FLOOR_M)
                ),
            )
        )
    return graph.solve(poses)


def _scale(
    adjusted: AdjustedKeyframes,
    odometry: Sequence[Transform],
    ground_normal: NDArray[np.float64],
    config: MappingConfig,
    stamps: NDArray[np.float64],
    fixes: PositionFixes | None,
) -> tuple[ScaleEstimate, dict[str, float]]:
    """From the GPS or the camera height (heights along `ground_normal`, in each camera's axes:
    the odometry's up, the mount's), whichever is surer (`surer_scale`), else from the
    odometry's distances; with what each gave."""
    centres = np.array([T.translation for T in adjusted.poses])
    figures: dict[str, float] = {}
    by_height = None
    if config.camera_height_m is not None:
        tracks = adjusted.tracks
        by_height = scale_from_camera_height(
            adjusted.poses,
            adjusted.points,
            tracks.view,
            tracks.track,
            config.camera_height_m,
            ground_normal,
        )
        if by_height is not None:
            figures["scale_by_camera_height"] = by_height.scale
    by_gps = scale_from_fixes(centres, stamps, fixes) if fixes is not None else None
    if by_gps is not None:
        figures |= {"scale_by_gps": by_gps.scale, "scale_by_gps_std": by_gps.std or float("nan")}
    chosen = surer_scale(by_gps, by_height)
    if chosen is not None:
        return chosen, figures
    return scale_from_odometry(centres, np.array([T.translation for T in odometry])), figures
