"""`pose-reloc benchmark pnp`: our OpenCV MAGSAC++ PnP against pycolmap's on the same matches."""

from __future__ import annotations

import argparse
import itertools

from pose_reloc.tools.cli.common import Commands, add_command


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands,
        "pnp",
        "OpenCV MAGSAC++ (ours) vs pycolmap's absolute pose on the same 2D-3D matches",
    )
    parser.add_argument("--map", default="models/demo_map.npz", help="feature map")
    parser.add_argument("--data", default="data/demo/kidnap_drive", help="posed images")
    parser.add_argument("--frames", type=int, default=200, help="first N frames")
    parser.add_argument("--prior-offset-m", type=float, default=2.5, help="prior position error")
    parser.add_argument("--prior-offset-deg", type=float, default=6.0, help="prior rotation error")
    parser.add_argument("--out", help="also write the figures to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset
    from pose_reloc.evaluation.metrics import write_json
    from vo_fusion.evaluation.pnp_comparison import compare_pnp
    from vo_fusion.feature_map import FeatureMap

    frames = list(itertools.islice(read_dataset(args.data), args.frames))
    figures = compare_pnp(
        FeatureMap.load(args.map), frames, args.prior_offset_m, args.prior_offset_deg
    )
    if args.out:
        write_json(args.out, figures)
    return 0
