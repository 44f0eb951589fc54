"""`pose-reloc train NETWORK`: train a network (needs torch, the [train] extra); one module each."""

from __future__ import annotations

from pose_reloc.tools.cli.common import Commands, add_command
from pose_reloc.tools.cli.train import posenet, sun


def add_parser(commands: Commands) -> None:
    parser = add_command(commands, "train", "train a network (needs torch, the [train] extra)")
    networks = parser.add_subparsers(dest="network", required=True)
    posenet.add_parser(networks)
    sun.add_parser(networks)
