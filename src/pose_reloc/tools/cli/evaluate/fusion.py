"""`pose-reloc evaluate fusion`: VO fusion (map, odometry, sun) against ground truth."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import Commands, add_command, add_providers_argument


def add_parser(commands: Commands) -> None:
    parser = add_command(commands, "fusion", "VO fusion (map, odometry, sun) against ground truth")
    parser.add_argument("--map", required=True, help="feature map (pose-reloc build-map)")
    parser.add_argument("--data", required=True, help="a posed drive (dataset folder or bag)")
    parser.add_argument("--out", required=True, help="metrics JSON; TUM trajectories beside it")
    parser.add_argument(
        "--posenet",
        help="PoseNet model giving the priors (neither this nor --retrieval: ground "
        "truth 2-3 m off)",
    )
    parser.add_argument(
        "--retrieval",
        help="retrieval index giving the priors (with --posenet too: retrieval where PoseNet "
        "agrees, else PoseNet, as posenet_node's prior_source both)",
    )
    suns = parser.add_mutually_exclusive_group()
    suns.add_argument("--sun", help="Sun-BCNN model for sun observations (default: no sun)")
    suns.add_argument(
        "--sun-stand-in-deg",
        type=float,
        help="instead of Sun-BCNN: the true sun with this much white error (synthetic data)",
    )
    parser.add_argument(
        "--sun-min-interval-s",
        type=float,
        help="at most one sun update this often (default: FusionConfig's)",
    )
    parser.add_argument(
        "--scene", default="config/scenes/demo.yaml", help="scene whose location gives the sun"
    )
    parser.add_argument("--drift-data", help="a long drive: rotation drift with one map fix")
    parser.add_argument(
        "--drift-runs", type=int, default=1, help="drift measured this many times (own seeds)"
    )
    parser.add_argument(
        "--map-fix-period-s", type=float, default=0.0, help="map refinement at most this often"
    )
    parser.add_argument("--seed", type=int, default=0, help="of the ground-truth stand-in priors")
    parser.add_argument(
        "--robot-odometry",
        metavar="TOPIC",
        help="fuse the robot's own nav_msgs/Odometry on this topic of the --data and "
        "--drift-data bags (e.g. /odom), as vo_fusion_node does",
    )
    parser.add_argument(
        "--imu",
        metavar="TOPIC",
        help="fuse the gyro of the sensor_msgs/Imu on this topic of the --data and --drift-data "
        "bags (e.g. /imu/data) as the odometry's rotation prior, as vo_fusion_node does",
    )
    parser.add_argument(
        "--gravity",
        action="store_true",
        help="with --imu: its accelerometer too, correcting the tilt where the robot was "
        "quasi-static (vo_fusion_node's use_gravity)",
    )
    add_providers_argument(parser)  # of the --posenet and --sun models
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset
    from pose_reloc.errors import PoseRelocError
    from pose_reloc.site_identity import check_sites, site_of_datasets
    from pose_reloc.tools.fusion_sources import (
        ground_truth_priors,
        ground_truth_sun,
        localizer_priors,
        robot_feed,
        scene_ephemeris,
        sun_bcnn_observations,
        warn,
    )
    from vo_fusion.evaluation.fusion import evaluate_fusion
    from vo_fusion.feature_map import FeatureMap
    from vo_fusion.fusion import FusionConfig

    if args.gravity and not args.imu:
        raise PoseRelocError("evaluate fusion: --gravity needs --imu TOPIC")
    site = site_of_datasets([args.data])
    robot = args.robot_odometry or args.imu
    feature_map = FeatureMap.load(args.map)
    check_sites(site, [("map", args.map, feature_map.site)], warn)
    localized = None
    if args.posenet or args.retrieval:
        localized = localizer_priors(args.posenet, args.retrieval, args.providers, site)
    priors = localized[0] if localized is not None else ground_truth_priors(args.seed)
    sun = None
    if args.sun:
        sun = sun_bcnn_observations(args.sun, args.providers)
    elif args.sun_stand_in_deg is not None:
        sun = ground_truth_sun(args.sun_stand_in_deg, args.seed)
    evaluate_fusion(
        feature_map,
        list(read_dataset(args.data)),
        priors,
        prior_name=localized[1] if localized is not None else "ground truth stand-in",
        scored_prior=localized[0] if localized is not None else None,
        sun_source=sun,
        ephemeris=scene_ephemeris(args.scene),
        config=FusionConfig(
            map_fix_period_s=args.map_fix_period_s,
            sun_min_interval_s=(
                FusionConfig.sun_min_interval_s
                if args.sun_min_interval_s is None
                else args.sun_min_interval_s
            ),
        ),
        drift_frames=list(read_dataset(args.drift_data)) if args.drift_data else None,
        drift_runs=args.drift_runs,
        out=args.out,
        robot=robot_feed(args.data, args.robot_odometry, args.imu, args.gravity) if robot else None,
        drift_robot=(
            robot_feed(args.drift_data, args.robot_odometry, args.imu, args.gravity)
            if robot and args.drift_data
            else None
        ),
    )
    print(f"wrote {args.out}")
    return 0
