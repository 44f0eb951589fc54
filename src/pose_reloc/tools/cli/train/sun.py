"""`pose-reloc train sun`: train Sun-BCNN (sun-direction regression) into a checkpoint."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import (
    Commands,
    add_command,
    add_training_arguments,
    training_settings,
)


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

    config = SunTrainConfig(**training_settings(args), overcast_weight=args.overcast_weight)
    path = train_sun_bcnn(args.data, args.out, config, val_data=args.val)
    print(f"wrote {path}")
    return 0
