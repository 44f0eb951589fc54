"""The `pose-reloc` command, one module per sub-command (as ros2cli's command files).

Each command module has `add_parser(commands)`, which adds the command's parser (its arguments, and
`run` as the function to call), and beside it `run(args) -> int`. `train`, `evaluate` and
`benchmark` are packages whose `add_parser` adds the command and, under it, one module per kind.
What several commands share (model, training and replay arguments) is in `common`.

Heavy imports (torch, rclpy, matplotlib, onnxruntime...) stay inside `run`: the parser, and so
`pose-reloc --help`, needs none of them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pose_reloc import __version__
from pose_reloc.errors import PoseRelocError
from pose_reloc.tools.cli import (
    benchmark,
    build_map,
    build_retrieval,
    demo,
    evaluate,
    export,
    map_site,
    model_info,
    record_accuracy,
    replay,
    set_site,
    synth,
    train,
)
from pose_reloc.tools.cli.common import Commands

DESCRIPTION = (
    "The `pose-reloc` command: ROS-free tools "
    "(one sub-command per job; more arrive with each issue)."
)
COMMANDS: tuple[Callable[[Commands], None], ...] = (
    model_info.add_parser,
    record_accuracy.add_parser,
    synth.add_parser,
    train.add_parser,
    export.add_parser,
    evaluate.add_parser,
    replay.add_parser,
    demo.add_parser,
    build_map.add_parser,
    build_retrieval.add_parser,
    map_site.add_parser,
    set_site.add_parser,
    benchmark.add_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pose-reloc", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"pose_reloc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_parser in COMMANDS:
        add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except PoseRelocError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
