"""`pose-reloc evaluate sun`: Sun-BCNN angular error, calibration and validity."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import Commands, add_command, add_model_arguments


def add_parser(commands: Commands) -> None:
    parser = add_command(commands, "sun", "Sun-BCNN angular error, calibration and validity")
    add_model_arguments(parser, "sun_bcnn ONNX model")
    parser.add_argument(
        "--data",
        required=True,
        help="frames with sun labels (synthetic dataset or a bag with /ground_truth/sun)",
    )
    parser.add_argument("--out", required=True, help="metrics JSON to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sun_bcnn.evaluate import evaluate_sun

    evaluate_sun(args.model, args.data, args.out, args.providers, args.samples)
    print(f"wrote {args.out}")
    return 0
