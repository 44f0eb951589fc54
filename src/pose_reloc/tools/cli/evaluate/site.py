"""`pose-reloc evaluate site`: map-site on real posed images (KITTI), their poses as a drifting
odometry stand-in and as the score (see tools/site/posed_images.py)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from pose_reloc.errors import PoseRelocError
from pose_reloc.tools.cli.common import (
    Commands,
    add_command,
    add_mapping_arguments,
    mapping_config,
)


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands,
        "site",
        "map-site on posed real images (KITTI): odometry = the poses + drift; even frames "
        "mapped, odd frames localized against the map; --odometry-distance-error defaults to "
        "the stand-in's own step noise (0.0071)",
    )
    parser.add_argument(
        "--data", required=True, help="KITTI odometry folder (poses, calib, images)"
    )
    parser.add_argument(
        "--out", required=True, help="site folder to create; evaluation.json inside it"
    )
    add_mapping_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="of the odometry drift and the priors")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import detect_format, read_dataset
    from pose_reloc.tools.site.inputs import gravity_aligned
    from pose_reloc.tools.site.outputs import site_folder
    from pose_reloc.tools.site.posed_images import PosedImagesProtocol, evaluate_posed_images
    from pose_reloc.tools.site.run import SiteSettings

    data, out = Path(args.data), Path(args.out)
    kind = detect_format(data)
    if kind != "kitti":
        raise PoseRelocError(f"evaluate site takes a KITTI odometry folder; {data} is {kind}")
    frames = gravity_aligned(list(read_dataset(data)), kind)
    protocol = PosedImagesProtocol(seed=args.seed)
    mapping = mapping_config(args)
    if args.odometry_distance_error is None:
        mapping = replace(mapping, odometry_distance_error=protocol.distance_error())
    settings = SiteSettings(
        mapping=mapping,
        map_features=args.map_features,
        command=" ".join(["pose-reloc", *sys.argv[1:]]),
    )
    with site_folder(out) as partial:
        figures = evaluate_posed_images(frames, settings, protocol, partial)
        (partial / "evaluation.json").write_text(json.dumps(figures, indent=2, default=str))
    site = figures["site"]
    print(
        f"{site['frames_registered']} of {site['frames_attempted']} mapped frames registered; "
        f"keyframes ATE {site.get('keyframes_ate_sim3_rmse_m', float('nan')):.3f} m Sim(3), "
        f"{site.get('keyframes_ate_rmse_m', float('nan')):.3f} m SE(3) "
        f"(odometry stand-in {site.get('odometry_ate_rmse_m', float('nan')):.3f} m); odd frames "
        f"{figures['odd_accepted']} of {figures['odd_frames']} localized, median "
        f"{100 * figures.get('odd_position_median_m', float('nan')):.1f} cm, "
        f"{figures.get('odd_rotation_median_deg', float('nan')):.2f} deg"
    )
    return 0
