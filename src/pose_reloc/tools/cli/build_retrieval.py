"""`pose-reloc build-retrieval`: an image-retrieval index of a site's posed frames, the prior
source beside PoseNet (posenet_node's prior_source: retrieval or both)."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import Commands, add_command


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands, "build-retrieval", "image-retrieval index of posed frames (a pose prior)"
    )
    parser.add_argument(
        "--data",
        required=True,
        nargs="+",
        help="posed frames: the site's mapping drives (several days make it hold across days)",
    )
    parser.add_argument("--out", required=True, help="the index file to write (.npz)")
    parser.add_argument(
        "--calibration-data",
        help="held-out posed frames of the route (another day): its covariance is scaled on them, "
        "and images less like the map than the least recognized 1 %% of them get no answer; "
        "without: unscaled, every image answered",
    )
    parser.add_argument(
        "--dims", type=int, default=256, help="descriptor dimensions kept by the PCA"
    )
    parser.add_argument(
        "--stride", type=int, default=1, help="use every STRIDE-th frame of each drive"
    )
    parser.add_argument(
        "--site",
        help="the site's name, stored in the index (default: what the drives' dataset.yaml says)",
    )
    parser.add_argument(
        "--floor-position-m",
        type=float,
        help="position std added to every answer: how far off the mapped lanes and camera height "
        "a robot may be (default 1 m)",
    )
    parser.add_argument(
        "--floor-rotation-deg", type=float, help="the same for rotation (default 2 degrees)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import itertools

    from pose_reloc.datasets import read_dataset, read_datasets
    from pose_reloc.errors import PoseRelocError
    from pose_reloc.posenet.retrieval import (
        RetrievalLocalizer,
        build_retrieval_index,
        calibrate_min_score,
        calibrate_retrieval_covariance,
    )
    from pose_reloc.site_identity import site_of_datasets

    if args.stride < 1:
        raise PoseRelocError(f"--stride must be at least 1, got {args.stride}")
    floor = {"position_m": args.floor_position_m, "rotation_deg": args.floor_rotation_deg}
    for name, value in floor.items():
        if value is not None and not value > 0:
            raise PoseRelocError(f"the floor's {name} must be positive, got {value}")
    calibration = [args.calibration_data] if args.calibration_data else []
    site = args.site if args.site is not None else site_of_datasets([*args.data, *calibration])
    index = build_retrieval_index(
        (
            frame
            for data in args.data
            for frame in itertools.islice(read_dataset(data), 0, None, args.stride)
        ),
        args.dims,
        {
            "site": site,
            "data": list(args.data),
            "stride": args.stride,
            "floor": {name: value for name, value in floor.items() if value is not None},
        },
    )
    if args.calibration_data:
        localizer = RetrievalLocalizer(index)
        held_out = list(read_datasets([args.calibration_data]))
        scales = calibrate_retrieval_covariance(localizer, held_out)
        index.info["covariance_scale"] = {**scales, "calibrated_on": args.calibration_data}
        index.info["min_score"] = calibrate_min_score(localizer, held_out)
        print(
            f"calibrated on {args.calibration_data}: covariance position x{scales['position']:.2f}, "
            f"rotation x{scales['rotation']:.2f}; minimum similarity {index.info['min_score']:.3f}"
        )
    index.save(args.out)
    print(f"wrote {args.out}: {index.info['frames']} frames, {index.info['dims']} dimensions")
    return 0
