"""What feeds `vo_fusion.evaluation.fusion` offline, as the nodes would online: priors from PoseNet,
retrieval or both (or ground-truth stand-ins), Sun-BCNN observations, and the ephemeris of a
scene's location. Kept here, at the edge where the packages meet, so vo_fusion and sun_bcnn never
import each other."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.datasets.record import Frame
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.site_identity import check_sites

# A ground-truth stand-in for PoseNet: this far off, and saying so.
STAND_IN_POSITION_M = (2.0, 3.0)
STAND_IN_ROTATION_DEG = (3.0, 6.0)
STAND_IN_COVARIANCE = np.diag([3.0**2] * 3 + [np.radians(8.0) ** 2] * 3)


def ground_truth_priors(seed: int = 0) -> Callable[[Frame], tuple[Transform, NDArray]]:
    """Priors made from the true pose, moved 2-3 m (mostly horizontally) and turned 3-6 deg."""
    rng = np.random.default_rng(seed)

    def prior(frame: Frame) -> tuple[Transform, NDArray]:
        shift = rng.normal(size=3) * np.array([1.0, 1.0, 0.2])
        shift *= rng.uniform(*STAND_IN_POSITION_M) / np.linalg.norm(shift)
        axis = rng.normal(size=3)
        angle = np.radians(rng.uniform(*STAND_IN_ROTATION_DEG))
        turn = Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle)
        pose = Transform(turn * frame.T_wc.rotation, frame.T_wc.translation + shift)
        return pose, STAND_IN_COVARIANCE

    return prior


def ground_truth_sun(
    error_deg: float, seed: int = 0
) -> Callable[[Frame], tuple[NDArray, NDArray] | None]:
    """A Sun-BCNN stand-in: the true sun in the camera frame turned by white noise of `error_deg`
    per tangent axis, with that covariance (an estimate as good as its sigma says). For measuring
    what a better sun estimate would give the fusion; needs frames with `sun_cam` (synthetic)."""
    from pose_reloc.geometry import tangent_basis

    if not error_deg > 0:
        raise PoseRelocError(f"the stand-in sun error must be positive, got {error_deg} deg")
    rng = np.random.default_rng(seed)
    sigma = np.radians(error_deg)

    def observe(frame: Frame) -> tuple[NDArray, NDArray] | None:
        if frame.sun_cam is None:
            raise PoseRelocError(
                f"frame at {frame.stamp:.3f} s has no true sun direction: the stand-in needs "
                "synthetic data (pose-reloc synth)"
            )
        true = np.asarray(frame.sun_cam, np.float64)
        tangent = tangent_basis(true)  # 3x2, orthogonal to the sun
        turn = Rotation.from_rotvec(np.cross(true, tangent @ rng.normal(0.0, sigma, 2)))
        covariance = sigma**2 * (tangent @ tangent.T) + 1e-8 * np.eye(3)
        return turn.apply(true), covariance

    return observe


def localizer_priors(
    posenet_model: str | Path | None,
    retrieval_index: str | Path | None,
    providers: Sequence[str],
    site: str = "",
) -> tuple[Callable[[Frame], tuple[Transform, NDArray] | None], str]:
    """Priors as posenet_node gives them with prior_source posenet, retrieval or both (whichever
    of the two is given, or both), and that source's name. An image retrieval does not recognize
    gets no prior (the node drops it, counted). A model or index of another `site` than the
    drive's is refused, as the node refuses it."""
    from pose_reloc.posenet.localizer import PoseNetLocalizer
    from pose_reloc.posenet.priors import PriorLocalizer
    from pose_reloc.posenet.retrieval import NotRecognizedError, RetrievalLocalizer

    localizer = PriorLocalizer(
        PoseNetLocalizer(posenet_model, providers) if posenet_model else None,
        RetrievalLocalizer(retrieval_index) if retrieval_index else None,
    )
    check_sites(site, localizer.loaded(), warn)

    def prior(frame: Frame) -> tuple[Transform, NDArray] | None:
        try:
            estimate = localizer.localize(frame.image())
        except NotRecognizedError:
            return None
        return estimate.T_map_cam, estimate.covariance

    return prior, localizer.source


def sun_bcnn_observations(
    model: str | Path, providers: Sequence[str]
) -> Callable[[Frame], tuple[NDArray, NDArray] | None]:
    from sun_bcnn.inference import SunEstimator

    estimator = SunEstimator(model, providers)

    def observe(frame: Frame) -> tuple[NDArray, NDArray] | None:
        estimate = estimator.estimate(frame.image())
        return (estimate.direction, estimate.covariance) if estimate.valid else None

    return observe


def scene_ephemeris(scene: str | Path) -> Callable[[float], tuple[NDArray, float]]:
    """stamp (Unix s) -> (unit sun vector in the scene's map frame, elevation deg)."""
    from pose_reloc.sun import sun_at
    from pose_reloc.synth.config import load_scene_config

    place: Any = load_scene_config(scene).location

    def sun(stamp: float) -> tuple[NDArray, float]:
        return sun_at(stamp, place.latitude, place.longitude, place.altitude, place.yaw_to_enu_deg)

    return sun


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def robot_feed(
    bag: str | Path, odometry_topic: str | None, imu_topic: str | None, gravity: bool = False
) -> Any:
    """The bag's robot odometry and IMU (either topic None: not used) and its camera mount
    (from /tf_static, base_link to the images' frame), as `vo_fusion.evaluation.fusion.RobotFeed`
    (`gravity`: the IMU's accelerometer too); an IMU in another frame than base_link is turned
    into it through /tf_static."""
    from pose_reloc.datasets.rosbag import (
        BagTopics,
        first_frame_id,
        read_imu_messages,
        read_odometry,
        read_static_transforms,
        static_chain,
    )
    from vo_fusion.evaluation.fusion import RobotFeed
    from vo_fusion.imu_readings import in_base_frame

    topics = BagTopics()
    camera_frame = first_frame_id(bag, topics.image)
    if camera_frame is None:
        raise PoseRelocError(f"bag {bag} has no images on {topics.image}")
    statics = read_static_transforms(bag)
    T_base_cam = static_chain(statics, topics.base_frame, camera_frame)
    imu = read_imu_messages(bag, imu_topic) if imu_topic else []
    mounts = {
        frame: static_chain(statics, topics.base_frame, frame).rotation
        for frame in {message.frame_id for message in imu} - {topics.base_frame}
    }
    for index, message in enumerate(imu):
        if message.frame_id in mounts:
            R = mounts[message.frame_id]
            rate, rate_covariance = in_base_frame(
                message.angular_velocity, message.angular_velocity_covariance, R
            )
            force, force_covariance = in_base_frame(
                message.linear_acceleration, message.linear_acceleration_covariance, R
            )
            imu[index] = replace(
                message,
                frame_id=topics.base_frame,
                angular_velocity=rate,
                angular_velocity_covariance=rate_covariance,
                linear_acceleration=force,
                linear_acceleration_covariance=force_covariance,
            )
    odometry = read_odometry(bag, odometry_topic) if odometry_topic else []
    return RobotFeed(T_base_cam, odometry, imu, gravity)
