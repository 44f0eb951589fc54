"""`pose-reloc train sun`: train Sun-BCNN (sun-direction regression) into a checkpoint."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import Commands, add_command, add_training_arguments


def add_parser(commands: Commands) -> None:
    parser = add_command(commands, "sun", "Sun-BCNN sun-direction regression")
    add_training_arguments(
        parser,
        data_help="training dataset with sun labels (pose-reloc synth)",
        val_help="a dataset to report the median angular error on after every epoch",
    )
    parser.add_argument(
        "--overcast-weight",
        type=float,
        default=0.1,
        help="weight of the term spreading MC samples on overcast frames (0: leave them out)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.train import require_torch

    require_torch()
    from sun_bcnn.train import SunTrainConfig, train_sun_bcnn

    config = SunTrainConfig(
        arch=args.arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        input_width=args.input_size[0],
        input_height=args.input_size[1],
        center_crop=args.arch == "googlenet",
        seed=args.seed,
        threads=args.threads,
        overcast_weight=args.overcast_weight,
    )
    path = train_sun_bcnn(args.data, args.out, config, val_data=args.val)
    print(f"wrote {path}")
    return 0
