"""What map-site reads from a mapping bag: the camera-rate images posed by the robot's odometry
(T_odom_cam: odom -> base_link from nav_msgs/Odometry, base_link -> camera from /tf_static), the
ground truth where a (synthetic) bag happens to have it, and what had to be left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import Frame
from pose_reloc.datasets.rosbag import BagTopics, bag_topics, read_rosbag
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform

MAX_ODOMETRY_GAP_S = 0.25  # images further than this from an odometry message are left out


class SiteInputError(PoseRelocError):
    """A mapping bag that cannot be mapped; the message says what is missing and what helps."""


@dataclass(frozen=True)
class MappingTopics:
    image: str = "/camera/image_raw/compressed"
    camera_info: str = "/camera/camera_info"
    odometry: str = "/odom"
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
    return MappingInput(frames, truth, camera_height_m, dropped)


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
