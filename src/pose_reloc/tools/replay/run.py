"""`pose-reloc replay` and `pose-reloc demo`: a bag through the three nodes, then metrics.json,
TUM trajectories (evo reads them), the outputs bag and the report, all in one folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pose_reloc.evaluation.metrics import write_json
from pose_reloc.posenet.priors import PRIOR_LABELS
from pose_reloc.tools.replay.bag_stream import BagStream, ReplayError
from pose_reloc.tools.replay.camera_info_file import read_camera_info_yaml
from pose_reloc.tools.replay.results import ReplayLog, frame_records, replay_figures
from vo_fusion.evaluation.fusion import write_tum

# What a previous run wrote into its folder: replaced on the next run into the same folder
# (posenet.tum: what prior.tum was called before the prior could come from retrieval).
RUN_FILES = (
    "metrics.json",
    "report.md",
    "groundtruth.tum",
    "fused.tum",
    "prior.tum",
    "posenet.tum",
)


def prepare_output(out: Path) -> None:
    """Create the folder; clear a previous run's files in it, refuse to touch anything else."""
    if (out / "outputs").exists():
        if not (out / "metrics.json").exists():
            raise ReplayError(
                f"{out / 'outputs'} exists but is not a replay's: choose another --out"
            )
        shutil.rmtree(out / "outputs")
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        for png in out.glob("*.png"):
            png.unlink()
    out.mkdir(parents=True, exist_ok=True)


def run_replay(settings: Any, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Replay `settings.bag` (a ReplaySettings) and write everything into `settings.out`."""
    from pose_reloc.tools.replay.ros_graph import (
        ReplayGraph,  # rclpy: imported only when a run starts
    )

    camera = read_camera_info_yaml(settings.camera_info_file) if settings.camera_info_file else None
    with BagStream(
        settings.bag, settings.image_topic, None if camera else settings.camera_info_topic
    ) as stream:
        prepare_output(settings.out)
        progress(
            f"replaying {settings.bag}: {stream.count(settings.image_topic)} images on "
            f"{settings.image_topic}, {stream.duration_s:.1f} s"
        )
        graph = ReplayGraph(settings, stream, camera)
        try:
            log = graph.run(progress)
        finally:
            graph.close()
    return write_results(log, settings.out, progress)


def write_results(log: ReplayLog, out: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    from pose_reloc.tools.replay.report import write_report

    figures = replay_figures(log)
    write_json(out / "metrics.json", figures)
    records = frame_records(log)
    write_tum(out / "groundtruth.tum", [r.stamp for r in records], [r.T_true for r in records])
    write_tum(out / "fused.tum", list(log.fused), [T for T, _ in log.fused.values()])
    write_tum(out / "prior.tum", [t for t, _ in log.priors], [s.T for _, s in log.priors])
    report = write_report(log, figures, out)
    if log.error:
        progress(f"warning: {log.error}; the report covers the part that was read")
    progress(summary_line(figures))
    progress(f"wrote {out / 'metrics.json'}, {report} and the outputs bag {out / 'outputs'}")
    return figures


def summary_line(figures: dict[str, Any]) -> str:
    fusion, reloc, timing = figures["fusion"], figures["relocalization"], figures["timing"]
    prior, sun = figures["prior"], figures["sun"]
    parts = [f"{figures['images']} images, realtime factor {timing['realtime_factor']:.2f}"]
    if fusion:
        parts.append(
            f"fused median {100 * fusion['median_translation_m']:.1f} cm / "
            f"{fusion['median_rotation_deg']:.2f} deg over {fusion['tracking_frames']} tracking "
            f"frames ({100 * fusion['within_25cm_2deg']:.0f}% within 25 cm / 2 deg)"
        )
        parts.append(f"kidnaps relocalized {reloc['relocalized']}/{reloc['kidnaps']}")
    if prior.get("with_ground_truth"):
        label = PRIOR_LABELS.get(prior["source"], prior["source"])
        parts.append(f"prior ({label}) median {prior['median_translation_m']:.2f} m")
    if sun.get("estimates") and sun.get("sunny_frames"):
        parts.append(f"sun median {sun['median_error_deg']:.1f} deg")
    return "; ".join(parts)
