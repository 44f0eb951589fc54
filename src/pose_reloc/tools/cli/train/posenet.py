"""`pose-reloc train posenet`: train PoseNet (camera-pose regression) into a checkpoint."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import (
    Commands,
    add_command,
    add_training_arguments,
    training_settings,
)


def add_parser(commands: Commands) -> None:
    parser = add_command(commands, "posenet", "PoseNet camera-pose regression")
    add_training_arguments(
        parser,
        data_help="training dataset (e.g. pose-reloc synth --trajectory train)",
        val_help="a dataset to report median errors on after every epoch",
    )
    parser.add_argument(
        "--loss",
        default="learned",
        choices=["beta", "learned", "reprojection", "anchors"],
        help="beta: position + --beta x quaternion error; learned: the two weighted by learned "
        "uncertainties; reprojection: pixel error of scene points (after --pretrain-epochs); "
        "anchors: the anchor head (which place on the training drives, and the offset from it)",
    )
    parser.add_argument(
        "--anchor-spacing",
        type=float,
        default=6.0,
        help="metres between the anchors on the training drives (--loss anchors)",
    )
    parser.add_argument(
        "--pretrain-epochs", type=int, default=10, help="learned-loss epochs before reprojection"
    )
    parser.add_argument(
        "--beta", type=float, default=250.0, help="weight of the quaternion term (beta loss)"
    )
    parser.add_argument(
        "--init", help="a local ImageNet/Places state dict to start from (matching tensors)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.train import require_torch

    require_torch()
    from pose_reloc.posenet.train import PoseNetTrainConfig, train_posenet

    config = PoseNetTrainConfig(
        **training_settings(args),
        loss=args.loss,
        pretrain_epochs=args.pretrain_epochs,
        beta=args.beta,
        anchor_spacing_m=args.anchor_spacing,
        init_checkpoint=args.init,
    )
    path = train_posenet(args.data, args.out, config, val_data=args.val)
    print(f"wrote {path}")
    return 0
