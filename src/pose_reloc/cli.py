"""The `pose-reloc` command: ROS-free tools (one sub-command per job; more arrive with each issue)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from pose_reloc import __version__
from pose_reloc.errors import PoseRelocError


def _model_info(args: argparse.Namespace) -> int:
    from pose_reloc.onnx_session import load_model

    model = load_model(args.model, providers=args.providers)
    summary = {
        "path": str(model.path),
        "providers": model.providers,
        "inputs": [{"name": i.name, "shape": i.shape} for i in model.session.get_inputs()],
        "outputs": [{"name": o.name, "shape": o.shape} for o in model.session.get_outputs()],
        "metadata": json.loads(model.metadata.to_json()),
    }
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pose-reloc", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pose_reloc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("model-info", help="load an ONNX model and print its metadata")
    info.add_argument("model", help="path of a .onnx model exported by pose-reloc")
    info.add_argument(
        "--providers",
        nargs="+",
        default=["cpu"],
        help="ONNX Runtime providers in priority order (tensorrt, cuda, cpu or full names)",
    )
    info.set_defaults(run=_model_info)
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


if __name__ == "__main__":
    sys.exit(main())
