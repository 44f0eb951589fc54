"""What several sub-commands share: their parser set-up, the model, training and replay arguments,
and reading a metrics file.

Only the standard library at import time: the heavy modules are imported inside the functions that
use them, so that `pose-reloc --help` starts without torch, rclpy or matplotlib.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from pose_reloc.errors import PoseRelocError

if TYPE_CHECKING:
    from pose_reloc.tools.replay.ros_graph import ReplaySettings
    from vo_fusion.mapping.site import MappingConfig

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What `add_subparsers` returns: each command module's `add_parser(commands)` adds itself to it."""

PROVIDERS_HELP = (
    "ONNX Runtime providers in priority order (tensorrt, cuda, cpu or full names, "
    "e.g. CUDAExecutionProvider)"
)


def add_command(commands: Commands, name: str, summary: str) -> argparse.ArgumentParser:
    """The parser of sub-command `name`: `summary` is both its line in the list of commands and the
    description its own --help shows."""
    return commands.add_parser(name, help=summary, description=summary)


def add_providers_argument(parser: argparse.ArgumentParser) -> None:
    """--providers, the same on every command that loads an ONNX model."""
    parser.add_argument("--providers", nargs="+", default=["cpu"], help=PROVIDERS_HELP)


def add_model_arguments(parser: argparse.ArgumentParser, model_help: str) -> None:
    """--model (required), --samples and --providers."""
    parser.add_argument("--model", required=True, help=model_help)
    parser.add_argument(
        "--samples", type=int, default=0, help="MC-dropout samples (0: the model's default)"
    )
    add_providers_argument(parser)


def add_training_arguments(
    parser: argparse.ArgumentParser, *, data_help: str, val_help: str
) -> None:
    """The arguments `train posenet` and `train sun` share: data, run folder, network and schedule."""
    parser.add_argument(
        "--data", required=True, nargs="+", help=data_help + "; several are trained on together"
    )
    parser.add_argument("--val", help=val_help)
    parser.add_argument(
        "--out", required=True, help="run folder for checkpoint.pt and history.json"
    )
    parser.add_argument(
        "--arch",
        default="lite",
        choices=["lite", "googlenet"],
        help="lite: MobileNetV3-small trunk (Jetson/CPU); googlenet: Inception trunk, centre-"
        "cropped input",
    )
    parser.add_argument("--epochs", type=int, default=30, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=32, help="images per training batch")
    parser.add_argument(
        "--lr", type=float, default=2e-3, help="peak learning rate (one-cycle schedule)"
    )
    parser.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        default=[160, 120],
        metavar=("W", "H"),
        help="network input width and height in pixels",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights, batch order and dropout"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")


def training_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What `add_training_arguments` gave, as the keywords both training configs take."""
    return {
        "arch": args.arch,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "input_width": args.input_size[0],
        "input_height": args.input_size[1],
        "center_crop": args.arch == "googlenet",
        "seed": args.seed,
        "threads": args.threads,
    }


def add_mapping_arguments(parser: argparse.ArgumentParser) -> None:
    """How map-site maps (map-site, evaluate site); the defaults are MappingConfig's."""
    parser.add_argument(
        "--descriptor", default="orb", choices=["orb", "sift"], help="features of the map"
    )
    parser.add_argument("--max-features", type=int, help="features per keyframe (default 2000)")
    parser.add_argument(
        "--map-features",
        type=int,
        help="features per keyframe in the map the node loads (default: --max-features)",
    )
    parser.add_argument(
        "--keyframe-distance", type=float, help="a keyframe every this many metres (default 0.5)"
    )
    parser.add_argument(
        "--odometry-distance-error",
        type=float,
        help="how far the odometry's step lengths are trusted: the white error of a step, a "
        "fraction of its length (default 0.01; a constant scale error does not count: it only "
        "scales the map)",
    )
    parser.add_argument(
        "--odometry-heading-error",
        type=float,
        help="how far the odometry's turns are trusted: the white error of a step's turn, "
        "degrees per metre driven (default 0.5; a constant creep per metre and a turn scale "
        "error are estimated with the map, see --odometry-turn-scale-error)",
    )
    parser.add_argument(
        "--odometry-turn-scale-error",
        type=float,
        help="how far off the odometry's turns may read, a fraction of each turn: the prior of "
        "the turn scale the map estimates (default 0.1; raise it for skid steering)",
    )
    parser.add_argument(
        "--level-ground",
        type=float,
        metavar="SIGMA_M",
        help="the site is level (a warehouse floor, a flat campus): every camera at one height "
        "within SIGMA_M metres (e.g. 0.01). Your word, not checked: the images hardly tell a "
        "gentle hill from level ground (default: not assumed)",
    )


def mapping_config(args: argparse.Namespace) -> MappingConfig:
    from vo_fusion.mapping.site import MappingConfig

    given = {
        "descriptor": args.descriptor,
        "max_features": args.max_features,
        "keyframe_distance_m": args.keyframe_distance,
        "odometry_distance_error": args.odometry_distance_error,
        "odometry_heading_error_deg_per_m": args.odometry_heading_error,
        "odometry_turn_scale_error": args.odometry_turn_scale_error,
        "level_ground_m": args.level_ground,
    }
    return MappingConfig(**{name: value for name, value in given.items() if value is not None})


def add_replay_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    """The arguments `replay` and `demo` share (all but the bag); `out`: the default --out."""
    parser.add_argument("--out", default=out, help="folder for metrics.json, report, outputs bag")
    parser.add_argument(
        "--image-topic",
        default="/camera/image_raw/compressed",
        help="Image or CompressedImage topic in the bag",
    )
    parser.add_argument(
        "--camera-info-topic",
        default="/camera/camera_info",
        help="CameraInfo topic in the bag (not read with --camera-info)",
    )
    parser.add_argument(
        "--camera-info", help="camera calibration YAML (ROS camera_calibration format) instead"
    )
    parser.add_argument(
        "--gt-topic",
        default="/ground_truth/pose",
        help="ground-truth pose of base_link in map (PoseStamped, PoseWithCovarianceStamped or "
        "Odometry); '' for none",
    )
    parser.add_argument("--gt-sun-topic", default="/ground_truth/sun", help="'' for none")
    parser.add_argument(
        "--config", help="node parameters YAML (default: share/pose_reloc/config/robot.yaml)"
    )
    parser.add_argument("--posenet-model", help="ONNX model for posenet_node (default: config's)")
    parser.add_argument("--sun-model", help="ONNX model for sun_bcnn_node (default: config's)")
    parser.add_argument("--map", help="feature map for vo_fusion_node (default: config's)")
    parser.add_argument(
        "--prior-source",
        choices=["posenet", "retrieval", "both"],
        help="posenet_node's prior_source (default: config's)",
    )
    parser.add_argument(
        "--retrieval-index", help="retrieval index for posenet_node (default: config's)"
    )
    parser.add_argument(
        "--site",
        help="the site the nodes check their map and models against (default: with --map, the "
        "map's; else config's; '' for no check)",
    )
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID of the run (default: env)")
    parser.add_argument("--max-images", type=int, help="stop after this many images")


def replay_settings(args: argparse.Namespace, bag: Path) -> ReplaySettings:
    """The ReplaySettings the replay arguments describe, for the rosbag `bag`."""
    from pose_reloc.tools.replay.ros_graph import ReplaySettings  # rclpy: only when replaying
    from vo_fusion.feature_map import read_map_site

    parameters: dict[str, dict[str, object]] = {}
    for node, key, value in (
        ("posenet_node", "model", args.posenet_model),
        ("posenet_node", "retrieval_index", args.retrieval_index),
        ("sun_bcnn_node", "model", args.sun_model),
        ("vo_fusion_node", "map", args.map),
    ):
        if value:
            parameters.setdefault(node, {})[key] = str(Path(value).resolve())
    if args.prior_source:
        parameters.setdefault("posenet_node", {})["prior_source"] = args.prior_source
    site = args.site
    if site is None and args.map:
        site = read_map_site(Path(args.map))  # a map of one's own site: check the rest against it
    if site is not None:
        for node in ("posenet_node", "vo_fusion_node"):
            parameters.setdefault(node, {})["site"] = site
    return ReplaySettings(
        bag=bag,
        out=Path(args.out),
        image_topic=args.image_topic,
        camera_info_topic=args.camera_info_topic,
        camera_info_file=Path(args.camera_info) if args.camera_info else None,
        gt_topic=args.gt_topic or None,
        gt_sun_topic=args.gt_sun_topic or None,
        config=Path(args.config) if args.config else None,
        parameters=parameters,
        domain_id=args.domain_id,
        max_images=args.max_images,
    )


def read_metrics(path: str) -> dict[str, Any]:
    """A metrics JSON written by `pose-reloc evaluate`; a PoseRelocError names it otherwise."""
    try:
        figures = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PoseRelocError(f"metrics {path} cannot be read: {error}") from error
    return figures
