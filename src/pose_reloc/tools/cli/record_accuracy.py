"""`pose-reloc record-accuracy MODEL METRICS`: store evaluated accuracy in a model and its card."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import Commands, add_command, read_metrics


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands, "record-accuracy", "store `pose-reloc evaluate` figures in a model and its card"
    )
    parser.add_argument("model", help="an exported .onnx model")
    parser.add_argument("metrics", help="metrics JSON written by pose-reloc evaluate")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.model_card import record_accuracy

    figures = read_metrics(args.metrics)
    print(f"wrote the accuracy into {args.model} and {record_accuracy(args.model, figures)}")
    return 0
