"""The site folder, written whole or not at all (into SITE.partial, renamed at the end, so a
failed run never leaves a map the node would load):

SITE/map.npz          the feature map (our build-map, from the mapped keyframe poses)
SITE/keyframes.tum    mapped keyframe camera poses (TUM: stamp x y z qx qy qz qw; evo reads it)
SITE/frames.tum       every registered frame's refined camera pose
SITE/odometry.tum     the odometry's camera poses of the same keyframes, for comparison
SITE/dataset/         the registered frames as a posed dataset (train posenet / train sun take it;
                      sun vectors where --origin or the GPS says where the map lies on Earth)
SITE/site.yaml        parameters for robot.launch.py (config:=SITE/site.yaml)
SITE/report.md, SITE/trajectory.png, SITE/figures.json
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

from pose_reloc.datasets.record import Frame
from pose_reloc.datasets.synthetic import SyntheticDatasetWriter
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform
from sun_bcnn.ephemeris import MapAnchor, sun_reference


@contextmanager
def site_folder(out: Path) -> Iterator[Path]:
    """An empty OUT.partial beside `out` (refusing a non-empty `out`) to write into, renamed to
    `out` when the block ends normally and removed when it raises."""
    if out.exists() and any(out.iterdir()):
        raise PoseRelocError(f"{out} exists and is not empty: give a new folder")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    partial.rename(out)


def write_tum(path: Path, stamps: Sequence[float], poses: Sequence[Transform]) -> None:
    lines = [
        f"{stamp:.6f} " + " ".join(f"{v:.6f}" for v in (*T.translation, *T.quat_xyzw))
        for stamp, T in zip(stamps, poses, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def write_dataset(
    root: Path,
    frames: Sequence[Frame],
    info: dict[str, Any],
    origin: dict[str, float] | None = None,
) -> int:
    """The registered frames in the synthetic dataset format (PNG images, poses.csv), with the
    sun's direction where the map's place on Earth (`origin`) is known and the sun is up."""
    elevations = np.full(len(frames), np.nan)
    if origin is not None:
        frames, elevations = _with_sun(frames, origin)
    writer = SyntheticDatasetWriter(root, info)
    for frame, elevation in zip(frames, elevations, strict=True):
        path = writer.image_path(writer.count)
        cv2.imwrite(str(path), cv2.cvtColor(frame.image(), cv2.COLOR_RGB2BGR))
        writer.add(frame, float(elevation))
    writer.close()
    return writer.count


def _with_sun(
    frames: Sequence[Frame], origin: dict[str, float]
) -> tuple[list[Frame], NDArray[np.float64]]:
    """The frames with sun_world (map frame) and sun_cam from the ephemeris at their stamps;
    left unknown (None) while the sun is below the horizon. The weather stays unknown."""
    if not frames:
        return [], np.zeros(0)
    anchor = MapAnchor(
        origin["origin_lat"], origin["origin_lon"], origin["origin_alt"], origin["yaw_to_enu_deg"]
    )
    sun = sun_reference([f.stamp for f in frames], anchor)
    posed = [
        replace(f, sun_world=v, sun_cam=f.T_wc.rotation.inv().apply(v)) if up else f
        for f, v, up in zip(frames, sun.map, sun.above_horizon, strict=True)
    ]
    return posed, sun.elevation_deg


def write_site_yaml(
    path: Path,
    site: str,
    map_path: Path,
    origin: dict[str, float] | None,
    retrieval_path: Path | None = None,
    launched_from: Path | None = None,
) -> None:
    """Only what differs from the nodes' defaults: the site, its map, the origin when known, and
    the prior from the site's retrieval index (the shipped PoseNet knows only the demo city);
    the launch line names `launched_from` (where the file will be once the site folder is
    complete), or else `path`."""
    fusion: dict[str, Any] = {"site": site, "map": str(map_path.resolve())}
    if origin:
        fusion.update(origin)
    else:
        fusion["use_sun"] = False  # no place on Earth known: no ephemeris for the sun
    doc: dict[str, Any] = {"/**/vo_fusion_node": {"ros__parameters": fusion}}
    prior: dict[str, Any] = {"site": site}
    if retrieval_path is not None:
        prior |= {"prior_source": "retrieval", "retrieval_index": str(retrieval_path.resolve())}
    doc["/**/posenet_node"] = {"ros__parameters": prior}
    header = (
        "# Made by pose-reloc map-site. Launch with\n"
        f"#   ros2 launch pose_reloc robot.launch.py config:={(launched_from or path).resolve()}\n"
        "# Parameters not listed keep the defaults of config/robot.yaml. Train PoseNet and Sun-BCNN\n"
        "# on dataset/, set posenet_node.model / sun_bcnn_node.model here, and prior_source: both\n"
        "# once the site's PoseNet is trained.\n"
    )
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
