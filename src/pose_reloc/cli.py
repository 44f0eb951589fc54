"""The `pose-reloc` command: ROS-free tools (one sub-command per job; more arrive with each issue)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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


def _synth(args: argparse.Namespace) -> int:
    from pose_reloc.synth.config import load_scene_config
    from pose_reloc.synth.generate import synthesize

    config = load_scene_config(args.scene)
    amount = args.frames if args.trajectory == "train" else args.seconds
    if amount is None:
        amount = 500 if args.trajectory == "train" else config.trajectory.drive_seconds

    def progress(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            print(f"  rendered {done}/{total}", flush=True)

    report = synthesize(
        config,
        args.trajectory,
        amount,
        Path(args.out),
        seed=args.seed,
        with_depth=args.depth,
        with_noshadow_twin=args.noshadow_twin,
        bag_path=Path(args.bag) if args.bag else None,
        progress=progress,
    )
    print(
        f"wrote {report.frames} frames of {config.name}/{args.trajectory} to {report.out} in "
        f"{report.seconds:.1f} s: {report.images_per_second:.1f} images/s"
    )
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

    synth = commands.add_parser(
        "synth", help="render a synthetic sun-lit dataset (and rosbag) from a scene"
    )
    synth.add_argument(
        "--scene", required=True, help="scene description YAML (config/scenes/*.yaml)"
    )
    synth.add_argument(
        "--out", required=True, help="dataset folder to create (must not exist or be empty)"
    )
    synth.add_argument(
        "--trajectory",
        default="train",
        choices=["train", "drive", "kidnap", "long"],
        help="train: poses spread over the streets; drive: a robot drive; kidnap: a drive with "
        "teleports; long: a long drive (for VO drift)",
    )
    synth.add_argument("--frames", type=int, help="number of frames (train; default 500)")
    synth.add_argument(
        "--seconds", type=float, help="drive length in seconds (drives; default from scene)"
    )
    synth.add_argument(
        "--seed", type=int, help="trajectory/sun seed (default: derived from the scene seed)"
    )
    synth.add_argument("--depth", action="store_true", help="also write 16-bit depth PNGs (mm)")
    synth.add_argument(
        "--noshadow-twin", action="store_true", help="also render each frame without cast shadows"
    )
    synth.add_argument("--bag", help="also write a rosbag2 (MCAP) of the frames at this path")
    synth.set_defaults(run=_synth)
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
