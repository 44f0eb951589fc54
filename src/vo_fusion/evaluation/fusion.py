"""`pose-reloc evaluate fusion`: the fusion core over a posed dataset, fed as the nodes feed it,
against ground truth.

Replay protocol (what the three nodes do on a robot): every image goes to `FusionCore.on_image`;
when it asks for relocalization, the prior source (PoseNet, retrieval, both, or a ground-truth
stand-in) localizes
the *next* image and its prior arrives after that image was processed; the sun source estimates
every `sun_every`-th image and its observation arrives after that image was processed.

Figures (camera poses in the map frame, over the frames the core reports TRACKING):
`median_translation_m`, `median_rotation_deg`, `within_25cm_2deg`, `within_5cm_5deg`,
`ate_rmse_m` (absolute: the map frame is the ground truth's, no alignment); `first_fix_s` (from
the start to the first frame tracked within 0.25 m / 2 deg); `kidnaps` (kidnap flags in the
data, or ground truth jumping faster than 10 m/s), `relocalized` (of those, tracked again within
0.25 m / 2 deg before the next kidnap), `relocalized_within_1s` and `relocalized_within_2s`
(shares of the kidnaps), `relocalization_s` (each kidnap's time, null where never),
`median_relocalization_s` (of the relocalized ones), `p90_relocalization_s` (of all kidnaps, a
kidnap never relocalized counting as infinitely slow: null when more than a tenth were not),
`wrong_relocalizations` (kidnaps after which the core reported TRACKING more than 1 m off, other
than in the frames before it noticed the kidnap); `prior_source` (its name), and with a
`scored_prior`, `prior_median_translation_m` (that source on the TRACKING frames); `frame_ms`
(median time of `on_image`). With `drift_frames`: the same run with one map fix at the start,
without and with the sun, gives `rot_drift_deg_per_100m_vo` and `rot_drift_deg_per_100m_vo_sun` over
the first tracked stretch (until the first loss; the shorter of the two runs' stretches, so both are
measured over the same frames), with its length `drift_tracked_m_*`, final position error
`drift_final_translation_m_*` and that error in percent of the length, `trans_drift_pct_*`
(and `drift_tilt_corrections`: the accelerometer's, with a robot feed's `gravity`).
The two runs see the same odometry: the same priors, and OpenCV's
RANSAC seeded and single-threaded (else its randomness alone moves the drift by several degrees
per 100 m from run to run). With `drift_runs` > 1 the drift figures are means over that many runs,
each with its own first prior and RANSAC seed, and `rot_drift_ratio_sun_per_run` lists each run's ratio.
Trajectories are also written as TUM files (evo reads them) beside the JSON.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from pose_reloc.datasets.record import Frame
from pose_reloc.datasets.rosbag import ImuMessage, OdometryReading
from pose_reloc.evaluation.metrics import fraction_within, median, summary, write_json
from pose_reloc.geometry import Transform, rotation_error_deg, translation_error_m
from vo_fusion.errors import VoFusionError
from vo_fusion.feature_map import FeatureMap
from vo_fusion.fusion import NEVER, FusionConfig, FusionCore
from vo_fusion.tracking import TrackingState

# A prior source: the frame -> (T_map_cam, 6x6 covariance), or None when it has no answer.
PriorSource = Callable[[Frame], "tuple[Transform, NDArray[np.float64]] | None"]
# A sun source: the frame -> (unit sun vector in the camera frame, 3x3 covariance), or None
# (invalid estimate: overcast, night).
SunSource = Callable[[Frame], "tuple[NDArray[np.float64], NDArray[np.float64]] | None"]
# The ephemeris: the frame's stamp -> (unit sun vector in map, elevation deg).
Ephemeris = Callable[[float], "tuple[NDArray[np.float64], float]"]


@dataclass(frozen=True)
class RobotFeed:
    """The robot's own odometry and IMU messages (stamp order; the IMU's in the base frame)
    and its camera mount, fed to the core as the node feeds them: every message up to an
    image's stamp before that image; the IMU's angular velocity as the gyro, its linear
    acceleration too with `gravity` (the tilt update)."""

    T_base_cam: Transform
    odometry: Sequence[OdometryReading] = ()
    imu: Sequence[ImuMessage] = ()
    gravity: bool = False


RELOCALIZED_M, RELOCALIZED_DEG = 0.25, 2.0
WRONG_M = 1.0  # TRACKING this far off after a kidnap: a wrong relocalization
NOTICE_S = 1.0  # a kidnap not noticed (still TRACKING) for this long counts as a wrong pose
KIDNAP_SPEED_MPS = 10.0  # ground truth moving faster than this between two frames: a teleport


@dataclass(frozen=True)
class FrameRecord:
    stamp: float
    state: TrackingState
    T_true: Transform
    T_fused: Transform | None
    kidnap: bool
    frame_ms: float
    sun_used: bool
    reason: str = ""  # the core's, for this frame


def replay(
    frames: Iterable[Frame],
    core: FusionCore,
    prior_source: PriorSource,
    sun_source: SunSource | None = None,
    ephemeris: Ephemeris | None = None,
    sun_every: int = 5,
    robot: RobotFeed | None = None,
) -> list[FrameRecord]:
    """Run the core over the frames the way the nodes would (see the module docstring)."""
    records: list[FrameRecord] = []
    prior_wanted = False
    previous: Frame | None = None
    fed = (0, 0)
    for index, frame in enumerate(frames):
        fed = feed_robot(core, robot, fed, frame.stamp)
        T_base_cam = robot.T_base_cam if robot is not None else None
        output = core.on_image(frame.image(), frame.camera, frame.stamp, T_base_cam)
        if prior_wanted:  # PoseNet localized this image; its prior arrives now
            prior = prior_source(frame)
            if prior is not None:
                core.on_prior(prior[0], prior[1], frame.stamp)
            prior_wanted = False
        prior_wanted = prior_wanted or output.request_relocalization
        sun_used = False
        if sun_source is not None and ephemeris is not None and index % sun_every == 0:
            observation = sun_source(frame)
            if observation is not None:
                sun_map, elevation = ephemeris(frame.stamp)
                sun_used = core.on_sun(
                    observation[0], observation[1], sun_map, elevation, frame.stamp
                )
        records.append(
            FrameRecord(
                frame.stamp,
                output.state,
                frame.T_wc,
                output.T_map_cam,
                frame.kidnap or (previous is not None and _teleported(previous, frame)),
                output.frame_ms,
                sun_used or output.sun_used,
                output.reason,
            )
        )
        previous = frame
    return records


def feed_robot(
    core: FusionCore, feed: RobotFeed | None, fed: tuple[int, int], stamp: float
) -> tuple[int, int]:
    """The feed's odometry and IMU messages from indices `fed` up to `stamp` to the core
    (those it refuses are counted there, as on a robot); the indices of the next ones."""
    if feed is None:
        return fed
    odometry_fed, imu_fed = fed
    while odometry_fed < len(feed.odometry) and feed.odometry[odometry_fed].stamp <= stamp:
        reading = feed.odometry[odometry_fed]
        with contextlib.suppress(VoFusionError):
            core.on_odometry(reading.T_odom_base, reading.covariance, reading.stamp)
        odometry_fed += 1
    while imu_fed < len(feed.imu) and feed.imu[imu_fed].stamp <= stamp:
        imu = feed.imu[imu_fed]
        with contextlib.suppress(VoFusionError):
            core.on_gyro(imu.angular_velocity, imu.angular_velocity_covariance, imu.stamp)
        if feed.gravity:
            with contextlib.suppress(VoFusionError):
                core.on_accel(
                    imu.linear_acceleration, imu.linear_acceleration_covariance, imu.stamp
                )
        imu_fed += 1
    return odometry_fed, imu_fed


def _teleported(previous: Frame, frame: Frame) -> bool:
    """Data without kidnap flags (a bag) shows a kidnap as an impossible jump."""
    dt = max(frame.stamp - previous.stamp, 1e-3)
    return translation_error_m(frame.T_wc, previous.T_wc) / dt > KIDNAP_SPEED_MPS


def tracking_errors(records: Sequence[FrameRecord]) -> tuple[NDArray, NDArray]:
    """(translation m, rotation deg) errors of the TRACKING frames."""
    tracked = [r for r in records if r.state is TrackingState.TRACKING and r.T_fused is not None]
    t = np.array([translation_error_m(r.T_fused, r.T_true) for r in tracked])  # type: ignore[arg-type]
    d = np.array([rotation_error_deg(r.T_fused, r.T_true) for r in tracked])  # type: ignore[arg-type]
    return t, d


def _intervals(records: Sequence[FrameRecord]) -> list[Sequence[FrameRecord]]:
    """The records from the start, and from each kidnap, up to the next kidnap."""
    starts = [0] + [i for i, r in enumerate(records) if r.kidnap and i > 0]
    ends = [*starts[1:], len(records)]
    return [records[start:end] for start, end in zip(starts, ends, strict=True)]


def relocalization_times(records: Sequence[FrameRecord]) -> list[float]:
    """Seconds from each kidnap (and from the start) to the first accurate TRACKING frame after
    it (inf: never before the next kidnap)."""
    times = []
    for interval in _intervals(records):
        found = math.inf
        for record in interval:
            if (
                record.state is TrackingState.TRACKING
                and record.T_fused is not None
                and translation_error_m(record.T_fused, record.T_true) <= RELOCALIZED_M
                and rotation_error_deg(record.T_fused, record.T_true) <= RELOCALIZED_DEG
            ):
                found = record.stamp - interval[0].stamp
                break
        times.append(found)
    return times


def wrong_relocalizations(records: Sequence[FrameRecord]) -> int:
    """Kidnaps after which the core reported TRACKING more than WRONG_M off: a wrong prior
    confirmed, or a kidnap not noticed within NOTICE_S (the frames before the core leaves
    TRACKING still carry the pose from before the kidnap)."""
    wrong = 0
    for interval in _intervals(records)[1:]:
        noticed = False
        for record in interval:
            if record.state is not TrackingState.TRACKING or record.T_fused is None:
                noticed = True
            elif (noticed or record.stamp - interval[0].stamp >= NOTICE_S) and (
                translation_error_m(record.T_fused, record.T_true) > WRONG_M
            ):
                wrong += 1
                break
    return wrong


def first_tracked_run(records: Sequence[FrameRecord]) -> list[FrameRecord]:
    """The records from the first TRACKING frame up to the first frame that is not: the stretch
    a drift measurement may use (after a loss, a relocalization would reset the drift)."""
    run: list[FrameRecord] = []
    for record in records:
        tracking = record.state is TrackingState.TRACKING and record.T_fused is not None
        if tracking:
            run.append(record)
        elif run:
            break
    return run


def rotation_drift_per_100m(records: Sequence[FrameRecord]) -> float:
    """Rotation error at the end of the first tracked run (mean over its last tenth) per 100 m
    travelled in it; NaN when nothing was tracked or nothing travelled."""
    return _run_rotation_drift(first_tracked_run(records))


def _travelled_m(run: Sequence[FrameRecord]) -> float:
    return sum(translation_error_m(a.T_true, b.T_true) for a, b in itertools.pairwise(run))


def _run_rotation_drift(run: Sequence[FrameRecord]) -> float:
    travelled = _travelled_m(run)
    if travelled <= 0:
        return float("nan")
    tail = run[-max(1, len(run) // 10) :]
    error = float(np.mean([rotation_error_deg(r.T_fused, r.T_true) for r in tail]))  # type: ignore[arg-type]
    return 100.0 * error / travelled


def write_tum(path: Path, stamps: Sequence[float], poses: Sequence[Transform]) -> None:
    """A TUM trajectory file (timestamp tx ty tz qx qy qz qw), as evo reads it."""
    lines = [
        " ".join(f"{v:.9f}" for v in (stamp, *pose.translation, *pose.quat_xyzw))
        for stamp, pose in zip(stamps, poses, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def fusion_figures(records: Sequence[FrameRecord]) -> dict[str, Any]:
    """Accuracy over the TRACKING frames, relocalization after each kidnap, states and timing."""
    t_err, r_err = tracking_errors(records)
    times = relocalization_times(records)
    kidnap_times = times[1:]
    return {
        "frames": len(records),
        "tracking_frames": len(t_err),
        "median_translation_m": median(t_err),
        "median_rotation_deg": median(r_err),
        "within_25cm_2deg": fraction_within(t_err, r_err, 0.25, 2.0),
        "within_5cm_5deg": fraction_within(t_err, r_err, 0.05, 5.0),
        "ate_rmse_m": float(np.sqrt(np.mean(t_err**2))) if len(t_err) else float("nan"),
        "translation_m": summary(t_err) if len(t_err) else {},
        "first_fix_s": times[0] if times else float("nan"),
        "kidnaps": len(kidnap_times),
        "relocalized": int(sum(math.isfinite(t) for t in kidnap_times)),
        "relocalized_within_1s": _share_within(kidnap_times, 1.0),
        "relocalized_within_2s": _share_within(kidnap_times, 2.0),  # the larger district's target
        "relocalization_s": [round(t, 3) if math.isfinite(t) else None for t in kidnap_times],
        "median_relocalization_s": median([t for t in kidnap_times if math.isfinite(t)]),
        "p90_relocalization_s": (
            float(np.percentile(kidnap_times, 90, method="inverted_cdf"))
            if kidnap_times
            else float("nan")
        ),
        "wrong_relocalizations": wrong_relocalizations(records),
        "states": {s.value: sum(r.state is s for r in records) for s in TrackingState},
        "sun_updates": int(sum(r.sun_used for r in records)),
        "frame_ms": median([r.frame_ms for r in records]),
        "frame_time": summary([r.frame_ms for r in records]) if records else {},
    }


def _share_within(times: Sequence[float], limit_s: float) -> float:
    return float(np.mean([t <= limit_s for t in times])) if times else float("nan")


def evaluate_fusion(
    feature_map: FeatureMap,
    frames: Sequence[Frame],
    prior_source: PriorSource,
    prior_name: str = "",
    scored_prior: PriorSource | None = None,
    sun_source: SunSource | None = None,
    ephemeris: Ephemeris | None = None,
    config: FusionConfig | None = None,
    drift_frames: Sequence[Frame] | None = None,
    drift_runs: int = 1,
    out: str | Path | None = None,
    log: Callable[[str], None] = print,
    robot: RobotFeed | None = None,
    drift_robot: RobotFeed | None = None,
) -> dict[str, Any]:
    """The figures of the module docstring; `robot` / `drift_robot`: the robot's own
    odometry and gyro of `frames` / `drift_frames`, fused as vo_fusion_node does."""
    if drift_runs < 1:
        raise VoFusionError(f"drift_runs must be at least 1, got {drift_runs}")
    core = FusionCore(feature_map, config)
    records = replay(frames, core, prior_source, sun_source, ephemeris, robot=robot)
    figures = {"prior_source": prior_name, **fusion_figures(records)}
    figures["robot_odometry"] = dict(core.robot_odometry.counts)
    figures["robot_gyro"] = dict(core.robot_gyro.counts)
    figures["robot_gravity"] = dict(core.robot_gravity.counts)
    figures["reanchored"] = core.reanchored  # times the map put a drifted filter back
    if scored_prior is not None:
        prior_errors = []
        for frame, record in zip(frames, records, strict=True):
            estimate = scored_prior(frame) if record.state is TrackingState.TRACKING else None
            if estimate is not None:
                prior_errors.append(translation_error_m(estimate[0], frame.T_wc))
        figures["prior_median_translation_m"] = median(prior_errors)
    if drift_frames is not None:
        figures |= _drift(
            feature_map,
            drift_frames,
            prior_source,
            sun_source,
            ephemeris,
            config,
            drift_runs,
            drift_robot,
        )
    if out is not None:
        tracking = [
            r for r in records if r.state is TrackingState.TRACKING and r.T_fused is not None
        ]
        write_run(Path(out), figures, records, "fused.tum", tracking)
    log(
        f"fusion over {len(records)} frames ({figures['tracking_frames']} tracking): median "
        f"{figures['median_translation_m']:.3f} m / {figures['median_rotation_deg']:.2f} deg, "
        f"{100 * figures['within_25cm_2deg']:.0f}% within 25 cm / 2 deg, "
        f"{figures['relocalized']}/{figures['kidnaps']} kidnaps relocalized "
        f"({100 * figures['relocalized_within_1s']:.0f}% within 1 s, "
        f"{figures['wrong_relocalizations']} wrong), first fix {figures['first_fix_s']:.1f} s, "
        f"{figures['frame_ms']:.1f} ms per frame"
    )
    return figures


def _drift(
    feature_map: FeatureMap,
    frames: Sequence[Frame],
    prior_source: PriorSource,
    sun_source: SunSource | None,
    ephemeris: Ephemeris | None,
    config: FusionConfig | None,
    runs: int = 1,
    robot: RobotFeed | None = None,
) -> dict[str, Any]:
    """Odometry from one map fix at the start, without and with the sun, over the same frames;
    `runs` times (each with its own first prior and RANSAC seed), the figures averaged, and the
    per-run ratio of the drifts with and without sun listed."""
    each = [
        _drift_once(feature_map, frames, prior_source, sun_source, ephemeris, config, seed, robot)
        for seed in range(runs)
    ]
    ended = [e.pop("ended") for e in each]
    figures: dict[str, Any] = {key: float(np.mean([e[key] for e in each])) for key in each[0]}
    figures["drift_runs"] = runs
    figures["drift_ended_vo_per_run"] = ended  # why each run's tracked stretch ended
    figures["rot_drift_ratio_sun_per_run"] = [
        e["rot_drift_deg_per_100m_vo_sun"] / e["rot_drift_deg_per_100m_vo"] for e in each
    ]
    return figures


def _drift_once(
    feature_map: FeatureMap,
    frames: Sequence[Frame],
    prior_source: PriorSource,
    sun_source: SunSource | None,
    ephemeris: Ephemeris | None,
    config: FusionConfig | None,
    seed: int,
    robot: RobotFeed | None = None,
) -> dict[str, Any]:
    no_map = odometry_only(config)
    priors = _same_prior_per_frame(prior_source)
    runs: dict[str, list[FrameRecord]] = {}
    results: dict[str, Any] = {}
    for key, sun in (("vo", None), ("vo_sun", sun_source)):
        if key == "vo_sun" and sun is None:  # the same odometry, exactly: not run twice
            runs[key] = runs["vo"]
            continue
        with _repeatable_opencv(seed):
            core = FusionCore(feature_map, no_map)
            records = replay(frames, core, priors, sun, ephemeris, robot=robot)
        runs[key] = first_tracked_run(records)
        if key == "vo":
            results["ended"] = _why_run_ended(records, runs[key])
            results["drift_tilt_corrections"] = core.robot_gravity.counts["tilt_corrected"]
    length = min(len(run) for run in runs.values())
    for key, whole in runs.items():
        run = whole[:length]
        results[f"rot_drift_deg_per_100m_{key}"] = _run_rotation_drift(run)
        results[f"drift_tracked_m_{key}"] = _travelled_m(run)
        final_m = (
            translation_error_m(run[-1].T_fused, run[-1].T_true)  # type: ignore[arg-type]
            if run
            else float("nan")
        )
        results[f"drift_final_translation_m_{key}"] = final_m
        travelled = results[f"drift_tracked_m_{key}"]
        results[f"trans_drift_pct_{key}"] = (
            100.0 * final_m / travelled if travelled > 0 else float("nan")
        )
    return results


def odometry_only(config: FusionConfig | None = None) -> FusionConfig:
    """The config (default: FusionConfig's) with one map fix at the start and none after: no
    periodic map fixes, and no PoseNet asked for while the position grows uncertain."""
    return replace(config or FusionConfig(), map_fix_period_s=NEVER, relocalize_above_std_m=NEVER)


def _why_run_ended(records: Sequence[FrameRecord], run: Sequence[FrameRecord]) -> str:
    """The core's reason on the first frame after the tracked run, or that the drive ended."""
    if not run:
        return "nothing tracked"
    after = next((i for i, r in enumerate(records) if r is run[-1]), len(records) - 1) + 1
    return records[after].reason if after < len(records) else "the drive ended"


def _same_prior_per_frame(prior_source: PriorSource) -> PriorSource:
    """The source, asked once per frame: a second replay gets the first one's priors."""
    answers: dict[float, tuple[Transform, NDArray[np.float64]] | None] = {}

    def prior(frame: Frame) -> tuple[Transform, NDArray[np.float64]] | None:
        if frame.stamp not in answers:
            answers[frame.stamp] = prior_source(frame)
        return answers[frame.stamp]

    return prior


@contextmanager
def _repeatable_opencv(seed: int = 0) -> Iterator[None]:
    """OpenCV's RANSAC seeded and on one thread (its result depends on the thread split)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    cv2.setRNGSeed(seed)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def write_run(
    out: Path,
    figures: dict[str, Any],
    records: Sequence[FrameRecord],
    trajectory: str,
    estimated: Sequence[FrameRecord],
) -> None:
    """The figures as JSON at `out`; beside it groundtruth.tum (every record) and `trajectory`
    (the estimated poses of `estimated`, records whose T_fused is set)."""
    write_json(out, figures)
    folder = out.parent
    write_tum(folder / "groundtruth.tum", [r.stamp for r in records], [r.T_true for r in records])
    write_tum(folder / trajectory, [r.stamp for r in estimated], [r.T_fused for r in estimated])  # type: ignore[misc]
