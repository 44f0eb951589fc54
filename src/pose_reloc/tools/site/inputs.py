"""What map-site reads: from a mapping bag, the camera-rate images posed by the robot's odometry
(T_odom_cam: odom -> base_link from nav_msgs/Odometry, base_link -> camera from /tf_static), the
ground truth where a (synthetic) bag happens to have it, and what had to be left out; or an
image folder whose poses are the odometry's camera poses."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets import detect_format, read_dataset
from pose_reloc.datasets.record import Frame
from pose_reloc.datasets.rosbag import (
    BagTopics,
    NavSatReading,
    TwistNoise,
    bag_topics,
    first_frame_id,
    read_imu,
    read_navsat,
    read_rosbag,
    read_static_transforms,
    read_twist_noise,
    static_chain,
)
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.gravity import GravityPriors, ImuSamples, gravity_from_imu

MAX_ODOMETRY_GAP_S = 0.25  # images further than this from an odometry message are left out
# An optical camera's axes (x right, y down, z forward) in a REP-103 base_link (x forward, z up).
# KITTI's world is its first camera's frame, so this also turns KITTI's world gravity-aligned
# (up to the first camera's small pitch and roll).
CAMERA_IN_BASE = Rotation.from_matrix([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
FOLDER_FORMATS = ("kitti", "synthetic")  # image folders whose world frame's up is known


class SiteInputError(PoseRelocError):
    """A mapping bag that cannot be mapped; the message says what is missing and what helps."""


@dataclass(frozen=True)
class MappingTopics:
    image: str = "/camera/image_raw/compressed"
    camera_info: str = "/camera/camera_info"
    odometry: str = "/odom"
    gps: str = "/gps/fix"
    imu: str = "/imu/data"
    base_frame: str = "base_link"
    truth: str | None = "/ground_truth/pose"  # scored against when present, never used to map

    def posed_by(self, pose_topic: str | None) -> BagTopics:
        """The bag reader's topics for the images posed by `pose_topic`."""
        return BagTopics(
            image=self.image,
            pose=pose_topic,
            camera_info=self.camera_info,
            sun=None,
            base_frame=self.base_frame,
        )


@dataclass
class MappingInput:
    frames: list[Frame]  # T_wc: T_odom_cam
    truth: list[Transform | None]  # T_map_cam per frame where the bag has ground truth; [] if none
    camera_height_m: float | None  # above the ground, from the mount on planar odometry
    dropped: dict[str, int] = field(default_factory=dict)
    gps: list[NavSatReading] = field(default_factory=list)
    odometry_noise: TwistNoise | None = None  # as the odometry states it
    odometry_noise_absent: str = "an image folder states no odometry noise"  # why None
    gravity: GravityPriors | None = None  # the IMU's up per frame, in the camera's axes
    gravity_absent: str = "an image folder has no IMU"  # why None


def read_mapping_bag(
    bag: str | Path,
    topics: MappingTopics = MappingTopics(),
    camera: PinholeCamera | None = None,
    camera_height_m: float | None = None,
) -> MappingInput:
    """The bag's frames posed by odometry. Refuses a bag without images, calibration or
    odometry, naming what to give instead."""
    path = Path(bag)
    available = bag_topics(path)
    if topics.odometry not in available:
        raise SiteInputError(_no_odometry(path, topics, available))
    dropped: dict[str, int] = {}
    odometry = topics.posed_by(topics.odometry)
    frames = list(read_rosbag(path, odometry, camera, None, MAX_ODOMETRY_GAP_S / 2, dropped))
    if not frames:
        raise SiteInputError(
            f"no image in {path} lies within {MAX_ODOMETRY_GAP_S} s of an odometry message on "
            f"{topics.odometry} ({dropped}): are the image and odometry stamps on one clock?"
        )
    has_truth = topics.truth is not None and topics.truth in available
    truth = _truth(path, topics, camera, [f.stamp for f in frames]) if has_truth else []
    if camera_height_m is None:
        camera_height_m = _height_on_planar_odometry(frames)
    gps = read_navsat(path, topics.gps, dropped) if topics.gps in available else []
    noise, absent = read_twist_noise(path, topics.odometry)
    gravity, no_gravity = _imu_gravity(path, topics, available, frames, dropped)
    return MappingInput(
        frames, truth, camera_height_m, dropped, gps, noise, absent, gravity, no_gravity
    )


def read_mapping_folder(
    folder: str | Path, camera: PinholeCamera | None = None, camera_height_m: float | None = None
) -> MappingInput:
    """An image folder whose poses are the robot's odometry (camera poses in the odom frame): a
    KITTI odometry folder (poses.txt, calib.txt, image_0/) or our dataset format. Never give it
    ground truth as odometry: the site would only copy it."""
    path = Path(folder)
    kind = detect_format(path)
    frames = list(read_dataset(path, kind))
    if camera is not None:
        frames = [replace(frame, camera=camera) for frame in frames]
    frames = gravity_aligned(frames, kind)
    if camera_height_m is None:
        camera_height_m = _height_on_planar_odometry(frames)
    return MappingInput(frames, [], camera_height_m)


def gravity_aligned(frames: list[Frame], kind: str) -> list[Frame]:
    """The frames with their poses in a z-up world (REP-103), as a robot's odometry is."""
    if kind not in FOLDER_FORMATS:
        raise SiteInputError(
            f"a {kind} folder's world has no known up: map-site and evaluate site take "
            f"{' or '.join(FOLDER_FORMATS)} folders (or a bag)"
        )
    if kind == "synthetic":
        return frames
    world_up = Transform(CAMERA_IN_BASE, np.zeros(3))
    return [replace(frame, T_wc=world_up @ frame.T_wc) for frame in frames]


def _no_odometry(path: Path, topics: MappingTopics, available: dict[str, str]) -> str:
    odometry_topics = sorted(t for t, kind in available.items() if kind.endswith("/Odometry"))
    hint = (
        f"the bag has odometry on {', '.join(odometry_topics)}: give it with --odom-topic"
        if odometry_topics
        else "record the robot's wheel or visual odometry (nav_msgs/Odometry) with the images"
    )
    return (
        f"{path} has no topic {topics.odometry}: map-site needs the robot's odometry as its scale "
        f"source and anchor; {hint}"
    )


DEFAULT_ACCELERATION_VARIANCE = 0.1**2  # an IMU that states none: a consumer MEMS's noise


def _imu_gravity(
    path: Path,
    topics: MappingTopics,
    available: dict[str, str],
    frames: list[Frame],
    dropped: dict[str, int],
) -> tuple[GravityPriors | None, str]:
    """The up direction in each frame's camera axes from the bag's IMU (its accelerometer, the
    robot's acceleration taken out by the odometry), or None with the reason."""
    if available.get(topics.imu) != "sensor_msgs/msg/Imu":
        return None, f"the bag has no sensor_msgs/Imu on {topics.imu}"
    reading = read_imu(path, topics.imu, dropped)
    if reading is None:
        return None, f"{topics.imu} has no message with a finite acceleration"
    statics = read_static_transforms(path)
    camera_frame = first_frame_id(path, topics.image)
    try:
        T_base_imu = static_chain(statics, topics.base_frame, reading.frame_id)
        T_base_cam = static_chain(statics, topics.base_frame, camera_frame or "")
    except PoseRelocError as error:
        return None, f"the IMU is not used: {error}"
    variance = np.where(
        np.isnan(reading.acceleration_variance),
        DEFAULT_ACCELERATION_VARIANCE,
        reading.acceleration_variance,
    )
    samples = ImuSamples(
        reading.stamps, T_base_imu.rotation.apply(reading.linear_acceleration), variance
    )
    T_cam_base = T_base_cam.inverse()
    try:
        priors = gravity_from_imu(
            [f.stamp for f in frames], [f.T_wc @ T_cam_base for f in frames], samples
        )
    except VoFusionError as error:  # images sharing a stamp: no rotation between them to slerp
        return None, f"the IMU is not used: {error}"
    if not priors.measured.any():
        return None, (
            f"no frame had {topics.imu} readings that are gravity once the odometry's motion is "
            f"taken out ({priors.rejected} windows rejected): is its linear_acceleration in m/s² "
            "and its frame in /tf_static?"
        )
    return priors.in_camera(T_base_cam.rotation), ""


def _truth(
    path: Path, topics: MappingTopics, camera: PinholeCamera | None, stamps: list[float]
) -> list[Transform | None]:
    posed = {f.stamp: f.T_wc for f in read_rosbag(path, topics.posed_by(topics.truth), camera)}
    return [posed.get(stamp) for stamp in stamps]


def _height_on_planar_odometry(frames: list[Frame]) -> float | None:
    """The camera's height above the ground when the odometry is planar (base_link on the ground
    at z = 0, as wheel odometry is): the camera's z in odom. None when the odometry leaves the
    plane (3D odometry: the mount alone does not say the height then)."""
    heights = np.array([f.T_wc.translation[2] for f in frames])
    if np.ptp(heights) > 0.05 or np.median(heights) <= 0.05:
        return None
    return float(np.median(heights))
