"""`pose-reloc export`: a training checkpoint to an ONNX model with its metadata and model card."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import Commands, add_command, read_metrics


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands, "export", "checkpoint -> ONNX model with metadata and a model card"
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt from pose-reloc train")
    parser.add_argument(
        "--out", required=True, help="the .onnx file to write (its .json card goes beside it)"
    )
    parser.add_argument(
        "--samples", type=int, default=32, help="MC-dropout samples the nodes draw by default"
    )
    parser.add_argument(
        "--metrics", help="metrics JSON from pose-reloc evaluate, stored as measured accuracy"
    )
    parser.add_argument(
        "--calibration-data",
        help="held-out frames to scale the MC-dropout covariance on (posenet; not the test set)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.train import require_torch

    require_torch()
    from pose_reloc.tools.export import export_checkpoint

    accuracy = read_metrics(args.metrics) if args.metrics else None
    path, card = export_checkpoint(
        args.checkpoint, args.out, samples=args.samples, accuracy=accuracy
    )
    if args.calibration_data:
        from pose_reloc.tools.export import calibrate_exported

        calibrate_exported(path, card, args.calibration_data)
    return 0
