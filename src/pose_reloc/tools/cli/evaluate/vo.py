"""`pose-reloc evaluate vo`: monocular VO on a real sequence, its scale from its first frames."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import Commands, add_command


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands,
        "vo",
        "monocular VO on a real sequence (e.g. KITTI): scale from a map of its first frames",
    )
    parser.add_argument("--data", required=True, help="posed images (KITTI odometry folder, ...)")
    parser.add_argument("--out", required=True, help="metrics JSON; TUM trajectories beside it")
    parser.add_argument(
        "--init-frames",
        type=int,
        default=5,
        help="frames whose ground truth builds the map the first fix is made against",
    )
    parser.add_argument(
        "--descriptor",
        default="orb",
        choices=["orb", "sift"],
        help="features of that map (sift: slower, finds more on foliage and low texture)",
    )
    parser.add_argument(
        "--map-features", type=int, default=5000, help="features detected per map image"
    )
    parser.add_argument(
        "--odometry",
        default="kitti",
        choices=["kitti", "robot"],
        help="odometry preset: kitti (~1.2 m between frames, wide images) or robot (the nodes' "
        "defaults)",
    )
    parser.add_argument(
        "--wheel-stand-in",
        action="store_true",
        help="fuse a stand-in for the robot's own odometry: the true motion with a 2 %% scale "
        "error and 1 %% white noise per step (the data has no odometry of its own)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset
    from vo_fusion.evaluation.vo import ODOMETRY_PRESETS, evaluate_vo

    evaluate_vo(
        read_dataset(args.data),
        init_frames=args.init_frames,
        descriptor=args.descriptor,
        out=args.out,
        map_features=args.map_features,
        odometry=ODOMETRY_PRESETS[args.odometry],
        wheel_stand_in=args.wheel_stand_in,
    )
    return 0
