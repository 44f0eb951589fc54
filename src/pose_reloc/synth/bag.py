"""Write a rendered drive as a rosbag2 (MCAP, via rosbags) that `ros2 bag play` replays on a robot:

/camera/image_raw/compressed  sensor_msgs/CompressedImage   (JPEG, camera_optical_frame)
/camera/camera_info           sensor_msgs/CameraInfo
/tf_static                    tf2_msgs/TFMessage            base_link -> camera_optical_frame (latched)
/ground_truth/pose            geometry_msgs/PoseStamped     base_link in map
/ground_truth/sun             geometry_msgs/Vector3Stamped  unit vector towards the sun, map frame
/odom                         nav_msgs/Odometry             wheel odometry, odom -> base_link (drives)
/imu/data                     sensor_msgs/Imu               gyro and accelerometer at base_link (drives)
/gps/fix                      sensor_msgs/NavSatFix         GPS fixes at base_link, 1 Hz (drives)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import DatasetError, Frame
from pose_reloc.geometry import Transform
from pose_reloc.synth.sensors import GpsFix, ImuSample, OdometrySample

IMAGE_TOPIC = "/camera/image_raw/compressed"
CAMERA_INFO_TOPIC = "/camera/camera_info"
TF_STATIC_TOPIC = "/tf_static"
GT_POSE_TOPIC = "/ground_truth/pose"
GT_SUN_TOPIC = "/ground_truth/sun"
ODOM_TOPIC = "/odom"
IMU_TOPIC = "/imu/data"
GPS_TOPIC = "/gps/fix"
MAP_FRAME, ODOM_FRAME, BASE_FRAME, CAMERA_FRAME = "map", "odom", "base_link", "camera_optical_frame"


def qos_profile(latched: bool) -> Any:
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    never = QosTime(0, 0)
    return Qos(
        QosHistory.KEEP_LAST,
        1,
        QosReliability.RELIABLE,
        QosDurability.TRANSIENT_LOCAL if latched else QosDurability.VOLATILE,
        never,
        never,
        QosLiveliness.AUTOMATIC,
        never,
        False,
    )


class DemoBagWriter:
    def __init__(
        self, path: Path, camera: PinholeCamera, T_base_cam: Transform, jpeg_quality: int = 88
    ):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        if path.exists():
            raise DatasetError(f"bag {path} exists already: choose a new path or remove it")
        self.store = get_typestore(Stores.ROS2_HUMBLE)
        self.types = self.store.types
        self.camera, self.T_base_cam, self.quality = camera, T_base_cam, jpeg_quality
        self.writer = Writer(path, version=8, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        add = self.writer.add_connection
        self.connections = {
            IMAGE_TOPIC: add(IMAGE_TOPIC, "sensor_msgs/msg/CompressedImage", typestore=self.store),
            CAMERA_INFO_TOPIC: add(
                CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=self.store
            ),
            TF_STATIC_TOPIC: add(
                TF_STATIC_TOPIC,
                "tf2_msgs/msg/TFMessage",
                typestore=self.store,
                offered_qos_profiles=[qos_profile(latched=True)],
            ),
            GT_POSE_TOPIC: add(
                GT_POSE_TOPIC, "geometry_msgs/msg/PoseStamped", typestore=self.store
            ),
            GT_SUN_TOPIC: add(
                GT_SUN_TOPIC, "geometry_msgs/msg/Vector3Stamped", typestore=self.store
            ),
        }
        self.first = True

    def _header(self, stamp: float, frame_id: str) -> Any:
        ns = round(stamp * 1e9)
        time_type = self.types["builtin_interfaces/msg/Time"]
        return self.types["std_msgs/msg/Header"](
            stamp=time_type(sec=ns // 10**9, nanosec=ns % 10**9), frame_id=frame_id
        )

    def _write(self, topic: str, stamp: float, msg: Any) -> None:
        self.writer.write(
            self.connections[topic],
            round(stamp * 1e9),
            self.store.serialize_cdr(msg, msg.__msgtype__),
        )

    def _pose(self, T: Transform) -> Any:
        t = self.types
        x, y, z = T.translation
        qx, qy, qz, qw = T.quat_xyzw
        return t["geometry_msgs/msg/Pose"](
            position=t["geometry_msgs/msg/Point"](x=float(x), y=float(y), z=float(z)),
            orientation=t["geometry_msgs/msg/Quaternion"](
                x=float(qx), y=float(qy), z=float(qz), w=float(qw)
            ),
        )

    def _static_tf(self, stamp: float) -> Any:
        t = self.types
        T = self.T_base_cam
        transform = t["geometry_msgs/msg/Transform"](
            translation=t["geometry_msgs/msg/Vector3"](*map(float, T.translation)),
            rotation=t["geometry_msgs/msg/Quaternion"](*map(float, T.quat_xyzw)),
        )
        stamped = t["geometry_msgs/msg/TransformStamped"](
            header=self._header(stamp, BASE_FRAME), child_frame_id=CAMERA_FRAME, transform=transform
        )
        return t["tf2_msgs/msg/TFMessage"](transforms=[stamped])

    def _camera_info(self, stamp: float) -> Any:
        t = self.types
        cam = self.camera
        P = np.zeros((3, 4))
        P[:, :3] = cam.K
        return t["sensor_msgs/msg/CameraInfo"](
            header=self._header(stamp, CAMERA_FRAME),
            height=cam.height,
            width=cam.width,
            distortion_model="plumb_bob",
            d=np.zeros(5),
            k=cam.K.reshape(-1),
            r=np.eye(3).reshape(-1),
            p=P.reshape(-1),
            binning_x=0,
            binning_y=0,
            roi=t["sensor_msgs/msg/RegionOfInterest"](
                x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
            ),
        )

    def add(self, frame: Frame, T_map_base: Transform, image_bgr: NDArray[np.uint8]) -> None:
        t, stamp = self.types, frame.stamp
        if self.first:
            self._write(TF_STATIC_TOPIC, stamp, self._static_tf(stamp))
            self.first = False
        ok, jpeg = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise DatasetError("OpenCV could not encode a frame as JPEG")
        image = t["sensor_msgs/msg/CompressedImage"](
            header=self._header(stamp, CAMERA_FRAME),
            format="bgr8; jpeg compressed bgr8",
            data=np.frombuffer(jpeg.tobytes(), np.uint8),
        )
        self._write(IMAGE_TOPIC, stamp, image)
        self._write(CAMERA_INFO_TOPIC, stamp, self._camera_info(stamp))
        pose = t["geometry_msgs/msg/PoseStamped"](
            header=self._header(stamp, MAP_FRAME), pose=self._pose(T_map_base)
        )
        self._write(GT_POSE_TOPIC, stamp, pose)
        if frame.sun_world is not None:
            vector = t["geometry_msgs/msg/Vector3"](*map(float, frame.sun_world))
            self._write(
                GT_SUN_TOPIC,
                stamp,
                t["geometry_msgs/msg/Vector3Stamped"](
                    header=self._header(stamp, MAP_FRAME), vector=vector
                ),
            )

    def _lazy_connection(self, topic: str, msgtype: str) -> None:
        """Topics only drives have: their connection is added with their first message."""
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(
                topic, msgtype, typestore=self.store
            )

    def add_odometry(self, stamp: float, sample: OdometrySample) -> None:
        t = self.types
        self._lazy_connection(ODOM_TOPIC, "nav_msgs/msg/Odometry")
        pose = t["geometry_msgs/msg/PoseWithCovariance"](
            pose=self._pose(sample.T_odom_base), covariance=sample.pose_covariance.reshape(-1)
        )
        twist = t["geometry_msgs/msg/TwistWithCovariance"](
            twist=t["geometry_msgs/msg/Twist"](
                linear=t["geometry_msgs/msg/Vector3"](x=sample.linear_mps, y=0.0, z=0.0),
                angular=t["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=sample.angular_radps),
            ),
            covariance=sample.twist_covariance.reshape(-1),
        )
        odometry = t["nav_msgs/msg/Odometry"](
            header=self._header(stamp, ODOM_FRAME),
            child_frame_id=BASE_FRAME,
            pose=pose,
            twist=twist,
        )
        self._write(ODOM_TOPIC, stamp, odometry)

    def add_imu(self, stamp: float, sample: ImuSample) -> None:
        t = self.types
        self._lazy_connection(IMU_TOPIC, "sensor_msgs/msg/Imu")
        unknown_orientation = np.zeros(9)
        unknown_orientation[0] = -1.0  # sensor_msgs/Imu: no orientation estimate
        imu = t["sensor_msgs/msg/Imu"](
            header=self._header(stamp, BASE_FRAME),
            orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
            orientation_covariance=unknown_orientation,
            angular_velocity=t["geometry_msgs/msg/Vector3"](
                *map(float, sample.angular_velocity_radps)
            ),
            angular_velocity_covariance=np.eye(3).reshape(-1) * sample.angular_velocity_variance,
            linear_acceleration=t["geometry_msgs/msg/Vector3"](
                *map(float, sample.linear_acceleration_mps2)
            ),
            linear_acceleration_covariance=np.eye(3).reshape(-1)
            * sample.linear_acceleration_variance,
        )
        self._write(IMU_TOPIC, stamp, imu)

    def add_gps(self, fix: GpsFix) -> None:
        t = self.types
        self._lazy_connection(GPS_TOPIC, "sensor_msgs/msg/NavSatFix")
        msg = t["sensor_msgs/msg/NavSatFix"](
            header=self._header(fix.stamp, BASE_FRAME),
            status=t["sensor_msgs/msg/NavSatStatus"](status=0, service=1),  # a fix, GPS
            latitude=fix.latitude_deg,
            longitude=fix.longitude_deg,
            altitude=fix.altitude_m,
            position_covariance=np.eye(3).reshape(-1) * fix.variance_m2,
            position_covariance_type=2,  # diagonal known
        )
        self._write(GPS_TOPIC, fix.stamp, msg)

    def close(self) -> None:
        self.writer.close()
