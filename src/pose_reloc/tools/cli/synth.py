"""`pose-reloc synth`: render a synthetic sun-lit dataset (and optionally a rosbag) from a scene."""

from __future__ import annotations

import argparse
from pathlib import Path

from pose_reloc.tools.cli.common import Commands, add_command


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands, "synth", "render a synthetic sun-lit dataset (and rosbag) from a scene"
    )
    parser.add_argument(
        "--scene", required=True, help="scene description YAML (config/scenes/*.yaml)"
    )
    parser.add_argument(
        "--out", required=True, help="dataset folder to create (must not exist or be empty)"
    )
    parser.add_argument(
        "--trajectory",
        default="train",
        choices=["train", "drive", "kidnap", "long", "survey", "mapping"],
        help="train: poses spread over the streets; drive: a robot drive; kidnap: a drive with "
        "teleports; long: a long drive (for VO drift); survey: every street both ways, one "
        "frame every 0.6 m (for pose-reloc build-map); mapping: the survey route at the camera "
        "rate, as a robot's mapping bag records it (with --bag: wheel odometry and IMU too)",
    )
    parser.add_argument("--frames", type=int, help="number of frames (train; default 500)")
    parser.add_argument(
        "--seconds", type=float, help="drive length in seconds (drives; default from scene)"
    )
    parser.add_argument(
        "--seed", type=int, help="trajectory/sun seed (default: derived from the scene seed)"
    )
    parser.add_argument("--depth", action="store_true", help="also write 16-bit depth PNGs (mm)")
    parser.add_argument(
        "--noshadow-twin", action="store_true", help="also render each frame without cast shadows"
    )
    parser.add_argument("--bag", help="also write a rosbag2 (MCAP) of the frames at this path")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one scene field (repeatable; the value in YAML), e.g. "
        "sun.drive_start_utc=2026-04-14T13:30:00, lighting.overcast_drives=true, "
        "trajectory.lane_offset_m=0, camera.mount_xyz=[0.15,0,1.5], city.vehicles_seed=1",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.synth.config import load_scene_config
    from pose_reloc.synth.generate import synthesize

    config = load_scene_config(args.scene, args.set)
    amount = args.frames if args.trajectory == "train" else args.seconds
    if amount is None:
        # a survey or mapping drive: the whole circuit
        defaults = {"train": 500.0, "survey": float("inf"), "mapping": float("inf")}
        amount = defaults.get(args.trajectory, config.trajectory.drive_seconds)

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
