"""rosbag2 (MCAP or sqlite3) via `rosbags`, no ROS needed: an image topic (Image or CompressedImage),
a ground-truth pose topic (PoseStamped, PoseWithCovarianceStamped or Odometry), camera_info, the
camera extrinsic from /tf_static, and optionally a sun vector topic (Vector3Stamped, map frame)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import DatasetError, Frame
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform, interpolate
from pose_reloc.images import convert_encoding, decode_compressed, decode_image

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
POSE_TYPES = (
    "geometry_msgs/msg/PoseStamped",
    "geometry_msgs/msg/PoseWithCovarianceStamped",
    "nav_msgs/msg/Odometry",
)


@dataclass(frozen=True)
class BagTopics:
    image: str = "/camera/image_raw/compressed"
    pose: str | None = "/ground_truth/pose"
    camera_info: str | None = "/camera/camera_info"
    sun: str | None = "/ground_truth/sun"
    base_frame: str = "base_link"  # the frame whose pose the pose topic gives


def stamp_seconds(header: Any) -> float:
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


def _transform(msg_transform: Any) -> Transform:
    t, q = msg_transform.translation, msg_transform.rotation
    return Transform.from_xyz_quat([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])


def _pose_of(msg: Any) -> Transform:
    pose = msg.pose.pose if hasattr(msg.pose, "pose") else msg.pose
    p, q = pose.position, pose.orientation
    return Transform.from_xyz_quat([p.x, p.y, p.z], [q.x, q.y, q.z, q.w])


def camera_from_info(msg: Any) -> PinholeCamera:
    return PinholeCamera.from_camera_info(
        K=np.asarray(msg.k),
        D=np.asarray(msg.d),
        distortion_model=msg.distortion_model,
        width=msg.width,
        height=msg.height,
        binning_x=msg.binning_x,
        binning_y=msg.binning_y,
        roi=(msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height),
    )


def image_loader(msg: Any, source: str) -> Callable[[], NDArray[np.uint8]]:
    """Decodes the message's pixels to RGB when called (bags are decoded lazily)."""
    if hasattr(msg, "format"):
        fmt, data = str(msg.format), bytes(msg.data)

        def load() -> NDArray[np.uint8]:
            pixels, encoding = decode_compressed(fmt, data)
            return np.asarray(convert_encoding(pixels, encoding, "rgb8"))
    else:
        fields = (
            msg.height,
            msg.width,
            msg.encoding,
            msg.step,
            bytes(msg.data),
            bool(msg.is_bigendian),
        )

        def load() -> NDArray[np.uint8]:
            return np.asarray(convert_encoding(decode_image(*fields), fields[2], "rgb8"))

    return load


def static_chain(transforms: dict[str, tuple[str, Transform]], base: str, camera: str) -> Transform:
    """T_base_camera from child -> (parent, T_parent_child) links of /tf_static."""
    T = Transform.identity()
    frame = camera
    for _ in range(32):
        if frame == base:
            return T
        if frame not in transforms:
            break
        parent, T_parent_child = transforms[frame]
        T = T_parent_child @ T
        frame = parent
    raise DatasetError(f"/tf_static has no chain from {base} to the camera frame {camera}")


def read_rosbag(
    bag: str | Path,
    topics: BagTopics = BagTopics(),
    camera: PinholeCamera | None = None,
    T_base_cam: Transform | None = None,
    max_gap_s: float = 0.05,
    dropped: dict[str, int] | None = None,
) -> Iterator[Frame]:
    """Frames in image-stamp order; poses interpolated to the image stamps (never across a gap
    wider than 2 x max_gap_s, so a teleport is not smeared). Pose messages whose stamp goes back
    in time (a restarted odometry) are dropped, and so are images without a pose; `dropped`, when
    given, counts both."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    path = Path(bag)
    if not path.exists():
        raise DatasetError(f"bag {path} does not exist")
    try:
        with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
            records = _collect(reader, topics, path)
    except PoseRelocError:
        raise
    except Exception as error:  # rosbags raises many types for damaged bags
        raise DatasetError(f"bag {path} could not be read: {error}") from error
    if not records.images:
        raise DatasetError(f"bag {path} has no messages on image topic {topics.image}")
    if camera is None and not records.infos:
        raise DatasetError(
            f"bag {path} has no camera_info on {topics.camera_info}: give the camera calibration"
        )
    counts = dropped if dropped is not None else {}
    records.poses, counts[BACKWARDS] = _forward_in_time(records.poses)
    yield from _frames(path, topics, records, camera, T_base_cam, max_gap_s, counts)


BACKWARDS = "pose messages back in time"
WITHOUT_POSE = "images without a pose"


def _forward_in_time(
    poses: list[tuple[float, Transform]],
) -> tuple[list[tuple[float, Transform]], int]:
    """The poses in recorded order whose stamps keep increasing, and how many were not."""
    kept: list[tuple[float, Transform]] = []
    for stamp, pose in poses:
        if not kept or stamp > kept[-1][0]:
            kept.append((stamp, pose))
    return kept, len(poses) - len(kept)


def bag_topics(bag: str | Path) -> dict[str, str]:
    """topic -> message type of every topic in the bag."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    path = Path(bag)
    if not path.exists():
        raise DatasetError(f"bag {path} does not exist")
    try:
        with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
            return {c.topic: c.msgtype for c in reader.connections}
    except Exception as error:  # rosbags raises many types for damaged bags
        raise DatasetError(f"bag {path} could not be read: {error}") from error


@dataclass(frozen=True)
class NavSatReading:
    stamp: float
    latitude_deg: float
    longitude_deg: float
    altitude_m: float


NO_FIX = "gps messages without a fix"


def read_navsat(bag: str | Path, topic: str, dropped: dict[str, int]) -> list[NavSatReading]:
    """The bag's sensor_msgs/NavSatFix fixes on `topic` in stamp order ([] when the bag has no
    such topic); messages without a fix (status < 0) or with a non-finite position are left
    out and counted in `dropped`."""
    readings: list[NavSatReading] = []

    def take(msg: Any) -> None:
        position = (msg.latitude, msg.longitude, msg.altitude)
        if msg.status.status < 0 or not np.isfinite(position).all():
            dropped[NO_FIX] = dropped.get(NO_FIX, 0) + 1
            return
        readings.append(NavSatReading(stamp_seconds(msg.header), *map(float, position)))

    _each_message(Path(bag), topic, take)
    return sorted(readings, key=lambda reading: reading.stamp)


def _each_message(path: Path, topic: str, take: Callable[[Any], None]) -> None:
    """`take` called with every message on `topic`, deserialized, in the bag's order; a damaged
    bag, or a message `take` cannot read, raises DatasetError."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    try:
        with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
            connections = [c for c in reader.connections if c.topic == topic]
            for connection, _, raw in reader.messages(connections=connections):
                take(reader.deserialize(raw, connection.msgtype))
    except Exception as error:  # rosbags raises many types for damaged bags
        raise DatasetError(f"bag {path} could not be read: {error}") from error


UNMEASURED_VARIANCE = 1e3  # at or above: ROS's way of saying a covariance entry is not measured


@dataclass(frozen=True)
class TwistNoise:
    """The noise a nav_msgs/Odometry topic states for its velocities (twist.covariance), per
    message: the variances of the forward speed (m²/s²) and of the yaw rate (rad²/s²)."""

    stamps: NDArray[np.float64]
    forward_variance: NDArray[np.float64]
    yaw_rate_variance: NDArray[np.float64]

    def step_variances(self, stamps: NDArray[np.float64]) -> NDArray[np.float64]:
        """(len(stamps) - 1, 2): the variances of the distance and of the turn measured between
        consecutive `stamps`, each message's velocity variance held over the interval since the
        message before it (as a filter integrating the twists would)."""
        dt = np.diff(self.stamps, prepend=self.stamps[:1])
        per_message = (
            np.column_stack([self.forward_variance, self.yaw_rate_variance]) * dt[:, None] ** 2
        )
        summed = np.vstack([np.zeros((1, 2)), np.cumsum(per_message, axis=0)])
        upto = summed[np.searchsorted(self.stamps, np.asarray(stamps), side="right")]
        return np.asarray(np.diff(upto, axis=0), dtype=np.float64)


def read_twist_noise(bag: str | Path, topic: str) -> tuple[TwistNoise | None, str]:
    """The twist noise of the nav_msgs/Odometry on `topic`, or None with the reason when the
    topic is another type, or when any message states no usable forward-speed or yaw-rate
    variance (not finite, not positive, or marked unmeasured): a robot either publishes its
    covariance or does not, and a drive half weighted by it would be weighted unevenly."""
    path = Path(bag)
    if bag_topics(path).get(topic) != "nav_msgs/msg/Odometry":
        return None, f"{topic} is not a nav_msgs/Odometry topic"
    stamps: list[float] = []
    variances: list[tuple[float, float]] = []

    def take(msg: Any) -> None:
        stamps.append(stamp_seconds(msg.header))
        variances.append((float(msg.twist.covariance[0]), float(msg.twist.covariance[35])))

    _each_message(path, topic, take)
    if not stamps:
        return None, f"{topic} has no messages"
    values = np.array(variances)
    usable = np.isfinite(values) & (values > 0.0) & (values < UNMEASURED_VARIANCE)
    unusable = int((~usable.all(axis=1)).sum())
    if unusable:
        return None, (
            f"{unusable} of {len(stamps)} messages on {topic} state no forward-speed or yaw-rate "
            "variance (twist.covariance[0] and [35] zero, unmeasured or not finite)"
        )
    order = np.argsort(stamps, kind="stable")
    times = np.asarray(stamps)[order]
    increasing = np.concatenate([[True], np.diff(times) > 0.0])
    kept = order[increasing]
    return TwistNoise(times[increasing], values[kept, 0], values[kept, 1]), ""


@dataclass(frozen=True)
class ImuReading:
    """sensor_msgs/Imu messages of one topic in stamp order, in the IMU's own frame."""

    frame_id: str
    stamps: NDArray[np.float64]
    linear_acceleration: NDArray[np.float64]  # (n, 3) m/s², specific force: +g up at rest
    acceleration_variance: NDArray[np.float64]  # (n,) per axis; NaN where the IMU states none


IMU_NOT_FINITE = "imu messages with a non-finite acceleration"


def read_imu(bag: str | Path, topic: str, dropped: dict[str, int]) -> ImuReading | None:
    """The accelerometer readings on `topic` (None when it has no message with a finite
    acceleration); messages without one are counted in `dropped`. The stated variance is the
    mean of the covariance's diagonal, NaN where it is all zeros (ROS: unknown) or unusable."""
    frames: list[str] = []
    rows: list[list[float]] = []

    def take(msg: Any) -> None:
        a = msg.linear_acceleration
        acceleration = (a.x, a.y, a.z)
        if not np.isfinite(acceleration).all():
            dropped[IMU_NOT_FINITE] = dropped.get(IMU_NOT_FINITE, 0) + 1
            return
        diagonal = np.asarray(msg.linear_acceleration_covariance, dtype=np.float64)[[0, 4, 8]]
        stated = np.isfinite(diagonal).all() and (diagonal > 0).all()
        stated = stated and (diagonal < UNMEASURED_VARIANCE).all()
        variance = float(diagonal.mean()) if stated else float("nan")
        frames.append(msg.header.frame_id)
        rows.append([stamp_seconds(msg.header), *map(float, acceleration), variance])

    _each_message(Path(bag), topic, take)
    if not rows:
        return None
    values = np.array(rows)[np.argsort([row[0] for row in rows], kind="stable")]
    return ImuReading(frames[0], values[:, 0], values[:, 1:4], values[:, 4])


@dataclass(frozen=True)
class ImuMessage:
    """One sensor_msgs/Imu message's angular velocity (rad/s) and linear acceleration (m/s²),
    in `frame_id`, each with its 3x3 covariance, row-major."""

    stamp: float
    frame_id: str
    angular_velocity: NDArray[np.float64]
    angular_velocity_covariance: NDArray[np.float64]
    linear_acceleration: NDArray[np.float64]
    linear_acceleration_covariance: NDArray[np.float64]


def read_imu_messages(bag: str | Path, topic: str) -> list[ImuMessage]:
    """The bag's sensor_msgs/Imu messages on `topic`, in stamp order, as recorded (bad values
    included: the fusion refuses those itself, as on a robot)."""
    readings: list[ImuMessage] = []

    def take(msg: Any) -> None:
        w, a = msg.angular_velocity, msg.linear_acceleration
        readings.append(
            ImuMessage(
                stamp_seconds(msg.header),
                msg.header.frame_id,
                np.array([w.x, w.y, w.z], np.float64),
                np.asarray(msg.angular_velocity_covariance, np.float64),
                np.array([a.x, a.y, a.z], np.float64),
                np.asarray(msg.linear_acceleration_covariance, np.float64),
            )
        )

    if bag_topics(bag).get(topic) != "sensor_msgs/msg/Imu":
        raise DatasetError(f"bag {bag} has no sensor_msgs/Imu topic {topic}")
    _each_message(Path(bag), topic, take)
    return sorted(readings, key=lambda reading: reading.stamp)


@dataclass(frozen=True)
class OdometryReading:
    """One nav_msgs/Odometry message: the base frame's pose in the odometry frame and its 6x6
    covariance (ROS order)."""

    stamp: float
    T_odom_base: Transform
    covariance: NDArray[np.float64]


def read_odometry(bag: str | Path, topic: str) -> list[OdometryReading]:
    """The bag's nav_msgs/Odometry messages on `topic`, in stamp order, as recorded (bad values
    included: the fusion refuses those itself, as on a robot)."""
    readings: list[OdometryReading] = []

    def take(msg: Any) -> None:
        covariance = np.asarray(msg.pose.covariance, np.float64).reshape(6, 6)
        readings.append(OdometryReading(stamp_seconds(msg.header), _pose_of(msg), covariance))

    if bag_topics(bag).get(topic) != "nav_msgs/msg/Odometry":
        raise DatasetError(f"bag {bag} has no nav_msgs/Odometry topic {topic}")
    _each_message(Path(bag), topic, take)
    return sorted(readings, key=lambda reading: reading.stamp)


def read_static_transforms(bag: str | Path) -> dict[str, tuple[str, Transform]]:
    """child -> (parent, T_parent_child) of every /tf_static transform in the bag."""
    statics: dict[str, tuple[str, Transform]] = {}
    _each_message(Path(bag), "/tf_static", lambda msg: _add_statics(statics, msg))
    return statics


def _add_statics(statics: dict[str, tuple[str, Transform]], msg: Any) -> None:
    for t in msg.transforms:
        statics[t.child_frame_id] = (t.header.frame_id, _transform(t.transform))


def first_frame_id(bag: str | Path, topic: str) -> str | None:
    """The header.frame_id of the first message on `topic` (None when it has none)."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    path = Path(bag)
    try:
        with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
            connections = [c for c in reader.connections if c.topic == topic]
            for connection, _, raw in reader.messages(connections=connections):
                msg: Any = reader.deserialize(raw, connection.msgtype)
                return str(msg.header.frame_id)
    except Exception as error:  # rosbags raises many types for damaged bags
        raise DatasetError(f"bag {path} could not be read: {error}") from error
    return None


@dataclass
class _BagRecords:
    images: list[tuple[float, Any]] = field(default_factory=list)
    poses: list[tuple[float, Transform]] = field(default_factory=list)
    infos: list[tuple[float, Any]] = field(default_factory=list)
    suns: list[tuple[float, NDArray[np.float64]]] = field(default_factory=list)
    statics: dict[str, tuple[str, Transform]] = field(default_factory=dict)


def _collect(reader: Any, topics: BagTopics, path: Path) -> _BagRecords:
    available = {c.topic: c.msgtype for c in reader.connections}
    if topics.image not in available:
        raise DatasetError(
            f"bag {path} has no topic {topics.image}; its topics: {sorted(available)}"
        )
    if available[topics.image] not in IMAGE_TYPES:
        raise DatasetError(f"{topics.image} in {path} is {available[topics.image]}, not an image")
    if topics.pose and topics.pose in available and available[topics.pose] not in POSE_TYPES:
        raise DatasetError(f"{topics.pose} in {path} is {available[topics.pose]}, not a pose")
    wanted = {topics.image, topics.pose, topics.camera_info, topics.sun, "/tf_static"} & set(
        available
    )
    records = _BagRecords()
    connections = [c for c in reader.connections if c.topic in wanted]
    for connection, _, raw in reader.messages(connections=connections):
        msg = reader.deserialize(raw, connection.msgtype)
        topic = connection.topic
        if topic == topics.image:
            records.images.append((stamp_seconds(msg.header), msg))
        elif topic == topics.pose:
            records.poses.append((stamp_seconds(msg.header), _pose_of(msg)))
        elif topic == topics.camera_info:
            records.infos.append((stamp_seconds(msg.header), msg))
        elif topic == topics.sun:
            v = msg.vector
            records.suns.append((stamp_seconds(msg.header), np.array([v.x, v.y, v.z])))
        else:
            _add_statics(records.statics, msg)
    records.images.sort(key=lambda item: item[0])
    return records


def _frames(
    path: Path,
    topics: BagTopics,
    records: _BagRecords,
    camera: PinholeCamera | None,
    T_base_cam: Transform | None,
    max_gap_s: float,
    dropped: dict[str, int],
) -> Iterator[Frame]:
    images, poses, infos, suns, statics = (
        records.images,
        records.poses,
        records.infos,
        records.suns,
        records.statics,
    )
    pose_stamps = np.array([s for s, _ in poses])
    sun_stamps = np.array([s for s, _ in suns])
    info_stamps = np.array([s for s, _ in infos])
    for index, (stamp, msg) in enumerate(images):
        cam = camera
        if cam is None:
            latest = max(int(np.searchsorted(info_stamps, stamp + 1e-6)) - 1, 0)
            cam = camera_from_info(infos[latest][1])
        T_wc = Transform.identity()
        if poses:
            T_map_base = _pose_at(pose_stamps, poses, stamp, max_gap_s)
            if T_map_base is None:
                dropped[WITHOUT_POSE] = dropped.get(WITHOUT_POSE, 0) + 1
                continue
            mount = (
                T_base_cam
                if T_base_cam is not None
                else static_chain(statics, topics.base_frame, msg.header.frame_id)
            )
            T_wc = T_map_base @ mount
        sun_world = None
        if suns:
            nearest = int(np.abs(sun_stamps - stamp).argmin())
            if abs(sun_stamps[nearest] - stamp) <= max_gap_s:
                sun_world = suns[nearest][1]
        sun_cam = None if sun_world is None else T_wc.rotation.inv().apply(sun_world)
        source = f"{path}:{topics.image}#{index}"
        yield Frame(stamp, cam, T_wc, image_loader(msg, source), source, sun_cam, sun_world)


def _pose_at(stamps: NDArray, poses: list, stamp: float, max_gap_s: float) -> Transform | None:
    after = int(np.searchsorted(stamps, stamp))
    if after < len(stamps) and abs(stamps[after] - stamp) < 1e-3:
        return poses[after][1]
    if after > 0 and abs(stamps[after - 1] - stamp) < 1e-3:
        return poses[after - 1][1]
    if after == 0 or after == len(stamps) or stamps[after] - stamps[after - 1] > 2 * max_gap_s:
        return None
    t0, t1 = stamps[after - 1], stamps[after]
    return interpolate(poses[after - 1][1], poses[after][1], (stamp - t0) / (t1 - t0))
