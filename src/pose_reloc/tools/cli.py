"""The `pose-reloc` command: ROS-free tools (one sub-command per job; more arrive with each issue)."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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


def _read_metrics(path: str) -> dict[str, Any]:
    """A metrics JSON written by `pose-reloc evaluate`; a PoseRelocError names it otherwise."""
    try:
        figures = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PoseRelocError(f"metrics {path} cannot be read: {error}") from error
    return figures


def _record_accuracy(args: argparse.Namespace) -> int:
    from pose_reloc.model_card import record_accuracy

    figures = _read_metrics(args.metrics)
    print(f"wrote the accuracy into {args.model} and {record_accuracy(args.model, figures)}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from pose_reloc.synth.config import load_scene_config
    from pose_reloc.synth.generate import synthesize

    config = load_scene_config(args.scene)
    amount = args.frames if args.trajectory == "train" else args.seconds
    if amount is None:
        defaults = {"train": 500.0, "survey": float("inf")}  # a survey: the whole circuit
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


def _train_posenet(args: argparse.Namespace) -> int:
    from pose_reloc.train import require_torch

    require_torch()
    from pose_reloc.posenet.train import PoseNetTrainConfig, train_posenet

    config = PoseNetTrainConfig(
        arch=args.arch,
        loss=args.loss,
        epochs=args.epochs,
        pretrain_epochs=args.pretrain_epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        beta=args.beta,
        input_width=args.input_size[0],
        input_height=args.input_size[1],
        center_crop=args.arch == "googlenet",
        seed=args.seed,
        threads=args.threads,
        init_checkpoint=args.init,
    )
    path = train_posenet(args.data, args.out, config, val_data=args.val)
    print(f"wrote {path}")
    return 0


def _train_sun(args: argparse.Namespace) -> int:
    from pose_reloc.train import require_torch

    require_torch()
    from sun_bcnn.train import SunTrainConfig, train_sun_bcnn

    config = SunTrainConfig(
        arch=args.arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        input_width=args.input_size[0],
        input_height=args.input_size[1],
        center_crop=args.arch == "googlenet",
        seed=args.seed,
        threads=args.threads,
        overcast_weight=args.overcast_weight,
    )
    path = train_sun_bcnn(args.data, args.out, config, val_data=args.val)
    print(f"wrote {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pose_reloc.train import require_torch

    require_torch()
    from pose_reloc.tools.export import export_checkpoint

    accuracy = _read_metrics(args.metrics) if args.metrics else None
    path, card = export_checkpoint(
        args.checkpoint, args.out, samples=args.samples, accuracy=accuracy
    )
    if args.calibration_data:
        from pose_reloc.tools.export import calibrate_exported

        calibrate_exported(path, card, args.calibration_data)
    return 0


def _add_train_commands(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train a network (needs torch, the [train] extra)")
    networks = train.add_subparsers(dest="network", required=True)
    posenet = networks.add_parser("posenet", help="PoseNet camera-pose regression")
    posenet.add_argument(
        "--data", required=True, help="training dataset (e.g. pose-reloc synth --trajectory train)"
    )
    posenet.add_argument("--val", help="a dataset to report median errors on after every epoch")
    posenet.add_argument(
        "--out", required=True, help="run folder for checkpoint.pt and history.json"
    )
    posenet.add_argument(
        "--arch",
        default="lite",
        choices=["lite", "googlenet"],
        help="lite: MobileNetV3-small trunk",
    )
    posenet.add_argument("--loss", default="learned", choices=["beta", "learned", "reprojection"])
    posenet.add_argument("--epochs", type=int, default=30)
    posenet.add_argument(
        "--pretrain-epochs", type=int, default=10, help="learned-loss epochs before reprojection"
    )
    posenet.add_argument("--batch-size", type=int, default=32)
    posenet.add_argument(
        "--lr", type=float, default=2e-3, help="peak learning rate (one-cycle schedule)"
    )
    posenet.add_argument(
        "--beta", type=float, default=250.0, help="weight of the quaternion term (beta loss)"
    )
    posenet.add_argument("--input-size", type=int, nargs=2, default=[160, 120], metavar=("W", "H"))
    posenet.add_argument("--seed", type=int, default=0)
    posenet.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    posenet.add_argument(
        "--init", help="a local ImageNet/Places state dict to start from (matching tensors)"
    )
    posenet.set_defaults(run=_train_posenet)

    sun = networks.add_parser("sun", help="Sun-BCNN sun-direction regression")
    sun.add_argument(
        "--data", required=True, help="training dataset with sun labels (pose-reloc synth)"
    )
    sun.add_argument(
        "--val", help="a dataset to report the median angular error on after every epoch"
    )
    sun.add_argument("--out", required=True, help="run folder for checkpoint.pt and history.json")
    sun.add_argument("--arch", default="lite", choices=["lite", "googlenet"])
    sun.add_argument("--epochs", type=int, default=30)
    sun.add_argument("--batch-size", type=int, default=32)
    sun.add_argument(
        "--lr", type=float, default=2e-3, help="peak learning rate (one-cycle schedule)"
    )
    sun.add_argument("--input-size", type=int, nargs=2, default=[160, 120], metavar=("W", "H"))
    sun.add_argument("--seed", type=int, default=0)
    sun.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    sun.add_argument(
        "--overcast-weight",
        type=float,
        default=0.1,
        help="weight of the term spreading MC samples on overcast frames (0: leave them out)",
    )
    sun.set_defaults(run=_train_sun)

    export = commands.add_parser(
        "export", help="checkpoint -> ONNX model with metadata and a model card"
    )
    export.add_argument("--checkpoint", required=True, help="checkpoint.pt from pose-reloc train")
    export.add_argument(
        "--out", required=True, help="the .onnx file to write (its .json card goes beside it)"
    )
    export.add_argument(
        "--samples", type=int, default=32, help="MC-dropout samples the nodes draw by default"
    )
    export.add_argument(
        "--metrics", help="metrics JSON from pose-reloc evaluate, stored as measured accuracy"
    )
    export.add_argument(
        "--calibration-data",
        help="held-out frames to scale the MC-dropout covariance on (posenet; not the test set)",
    )
    export.set_defaults(run=_export)


def _evaluate_posenet(args: argparse.Namespace) -> int:
    from pose_reloc.posenet.evaluate import evaluate_posenet

    evaluate_posenet(args.model, args.data, args.train, args.out, args.providers, args.samples)
    print(f"wrote {args.out}")
    return 0


def _evaluate_sun(args: argparse.Namespace) -> int:
    from sun_bcnn.evaluate import evaluate_sun

    evaluate_sun(args.model, args.data, args.out, args.providers, args.samples)
    print(f"wrote {args.out}")
    return 0


def _build_map(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset
    from vo_fusion.build_map import build_map

    frames = itertools.islice(read_dataset(args.data), 0, None, args.stride)
    feature_map = build_map(
        frames,
        descriptor=args.descriptor,
        max_features=args.max_features,
        max_reprojection_px=args.max_reprojection_px,
        min_triangulation_deg=args.min_triangulation_deg,
    )
    feature_map.save(args.out, with_observations=not args.no_observations)
    print(
        f"wrote {args.out}: {len(feature_map.points_world)} points ({feature_map.descriptor_type})"
    )
    return 0


def _evaluate_fusion(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset
    from pose_reloc.tools.fusion_sources import (
        ground_truth_priors,
        ground_truth_sun,
        posenet_priors,
        scene_ephemeris,
        sun_bcnn_observations,
    )
    from vo_fusion.evaluation.fusion import evaluate_fusion
    from vo_fusion.feature_map import FeatureMap
    from vo_fusion.fusion import FusionConfig

    posenet = posenet_priors(args.posenet, args.providers) if args.posenet else None
    priors = posenet if posenet is not None else ground_truth_priors(args.seed)
    sun = None
    if args.sun:
        sun = sun_bcnn_observations(args.sun, args.providers)
    elif args.sun_stand_in_deg is not None:
        sun = ground_truth_sun(args.sun_stand_in_deg, args.seed)
    evaluate_fusion(
        FeatureMap.load(args.map),
        list(read_dataset(args.data)),
        priors,
        posenet=posenet,
        sun_source=sun,
        ephemeris=scene_ephemeris(args.scene),
        config=FusionConfig(
            map_fix_period_s=args.map_fix_period_s,
            sun_min_interval_s=(
                FusionConfig.sun_min_interval_s
                if args.sun_min_interval_s is None
                else args.sun_min_interval_s
            ),
        ),
        drift_frames=list(read_dataset(args.drift_data)) if args.drift_data else None,
        drift_runs=args.drift_runs,
        out=args.out,
    )
    print(f"wrote {args.out}")
    return 0


def _replay_settings(args: argparse.Namespace, bag: Path) -> object:
    from pose_reloc.tools.replay.ros_graph import ReplaySettings

    parameters: dict[str, dict[str, object]] = {}
    for node, key, value in (
        ("posenet_node", "model", args.posenet_model),
        ("sun_bcnn_node", "model", args.sun_model),
        ("vo_fusion_node", "map", args.map),
    ):
        if value:
            parameters.setdefault(node, {})[key] = str(Path(value).resolve())
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


def _replay(args: argparse.Namespace) -> int:
    from pose_reloc.tools.replay.run import run_replay

    run_replay(_replay_settings(args, Path(args.bag)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pose_reloc.tools.replay.run import run_replay

    bag = Path(args.bag)
    if not bag.exists():
        raise PoseRelocError(
            f"the demo bag {bag} is missing: run from the repository root, or give --bag"
        )
    figures = run_replay(_replay_settings(args, bag))
    print(f"open {Path(args.out) / 'report.md'} for the plots")
    return 0 if figures["fusion"] else 1


def _add_replay_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument("--out", default=out, help="folder for metrics.json, report, outputs bag")
    parser.add_argument(
        "--image-topic",
        default="/camera/image_raw/compressed",
        help="Image or CompressedImage topic in the bag",
    )
    parser.add_argument("--camera-info-topic", default="/camera/camera_info")
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
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID of the run (default: env)")
    parser.add_argument("--max-images", type=int, help="stop after this many images")


def _add_replay_commands(commands: argparse._SubParsersAction) -> None:
    replay = commands.add_parser(
        "replay", help="a rosbag through the three nodes over rclpy, with metrics and a report"
    )
    replay.add_argument("bag", help="rosbag2 folder (MCAP or sqlite3)")
    _add_replay_arguments(replay, "out/replay")
    replay.set_defaults(run=_replay)
    demo = commands.add_parser(
        "demo", help="the shipped demo bag through the three nodes (what `make demo` runs)"
    )
    demo.add_argument("--bag", default="data/demo/kidnap_drive", help="the demo rosbag")
    _add_replay_arguments(demo, "out/demo")
    demo.set_defaults(run=_demo)


def _evaluate_vo(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset
    from vo_fusion.evaluation.vo import evaluate_vo

    evaluate_vo(read_dataset(args.data), init_frames=args.init_frames, out=args.out)
    return 0


def _add_evaluate_commands(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("evaluate", help="accuracy and timing figures (JSON)")
    kinds = evaluate.add_subparsers(dest="kind", required=True)
    posenet = kinds.add_parser(
        "posenet", help="PoseNet against ground truth, and the retrieval baseline"
    )
    posenet.add_argument("--model", required=True, help="posenet ONNX model")
    posenet.add_argument(
        "--data", required=True, help="test frames (any dataset format, e.g. a drive or a bag)"
    )
    posenet.add_argument("--train", help="training frames, for the image-retrieval baseline")
    posenet.add_argument("--out", required=True, help="metrics JSON to write")
    posenet.add_argument(
        "--samples", type=int, default=0, help="MC-dropout samples (0: the model's default)"
    )
    posenet.add_argument(
        "--providers", nargs="+", default=["cpu"], help="ONNX Runtime providers in priority order"
    )
    posenet.set_defaults(run=_evaluate_posenet)
    sun = kinds.add_parser("sun", help="Sun-BCNN angular error, calibration and validity")
    sun.add_argument("--model", required=True, help="sun_bcnn ONNX model")
    sun.add_argument(
        "--data",
        required=True,
        help="frames with sun labels (synthetic dataset or a bag with /ground_truth/sun)",
    )
    sun.add_argument("--out", required=True, help="metrics JSON to write")
    sun.add_argument(
        "--samples", type=int, default=0, help="MC-dropout samples (0: the model's default)"
    )
    sun.add_argument(
        "--providers", nargs="+", default=["cpu"], help="ONNX Runtime providers in priority order"
    )
    sun.set_defaults(run=_evaluate_sun)
    fusion = kinds.add_parser("fusion", help="VO fusion (map, odometry, sun) against ground truth")
    fusion.add_argument("--map", required=True, help="feature map (pose-reloc build-map)")
    fusion.add_argument("--data", required=True, help="a posed drive (dataset folder or bag)")
    fusion.add_argument("--out", required=True, help="metrics JSON; TUM trajectories beside it")
    fusion.add_argument(
        "--posenet", help="PoseNet model giving the priors (default: ground truth 2-3 m off)"
    )
    suns = fusion.add_mutually_exclusive_group()
    suns.add_argument("--sun", help="Sun-BCNN model for sun observations (default: no sun)")
    suns.add_argument(
        "--sun-stand-in-deg",
        type=float,
        help="instead of Sun-BCNN: the true sun with this much white error (synthetic data)",
    )
    fusion.add_argument(
        "--sun-min-interval-s",
        type=float,
        help="at most one sun update this often (default: FusionConfig's)",
    )
    fusion.add_argument(
        "--scene", default="config/scenes/demo.yaml", help="scene whose location gives the sun"
    )
    fusion.add_argument("--drift-data", help="a long drive: rotation drift with one map fix")
    fusion.add_argument(
        "--drift-runs", type=int, default=1, help="drift measured this many times (own seeds)"
    )
    fusion.add_argument(
        "--map-fix-period-s", type=float, default=0.0, help="map refinement at most this often"
    )
    fusion.add_argument("--seed", type=int, default=0, help="of the ground-truth stand-in priors")
    fusion.add_argument(
        "--providers", nargs="+", default=["cpu"], help="ONNX Runtime providers in priority order"
    )
    fusion.set_defaults(run=_evaluate_fusion)
    vo = kinds.add_parser(
        "vo",
        help="monocular VO on a real sequence (e.g. KITTI): scale from a map of its first frames",
    )
    vo.add_argument("--data", required=True, help="posed images (KITTI odometry folder, ...)")
    vo.add_argument("--out", required=True, help="metrics JSON; TUM trajectories beside it")
    vo.add_argument(
        "--init-frames", type=int, default=3, help="frames whose ground truth builds the map"
    )
    vo.set_defaults(run=_evaluate_vo)


def _benchmark_pnp(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset
    from pose_reloc.evaluation.metrics import write_json
    from vo_fusion.evaluation.pnp_comparison import compare_pnp
    from vo_fusion.feature_map import FeatureMap

    frames = list(itertools.islice(read_dataset(args.data), args.frames))
    figures = compare_pnp(
        FeatureMap.load(args.map), frames, args.prior_offset_m, args.prior_offset_deg
    )
    if args.out:
        write_json(args.out, figures)
    return 0


def _benchmark_posenet(args: argparse.Namespace) -> int:
    from pose_reloc.datasets import read_dataset

    frame = next(iter(read_dataset(args.data)))
    from pose_reloc.tools.ros_benchmark import benchmark_posenet

    result = benchmark_posenet(args.model, frame.image(), frame.camera, args.frames, args.samples)
    print(
        f"PoseNet, {result['samples']:.0f} MC samples, 1 image {frame.camera.width}x{frame.camera.height}: "
        f"bare inference {result['bare_inference_ms']:.2f} ms, through the node (Image in -> pose out over "
        f"DDS) {result['node_ms']:.2f} ms: {result['node_over_bare']:.2f}x; of that, "
        f"{result['node_callback_ms']:.2f} ms in its image callback (decode, resize, inference, publish)"
    )
    print(json.dumps(result))
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
    record = commands.add_parser(
        "record-accuracy", help="store `pose-reloc evaluate` figures in a model and its card"
    )
    record.add_argument("model", help="an exported .onnx model")
    record.add_argument("metrics", help="metrics JSON written by pose-reloc evaluate")
    record.set_defaults(run=_record_accuracy)

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
        choices=["train", "drive", "kidnap", "long", "survey"],
        help="train: poses spread over the streets; drive: a robot drive; kidnap: a drive with "
        "teleports; long: a long drive (for VO drift); survey: every street both ways, one "
        "frame every 0.6 m (for pose-reloc build-map)",
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
    _add_train_commands(commands)
    _add_evaluate_commands(commands)
    _add_replay_commands(commands)
    build = commands.add_parser(
        "build-map", help="3D feature map from posed images (for PnP refinement)"
    )
    build.add_argument(
        "--data", required=True, help="posed images: a mapping drive, any dataset format"
    )
    build.add_argument("--out", required=True, help="the map file to write (.npz)")
    build.add_argument(
        "--descriptor", default="orb", choices=["orb", "sift"], help="sift is slower, more accurate"
    )
    build.add_argument("--max-features", type=int, default=2000, help="features detected per image")
    build.add_argument("--stride", type=int, default=1, help="use every STRIDE-th image")
    build.add_argument(
        "--no-observations",
        action="store_true",
        help="leave the 2D observations out (a smaller file; they only serve re-optimisation)",
    )

    build.add_argument(
        "--max-reprojection-px", type=float, default=2.0, help="drop points reprojecting worse"
    )
    build.add_argument(
        "--min-triangulation-deg",
        type=float,
        default=2.0,
        help="drop points seen from too alike views",
    )
    build.set_defaults(run=_build_map)
    bench = commands.add_parser("benchmark", help="timing benchmarks that print their figures")
    which = bench.add_subparsers(dest="what", required=True)
    posenet = which.add_parser("posenet", help="bare ONNX inference vs the posenet_node over rclpy")
    posenet.add_argument("--model", required=True, help="posenet ONNX model")
    posenet.add_argument(
        "--data", default="data/demo/kidnap_drive", help="dataset whose first image is used"
    )
    posenet.add_argument("--frames", type=int, default=100, help="timed runs")
    posenet.add_argument(
        "--samples", type=int, default=0, help="MC samples (0: the model's default)"
    )
    posenet.set_defaults(run=_benchmark_posenet)
    pnp = which.add_parser(
        "pnp", help="OpenCV MAGSAC++ (ours) vs pycolmap's absolute pose on the same 2D-3D matches"
    )
    pnp.add_argument("--map", default="models/demo_map.npz", help="feature map")
    pnp.add_argument("--data", default="data/demo/kidnap_drive", help="posed images")
    pnp.add_argument("--frames", type=int, default=200, help="first N frames")
    pnp.add_argument("--prior-offset-m", type=float, default=2.5, help="prior position error")
    pnp.add_argument("--prior-offset-deg", type=float, default=6.0, help="prior rotation error")
    pnp.add_argument("--out", help="also write the figures to this JSON file")
    pnp.set_defaults(run=_benchmark_pnp)
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
