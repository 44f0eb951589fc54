"""`pose-reloc map-site`: a robot's mapping bag to a site folder (feature map, posed frames,
site.yaml, report), no ground truth needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pose_reloc.tools.cli.common import (
    Commands,
    add_command,
    add_mapping_arguments,
    mapping_config,
)


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands,
        "map-site",
        "map a site from a robot's mapping bag (images + odometry): feature map, posed frames, "
        "site.yaml",
    )
    parser.add_argument(
        "source",
        help="rosbag2 (MCAP or sqlite3) of the mapping drive, or an image folder whose poses are "
        "the robot's odometry (KITTI odometry layout, or our dataset format)",
    )
    parser.add_argument("--out", required=True, help="site folder to create (must not exist)")
    parser.add_argument(
        "--site",
        help="the site's name, carried by its map, index, dataset and site.yaml so that the nodes "
        "refuse another site's (default: the --out folder's name)",
    )
    parser.add_argument(
        "--image-topic", default="/camera/image_raw/compressed", help="Image or CompressedImage"
    )
    parser.add_argument("--camera-info-topic", default="/camera/camera_info", help="CameraInfo")
    parser.add_argument(
        "--calibration",
        help="camera calibration YAML (ROS camera_calibration format) when the "
        "bag has no camera_info",
    )
    parser.add_argument("--odom-topic", default="/odom", help="nav_msgs/Odometry (odom -> base)")
    parser.add_argument(
        "--gps-topic",
        default="/gps/fix",
        help="sensor_msgs/NavSatFix: where the site lies on Earth, when --origin is not given",
    )
    parser.add_argument(
        "--imu-topic",
        default="/imu/data",
        help="sensor_msgs/Imu: each keyframe's tilt from its accelerometer, the robot's motion "
        "taken out by the odometry (without one, the odometry's: flat ground); '' to ignore it",
    )
    parser.add_argument("--base-frame", default="base_link", help="the robot frame of the odometry")
    parser.add_argument(
        "--camera-height",
        type=float,
        help="camera height above the ground (m), the scale source; "
        "default: from the mount in /tf_static when the odometry is planar",
    )
    add_mapping_arguments(parser)
    parser.add_argument(
        "--odometry-noise",
        choices=["bag", "configured"],
        default="bag",
        help="what weighs the odometry's steps: 'bag', the twist covariance its messages state "
        "(forward speed and yaw rate; the --odometry-*-error fractions where a message states "
        "none); 'configured', those fractions always (for a robot whose covariance is made up)",
    )
    parser.add_argument(
        "--register-stride", type=int, default=1, help="register every N-th frame against the map"
    )
    parser.add_argument(
        "--dataset-stride",
        type=int,
        default=5,
        help="write every N-th registered frame into dataset/ (0: no dataset)",
    )
    parser.add_argument(
        "--origin",
        nargs=4,
        type=float,
        metavar=("LAT", "LON", "ALT", "YAW_TO_ENU_DEG"),
        help="where the map's origin lies on Earth (for the sun); default: from the bag's GPS "
        "fixes; neither: sun updates off",
    )
    parser.add_argument(
        "--align-to-truth",
        action="store_true",
        help="evaluation only (bags with ground truth, e.g. synthetic): express the site in the "
        "truth's frame by a rigid fit, so evaluate fusion can score it",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import detect_format
    from pose_reloc.tools.replay.camera_info_file import read_camera_info_yaml
    from pose_reloc.tools.site.inputs import MappingTopics, read_mapping_bag, read_mapping_folder
    from pose_reloc.tools.site.outputs import site_folder
    from pose_reloc.tools.site.run import SiteSettings, make_site

    out = Path(args.out)
    camera = read_camera_info_yaml(args.calibration) if args.calibration else None
    topics = MappingTopics(
        image=args.image_topic,
        camera_info=args.camera_info_topic,
        odometry=args.odom_topic,
        gps=args.gps_topic,
        imu=args.imu_topic,
        base_frame=args.base_frame,
    )
    with site_folder(out) as partial:
        if detect_format(Path(args.source)) == "rosbag":
            inputs = read_mapping_bag(args.source, topics, camera, args.camera_height)
        else:
            inputs = read_mapping_folder(args.source, camera, args.camera_height)
        settings = SiteSettings(
            mapping=mapping_config(args),
            map_features=args.map_features,
            register_stride=args.register_stride,
            dataset_stride=args.dataset_stride,
            origin=_origin(args.origin),
            command=" ".join(["pose-reloc", *sys.argv[1:]]),
            align_to_truth=args.align_to_truth,
            odometry_noise_from_bag=args.odometry_noise == "bag",
            site=args.site,
        )
        figures = make_site(inputs, settings, partial).figures
    print(
        f"wrote {out}: {figures['points_in_map']} map points, "
        f"{figures['frames_registered']} of {figures['frames_attempted']} frames registered"
    )
    print(f"launch: ros2 launch pose_reloc robot.launch.py config:={(out / 'site.yaml').resolve()}")
    return 0


def _origin(values: list[float] | None) -> dict[str, float] | None:
    if values is None:
        return None
    lat, lon, alt, yaw = values
    return {"origin_lat": lat, "origin_lon": lon, "origin_alt": alt, "yaw_to_enu_deg": yaw}
