"""map-site's stages: map the drive (vo_fusion.mapping), build the feature map from the mapped
keyframes with our build-map (so its descriptors are what the node extracts), register every
frame against it, score against ground truth where the bag has it, write the site."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from pose_reloc.datasets.record import Frame
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.posenet.retrieval import build_retrieval_index
from pose_reloc.tools.site.gps import fixes_in_enu, origin_from_gps
from pose_reloc.tools.site.inputs import MappingInput
from pose_reloc.tools.site.outputs import write_dataset, write_site_yaml, write_tum
from pose_reloc.tools.site.register import register_frames
from pose_reloc.tools.site.report import plot_trajectories, write_report
from pose_reloc.tools.site.score import score_poses
from vo_fusion.build_map import build_map
from vo_fusion.evaluation.vo import umeyama_alignment
from vo_fusion.feature_map import FeatureMap
from vo_fusion.mapping.site import MappingConfig, map_site


@dataclass(frozen=True)
class SiteSettings:
    mapping: MappingConfig = field(default_factory=MappingConfig)
    register_stride: int = 1
    map_features: int | None = None  # per keyframe for the map; None: the mapping's
    dataset_stride: int = 5
    origin: dict[str, float] | None = None
    command: str = "pose-reloc map-site"
    align_to_truth: bool = False  # evaluation on synthetic bags only: the site in the truth's frame
    odometry_noise_from_bag: bool = True  # the odometry's stated twist covariance, where it has one
    site: str | None = None  # the site's name in what it makes; None: the site folder's name


@dataclass(frozen=True)
class Site:
    """What make_site wrote, for a caller that goes on with it (an evaluation)."""

    figures: dict[str, Any]
    feature_map: FeatureMap
    registered: list[Frame]  # T_wc: the refined T_map_cam


def make_site(inputs: MappingInput, settings: SiteSettings, folder: Path) -> Site:
    started = time.perf_counter()
    frames = inputs.frames
    config = replace(settings.mapping, camera_height_m=inputs.camera_height_m)
    step_noise, noise_source = _odometry_noise(inputs, settings)
    mapping = map_site(
        frames,
        config,
        fixes=fixes_in_enu(inputs.gps),
        step_noise=step_noise,
        gravity=inputs.gravity,
    )
    mapping.figures["odometry_noise"] = noise_source
    mapping.figures["tilt_from"] = (
        "the IMU" if inputs.gravity else (f"the odometry (flat ground): {inputs.gravity_absent}")
    )
    if settings.align_to_truth:
        truth = [inputs.truth[k] if inputs.truth else None for k in mapping.keyframes]
        mapping.poses = _in_truth_frame(mapping.poses, truth)
    keyframes = [
        replace(frames[k], T_wc=T) for k, T in zip(mapping.keyframes, mapping.poses, strict=True)
    ]
    map_features = settings.map_features or config.max_features
    # mapping matched the same features (its descriptor, as many per image) for its pairs
    matched = mapping.descriptor_matches if map_features == config.max_features else None
    feature_map = build_map(keyframes, config.descriptor, map_features, matched=matched)
    site = settings.site or folder.name.removesuffix(".partial")
    feature_map.metadata.update(made_by="pose-reloc map-site", mapping=mapping.figures, site=site)
    feature_map.save(folder / "map.npz")
    priors = mapping.frame_poses(frames)
    registration = register_frames(frames, priors, feature_map, settings.register_stride)
    origin, gps_figures = _origin(settings, inputs, registration.frames)
    figures: dict[str, Any] = {
        "site": site,
        **mapping.figures,
        "points_in_map": len(feature_map),
        "frames_attempted": registration.attempted,
        "frames_registered": len(registration.frames),
        "registered_share": len(registration.frames) / max(registration.attempted, 1),
        "not_registered": registration.reasons,
        "left_out_of_the_bag": inputs.dropped,
        "camera_height_m": inputs.camera_height_m,
        **gps_figures,
    }
    if inputs.truth:
        key_truth = [inputs.truth[k] for k in mapping.keyframes]
        figures.update(score_poses(mapping.poses, key_truth, "keyframes"))
        odometry = [frames[k].T_wc for k in mapping.keyframes]
        figures.update(score_poses(odometry, key_truth, "odometry"))
    _write(folder, inputs, mapping, registration.frames, settings, origin, site)
    figures["total_seconds"] = round(time.perf_counter() - started, 1)
    (folder / "figures.json").write_text(json.dumps(figures, indent=2, default=str))
    write_report(folder / "report.md", figures, settings.command)
    return Site(figures, feature_map, registration.frames)


def _odometry_noise(inputs: MappingInput, settings: SiteSettings) -> tuple[np.ndarray | None, str]:
    """The variances of each step between frames as the odometry states them, or None (the
    mapping's configured fractions), with where the weights came from."""
    if not settings.odometry_noise_from_bag:
        return None, "configured (--odometry-noise configured)"
    if inputs.odometry_noise is None:
        return None, f"configured ({inputs.odometry_noise_absent})"
    stamps = np.array([frame.stamp for frame in inputs.frames])
    return inputs.odometry_noise.step_variances(stamps), "the odometry's twist covariance"


def _in_truth_frame(poses: list[Transform], truth: list[Transform | None]) -> list[Transform]:
    """The poses moved rigidly onto the ground truth (a gauge choice, not a correction: the
    shape and scale stay the mapping's), so that a site can be scored by tools that compare
    with the truth in its own frame (evaluate fusion on a demo drive)."""
    pairs = [(T, G) for T, G in zip(poses, truth, strict=True) if G is not None]
    if len(pairs) < 3:
        raise PoseRelocError("--align-to-truth needs ground truth in the bag (none found)")
    fit = umeyama_alignment(
        np.array([T.translation for T, _ in pairs]),
        np.array([G.translation for _, G in pairs]),
        with_scale=False,
    )
    move = Transform(Rotation.from_matrix(fit.rotation), fit.translation)
    return [move @ T for T in poses]


def _origin(
    settings: SiteSettings, inputs: MappingInput, registered: list[Frame]
) -> tuple[dict[str, float] | None, dict[str, Any]]:
    """The site's place on Earth: as given (--origin), else from the bag's GPS, else unknown."""
    if settings.origin is not None:
        return settings.origin, {"origin_from": "--origin"}
    if not inputs.gps:
        return None, {"origin_from": "nothing (no --origin, no GPS fix in the bag)"}
    origin, figures = origin_from_gps(inputs.gps, registered)
    return origin, {"origin_from": "GPS" if origin else "nothing (GPS unusable)", **figures}


def _write(
    folder: Path,
    inputs: MappingInput,
    mapping: Any,
    registered: list,
    settings: SiteSettings,
    origin: dict[str, float] | None,
    site: str,
) -> None:
    frames = inputs.frames
    stamps = [frames[k].stamp for k in mapping.keyframes]
    odometry = [frames[k].T_wc for k in mapping.keyframes]
    write_tum(folder / "keyframes.tum", stamps, mapping.poses)
    write_tum(folder / "odometry.tum", stamps, odometry)
    write_tum(folder / "frames.tum", [f.stamp for f in registered], [f.T_wc for f in registered])
    truth = [inputs.truth[k] for k in mapping.keyframes] if inputs.truth else []
    plot_trajectories(folder / "trajectory.png", mapping.poses, odometry, truth)
    if settings.dataset_stride > 0:
        write_dataset(
            folder / "dataset",
            registered[:: settings.dataset_stride],
            {"source": "pose-reloc map-site", "site": site, "frame_id": "map"},
            origin,
        )
    final = folder.with_name(folder.name.removesuffix(".partial"))
    build_retrieval_index(
        registered,
        info={"site": site, "data": "pose-reloc map-site: the registered frames"},
    ).save(folder / "retrieval.npz")
    write_site_yaml(
        folder / "site.yaml",
        site,
        final / "map.npz",
        origin,
        final / "retrieval.npz",
        launched_from=final / "site.yaml",
    )
