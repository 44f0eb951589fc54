"""`pose-reloc evaluate KIND`: accuracy and timing figures as JSON; one module per kind."""

from __future__ import annotations

from pose_reloc.tools.cli.common import Commands, add_command
from pose_reloc.tools.cli.evaluate import fusion, posenet, site, sun, vo


def add_parser(commands: Commands) -> None:
    parser = add_command(commands, "evaluate", "accuracy and timing figures (JSON)")
    kinds = parser.add_subparsers(dest="kind", required=True)
    posenet.add_parser(kinds)
    sun.add_parser(kinds)
    fusion.add_parser(kinds)
    vo.add_parser(kinds)
    site.add_parser(kinds)
