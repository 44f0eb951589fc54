"""Message ↔ core conversion, the one place (shared by all three nodes) where ROS messages are read
or built. Core values: numpy arrays, `Transform`, `PinholeCamera`, seconds as float.

Every reader validates what it reads and raises a PoseRelocError subclass (ConversionError,
ImageDecodeError, CameraModelError, GeometryError) naming the field, so a node can drop the message,
count it, and go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import (
    Point,
    Pose,
    PoseStamped,
    PoseWithCovariance,
    PoseWithCovarianceStamped,
    Quaternion,
    TransformStamped,
    Vector3,
)
from nav_msgs.msg import Odometry, Path
from numpy.typing import ArrayLike, NDArray
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import ConversionError, GeometryError
from pose_reloc.geometry import Transform, validate_covariance
from pose_reloc.images import (
    PIXEL_FORMATS,
    check_camera_encoding,
    convert_encoding,
    declared_compressed_encoding,
    decode_compressed,
    decode_image,
    encode_compressed,
    encode_image,
)

NANOSECONDS = 1_000_000_000
_T = TypeVar("_T")


# --- time -------------------------------------------------------------------------------------


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    if not np.isfinite(seconds) or seconds < 0:
        raise ConversionError(f"a ROS time stamp must be finite and non-negative, got {seconds}")
    total = round(seconds * NANOSECONDS)
    return Time(sec=total // NANOSECONDS, nanosec=total % NANOSECONDS)


def seconds_to_duration(seconds: float) -> Duration:
    total = round(seconds * NANOSECONDS)
    return Duration(sec=total // NANOSECONDS, nanosec=total % NANOSECONDS)


def make_header(stamp_s: float, frame_id: str) -> Header:
    return Header(stamp=seconds_to_stamp(stamp_s), frame_id=frame_id)


# --- images -----------------------------------------------------------------------------------


def image_msg_to_array(
    msg: Image | CompressedImage, target: str | None = None
) -> tuple[NDArray, str]:
    """(pixels, encoding) of an Image or CompressedImage; with `target` (rgb8, bgr8, mono8)
    the pixels are converted to it."""
    if isinstance(msg, CompressedImage):
        pixels, encoding = decode_compressed(msg.format, msg.data)
    else:
        pixels = decode_image(
            msg.height, msg.width, msg.encoding, msg.step, msg.data, bool(msg.is_bigendian)
        )
        encoding = msg.encoding
    if target is None:
        return pixels, encoding
    return convert_encoding(pixels, encoding, target), target


def camera_image_to_rgb(msg: Image | CompressedImage) -> NDArray[np.uint8]:
    """The RGB pixels of a camera frame. Raises NotACameraImageError for an image whose encoding
    is not a camera's (mono16, 16UC1, 32FC1, ...: a depth topic remapped by mistake), checked
    before decoding, and ImageDecodeError for one that cannot be decoded."""
    if isinstance(msg, CompressedImage):
        declared = declared_compressed_encoding(msg.format)
        if declared is not None and declared in PIXEL_FORMATS:  # unknown: left to the decoder
            check_camera_encoding(declared)
    else:
        check_camera_encoding(msg.encoding)
    pixels, encoding = image_msg_to_array(msg)
    check_camera_encoding(encoding)  # a 16-bit grey png decodes as mono16
    return np.asarray(convert_encoding(pixels, encoding, "rgb8"), dtype=np.uint8)


def array_to_image_msg(pixels: NDArray, encoding: str, header: Header) -> Image:
    step, data = encode_image(pixels, encoding)
    return Image(
        header=header,
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=data,
    )


def array_to_compressed_msg(
    pixels_bgr: NDArray, header: Header, kind: str = "jpeg"
) -> CompressedImage:
    encoding = "mono8" if pixels_bgr.ndim == 2 else "bgr8"
    return CompressedImage(
        header=header,
        format=f"{encoding}; {kind} compressed {encoding}",
        data=encode_compressed(pixels_bgr, kind),
    )


# --- camera -----------------------------------------------------------------------------------


def camera_info_to_camera(msg: CameraInfo) -> PinholeCamera:
    roi = msg.roi
    return PinholeCamera.from_camera_info(
        K=np.asarray(msg.k, dtype=np.float64),
        D=np.asarray(msg.d, dtype=np.float64),
        distortion_model=msg.distortion_model,
        width=msg.width,
        height=msg.height,
        binning_x=msg.binning_x,
        binning_y=msg.binning_y,
        roi=(roi.x_offset, roi.y_offset, roi.width, roi.height),
    )


def camera_to_camera_info(camera: PinholeCamera, header: Header) -> CameraInfo:
    """A CameraInfo of the camera (no binning or ROI; P = [K | 0], R = I as for a monocular camera)."""
    P = np.zeros((3, 4))
    P[:, :3] = camera.K
    return CameraInfo(
        header=header,
        width=camera.width,
        height=camera.height,
        distortion_model=camera.distortion_model,
        d=camera.D.tolist(),
        k=camera.K.reshape(-1).tolist(),
        r=np.eye(3).reshape(-1).tolist(),
        p=P.reshape(-1).tolist(),
    )


# --- poses and transforms ---------------------------------------------------------------------


def _xyz(vector: Point | Vector3) -> NDArray[np.float64]:
    return np.array([vector.x, vector.y, vector.z], dtype=np.float64)


def _quat(q: Quaternion) -> NDArray[np.float64]:
    return np.array([q.x, q.y, q.z, q.w], dtype=np.float64)


def _guarded(read: Callable[[], _T], what: str) -> _T:
    """`read()`, with a GeometryError re-raised as a ConversionError naming the message part."""
    try:
        return read()
    except GeometryError as error:
        raise ConversionError(f"{what}: {error}") from error


def pose_msg_to_transform(msg: Pose) -> Transform:
    return _guarded(
        lambda: Transform.from_xyz_quat(_xyz(msg.position), _quat(msg.orientation)), "pose"
    )


def transform_to_pose_msg(transform: Transform) -> Pose:
    x, y, z = transform.translation
    qx, qy, qz, qw = transform.quat_xyzw
    return Pose(
        position=Point(x=float(x), y=float(y), z=float(z)),
        orientation=Quaternion(x=float(qx), y=float(qy), z=float(qz), w=float(qw)),
    )


def pose_with_covariance_to_transform(
    msg: PoseWithCovariance | PoseWithCovarianceStamped,
) -> tuple[Transform, NDArray[np.float64]]:
    """(transform, 6x6 covariance in ROS order x, y, z, rot X, rot Y, rot Z)."""
    body = msg.pose if isinstance(msg, PoseWithCovarianceStamped) else msg
    transform = pose_msg_to_transform(body.pose)
    covariance = _guarded(
        lambda: validate_covariance(body.covariance, 6, "pose covariance"), "pose"
    )
    return transform, covariance


def transform_to_pose_with_covariance(
    transform: Transform, covariance: ArrayLike
) -> PoseWithCovariance:
    cov = _guarded(lambda: validate_covariance(covariance, 6, "pose covariance"), "pose")
    return PoseWithCovariance(
        pose=transform_to_pose_msg(transform), covariance=cov.reshape(-1).tolist()
    )


def pose_with_covariance_stamped(
    transform: Transform, covariance: ArrayLike, header: Header
) -> PoseWithCovarianceStamped:
    return PoseWithCovarianceStamped(
        header=header, pose=transform_to_pose_with_covariance(transform, covariance)
    )


def pose_stamped(transform: Transform, header: Header) -> PoseStamped:
    return PoseStamped(header=header, pose=transform_to_pose_msg(transform))


def transform_stamped(
    transform: Transform, header: Header, child_frame_id: str
) -> TransformStamped:
    """The TF message for T_parent_child, parent = header.frame_id."""
    msg = TransformStamped(header=header, child_frame_id=child_frame_id)
    x, y, z = transform.translation
    qx, qy, qz, qw = transform.quat_xyzw
    msg.transform.translation = Vector3(x=float(x), y=float(y), z=float(z))
    msg.transform.rotation = Quaternion(x=float(qx), y=float(qy), z=float(qz), w=float(qw))
    return msg


def transform_stamped_to_transform(msg: TransformStamped) -> Transform:
    t = msg.transform
    return _guarded(
        lambda: Transform.from_xyz_quat(_xyz(t.translation), _quat(t.rotation)),
        f"transform {msg.header.frame_id} -> {msg.child_frame_id}",
    )


def odometry(
    transform: Transform,
    covariance: ArrayLike,
    header: Header,
    child_frame_id: str,
    twist_linear: ArrayLike = (0.0, 0.0, 0.0),
    twist_angular: ArrayLike = (0.0, 0.0, 0.0),
    twist_covariance: ArrayLike | None = None,
) -> Odometry:
    msg = Odometry(header=header, child_frame_id=child_frame_id)
    msg.pose = transform_to_pose_with_covariance(transform, covariance)
    lin, ang = np.asarray(twist_linear, float), np.asarray(twist_angular, float)
    msg.twist.twist.linear = Vector3(x=lin[0], y=lin[1], z=lin[2])
    msg.twist.twist.angular = Vector3(x=ang[0], y=ang[1], z=ang[2])
    if twist_covariance is not None:
        cov = _guarded(
            lambda: validate_covariance(twist_covariance, 6, "twist covariance"), "twist"
        )
        msg.twist.covariance = cov.reshape(-1).tolist()
    return msg


def path(transforms: Sequence[Transform], stamps_s: Sequence[float], frame_id: str) -> Path:
    if len(transforms) != len(stamps_s):
        raise ConversionError(
            f"a path of {len(transforms)} poses needs as many stamps, got {len(stamps_s)}"
        )
    end = make_header(stamps_s[-1] if stamps_s else 0.0, frame_id)
    return Path(
        header=end,
        poses=[
            pose_stamped(t, make_header(s, frame_id))
            for t, s in zip(transforms, stamps_s, strict=True)
        ],
    )


def vector3(values: ArrayLike) -> Vector3:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise ConversionError(f"a Vector3 is 3 finite numbers, got {values!r}")
    return Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def vector3_to_array(msg: Vector3) -> NDArray[np.float64]:
    v = _xyz(msg)
    if not np.all(np.isfinite(v)):
        raise ConversionError(f"Vector3 {v.tolist()} has a NaN or infinite component")
    return v


# --- RViz markers -----------------------------------------------------------------------------


def arrow_marker(
    header: Header,
    start: ArrayLike,
    end: ArrayLike,
    rgba: tuple[float, float, float, float],
    namespace: str,
    marker_id: int = 0,
    shaft_diameter: float = 0.05,
    lifetime_s: float = 0.0,
) -> Marker:
    """An RViz arrow from `start` to `end` (points in header.frame_id)."""
    s, e = vector3(start), vector3(end)
    marker = Marker(header=header, ns=namespace, id=marker_id, type=Marker.ARROW, action=Marker.ADD)
    marker.points = [Point(x=s.x, y=s.y, z=s.z), Point(x=e.x, y=e.y, z=e.z)]
    marker.scale = Vector3(x=shaft_diameter, y=2.0 * shaft_diameter, z=3.0 * shaft_diameter)
    marker.color = ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])
    marker.pose.orientation.w = 1.0
    marker.lifetime = seconds_to_duration(lifetime_s)
    return marker


# --- sun directions ---------------------------------------------------------------------------


def sun_direction_msg(
    header: Header,
    direction: ArrayLike,
    covariance: ArrayLike,
    azimuth: float,
    zenith: float,
    angle_covariance: ArrayLike,
    sample_count: int,
    valid: bool,
) -> Any:
    """A pose_reloc/SunDirection (header: the image's, camera optical frame)."""
    from pose_reloc.msg import SunDirection

    cov = _guarded(lambda: validate_covariance(covariance, 3, "sun covariance"), "sun direction")
    angles = _guarded(
        lambda: validate_covariance(angle_covariance, 2, "azimuth/zenith covariance"),
        "sun direction",
    )
    return SunDirection(
        header=header,
        direction=vector3(direction),
        covariance=cov.reshape(-1).tolist(),
        azimuth=float(azimuth),
        zenith=float(zenith),
        angle_covariance=angles.reshape(-1).tolist(),
        sample_count=int(sample_count),
        valid=bool(valid),
    )


def sun_direction_from_msg(msg: Any) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """(unit direction, 3x3 covariance, valid) of a SunDirection, checked for unit length and NaN."""
    direction = vector3_to_array(msg.direction)
    if abs(float(np.linalg.norm(direction)) - 1.0) > 1e-3:
        raise ConversionError(f"sun direction {direction.tolist()} is not a unit vector")
    covariance = _guarded(
        lambda: validate_covariance(msg.covariance, 3, "sun covariance"), "sun direction"
    )
    return direction, covariance, bool(msg.valid)
