"""`pose-reloc demo`: the shipped demo bag through the three nodes (what `make demo` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pose_reloc.errors import PoseRelocError
from pose_reloc.tools.cli.common import Commands, add_command, add_replay_arguments, replay_settings


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands, "demo", "the shipped demo bag through the three nodes (what `make demo` runs)"
    )
    parser.add_argument("--bag", default="data/demo/kidnap_drive", help="the demo rosbag")
    add_replay_arguments(parser, "out/demo")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.tools.replay.run import run_replay

    bag = Path(args.bag)
    if not bag.exists():
        raise PoseRelocError(
            f"the demo bag {bag} is missing: run from the repository root, or give --bag"
        )
    figures = run_replay(replay_settings(args, bag))
    print(f"open {Path(args.out) / 'report.md'} for the plots")
    return 0 if figures["fusion"] else 1
