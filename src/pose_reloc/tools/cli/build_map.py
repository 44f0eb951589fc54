"""`pose-reloc build-map`: a 3D feature map from posed images, for PnP refinement in vo_fusion."""

from __future__ import annotations

import argparse
import itertools

from pose_reloc.tools.cli.common import Commands, add_command


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands, "build-map", "3D feature map from posed images (for PnP refinement)"
    )
    parser.add_argument(
        "--data",
        required=True,
        nargs="+",
        help="posed images: a mapping drive, any dataset format; several drives (other days, "
        "other light) make a map that holds across days",
    )
    parser.add_argument("--out", required=True, help="the map file to write (.npz)")
    parser.add_argument(
        "--descriptor", default="orb", choices=["orb", "sift"], help="sift is slower, more accurate"
    )
    parser.add_argument(
        "--max-features", type=int, default=2000, help="features detected per image"
    )
    parser.add_argument("--stride", type=int, default=1, help="use every STRIDE-th image")
    parser.add_argument(
        "--no-observations",
        action="store_true",
        help="leave the 2D observations out (a smaller file; they only serve re-optimisation)",
    )
    parser.add_argument(
        "--max-reprojection-px", type=float, default=2.0, help="drop points reprojecting worse"
    )
    parser.add_argument(
        "--min-triangulation-deg",
        type=float,
        default=2.0,
        help="drop points seen from too alike views",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset
    from pose_reloc.site_identity import site_of_datasets
    from vo_fusion.build_map import build_map

    site = site_of_datasets(args.data)
    frames = (
        frame
        for data in args.data
        for frame in itertools.islice(read_dataset(data), 0, None, args.stride)
    )
    feature_map = build_map(
        frames,
        descriptor=args.descriptor,
        max_features=args.max_features,
        max_reprojection_px=args.max_reprojection_px,
        min_triangulation_deg=args.min_triangulation_deg,
    )
    feature_map.metadata["site"] = site
    feature_map.save(args.out, with_observations=not args.no_observations)
    print(
        f"wrote {args.out}: {len(feature_map.points_world)} points ({feature_map.descriptor_type})"
    )
    return 0
