"""`pose-reloc replay BAG`: a rosbag through the three nodes over rclpy, with metrics and a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from pose_reloc.tools.cli.common import Commands, add_command, add_replay_arguments, replay_settings


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands, "replay", "a rosbag through the three nodes over rclpy, with metrics and a report"
    )
    parser.add_argument("bag", help="rosbag2 folder (MCAP or sqlite3)")
    add_replay_arguments(parser, "out/replay")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.tools.replay.run import run_replay

    run_replay(replay_settings(args, Path(args.bag)))
    return 0
