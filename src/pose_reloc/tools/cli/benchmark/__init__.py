"""`pose-reloc benchmark WHAT`: timing benchmarks that print their figures; one module each."""

from __future__ import annotations

from pose_reloc.tools.cli.benchmark import pnp, posenet
from pose_reloc.tools.cli.common import Commands, add_command


def add_parser(commands: Commands) -> None:
    parser = add_command(commands, "benchmark", "timing benchmarks that print their figures")
    which = parser.add_subparsers(dest="what", required=True)
    posenet.add_parser(which)
    pnp.add_parser(which)
