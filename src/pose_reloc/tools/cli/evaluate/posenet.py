"""`pose-reloc evaluate posenet`: PoseNet against ground truth, and the image-retrieval baseline."""

from __future__ import annotations

import argparse

from pose_reloc.tools.cli.common import Commands, add_command, add_model_arguments


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands, "posenet", "PoseNet against ground truth, and the retrieval baseline"
    )
    add_model_arguments(parser, "posenet ONNX model")
    parser.add_argument(
        "--data", required=True, help="test frames (any dataset format, e.g. a drive or a bag)"
    )
    parser.add_argument(
        "--another-day",
        nargs="+",
        default=[],
        metavar="DATA",
        help="held-out drives of another day (other dates, hours, weather, lanes, camera "
        "heights, parked vehicles: tools/render_another_day.sh), reported each and pooled",
    )
    retrieval = parser.add_mutually_exclusive_group()
    retrieval.add_argument(
        "--retrieval",
        help="retrieval index (pose-reloc build-retrieval) compared on the same frames",
    )
    retrieval.add_argument(
        "--train",
        nargs="+",
        help="or: training frames (one dataset or several) to build an uncalibrated index from",
    )
    parser.add_argument("--out", required=True, help="metrics JSON to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.posenet.evaluate import evaluate_posenet

    evaluate_posenet(
        args.model,
        args.data,
        args.train,
        args.out,
        args.providers,
        args.samples,
        another_day=args.another_day,
        retrieval_index=args.retrieval,
    )
    print(f"wrote {args.out}")
    return 0
