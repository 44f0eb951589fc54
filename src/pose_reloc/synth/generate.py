"""`pose-reloc synth`: render a trajectory through a scene into a dataset folder (and a rosbag2).

Sun per frame: training sweeps draw a random date and UTC time (so the sun sweeps azimuth and
elevation over days and seasons) and render a share of frames overcast; drives start at
`sun.drive_start_utc` and the sun moves with the clock. Fixed mode uses one direction throughout.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import Frame
from pose_reloc.datasets.synthetic import SyntheticDatasetWriter
from pose_reloc.geometry import Transform
from pose_reloc.site_identity import synthetic_site
from pose_reloc.sun import enu_from_azimuth_elevation, enu_to_map, sun_positions
from pose_reloc.synth.bag import DemoBagWriter
from pose_reloc.synth.city import build_city
from pose_reloc.synth.config import CameraConfig, SceneConfig, SceneConfigError
from pose_reloc.synth.render import CityRenderer, Lighting
from pose_reloc.synth.sensors import (
    GpsFix,
    ImuSample,
    OdometrySample,
    gps_fixes,
    imu_samples,
    wheel_odometry,
)
from pose_reloc.synth.trajectories import PosedFrame, camera_mount, trajectory

logger = logging.getLogger(__name__)
DEPTH_SCALE_MM = 1000.0


@dataclass(frozen=True)
class SunSchedule:
    stamps: NDArray[np.float64]  # Unix seconds per frame
    sun_map: NDArray[np.float64]  # (N, 3) unit vectors towards the sun, map frame
    elevation_deg: NDArray[np.float64]
    overcast: NDArray[np.bool_]


@dataclass(frozen=True)
class SynthReport:
    frames: int
    seconds: float
    out: Path

    @property
    def images_per_second(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def camera_model(camera: CameraConfig) -> PinholeCamera:
    cx = (camera.width - 1) / 2 if camera.cx is None else camera.cx
    cy = (camera.height - 1) / 2 if camera.cy is None else camera.cy
    K = np.array([[camera.fx, 0.0, cx], [0.0, camera.fy, cy], [0.0, 0.0, 1.0]])
    return PinholeCamera(K, camera.width, camera.height, np.zeros(5))


def _unix(text: str, field: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SceneConfigError(f"{field} = {text!r} is not an ISO date/time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def sun_schedule(
    config: SceneConfig, frames: list[PosedFrame], kind: str, rng: np.random.Generator
) -> SunSchedule:
    sun, loc = config.sun, config.location
    n = len(frames)
    if kind == "train":
        start, end = _unix(sun.start_date, "sun.start_date"), _unix(sun.end_date, "sun.end_date")
        if end < start:
            raise SceneConfigError("sun.end_date is before sun.start_date")
        days = np.floor((end - start) / 86400.0) + 1
        stamps = np.empty(0)
        elevation = np.empty(0)
        enu = np.empty((0, 3))
        for _ in range(50):  # draw, keep daylight instants, draw again for the rest
            m = 3 * (n - len(stamps)) + 8
            day = start + 86400.0 * np.floor(rng.uniform(0, days, m))
            draws = day + 3600.0 * rng.uniform(*sun.utc_hours, m)
            positions = _positions(config, draws)
            keep = positions[2] >= sun.min_elevation_deg
            stamps = np.concatenate([stamps, draws[keep]])[:n]
            enu = np.concatenate([enu, positions[0][keep]])[:n]
            elevation = np.concatenate([elevation, positions[2][keep]])[:n]
            if len(stamps) == n:
                break
        if len(stamps) < n:
            raise SceneConfigError(
                f"sun.start_date/end_date/utc_hours give almost no sun above sun.min_elevation_deg "
                f"{sun.min_elevation_deg} at latitude {loc.latitude}: widen them"
            )
        overcast = rng.random(n) < config.lighting.overcast_fraction
    else:
        stamps = _unix(sun.drive_start_utc, "sun.drive_start_utc") + np.array(
            [f.time_s for f in frames]
        )
        enu, _, elevation = _positions(config, stamps)
        low = elevation < sun.min_elevation_deg
        if low.any():
            raise SceneConfigError(
                f"sun.drive_start_utc {sun.drive_start_utc}: the sun is {elevation[low].min():.1f} deg "
                f"high during the drive, below sun.min_elevation_deg {sun.min_elevation_deg} (not daylight)"
            )
        overcast = np.full(n, config.lighting.overcast_drives)
    return SunSchedule(stamps, enu_to_map(enu, loc.yaw_to_enu_deg), elevation, overcast)


def _positions(
    config: SceneConfig, stamps: NDArray[np.float64]
) -> tuple[NDArray, NDArray, NDArray]:
    sun, loc = config.sun, config.location
    if sun.mode == "fixed":
        n = len(stamps)
        az, el = np.full(n, sun.fixed_azimuth_deg), np.full(n, sun.fixed_elevation_deg)
        return enu_from_azimuth_elevation(az, el), az, el
    positions = sun_positions(stamps, loc.latitude, loc.longitude, loc.altitude)
    return positions.enu, positions.azimuth_deg, positions.elevation_deg


def synthesize(
    config: SceneConfig,
    kind: str,
    amount: float,
    out: Path,
    *,
    seed: int | None = None,
    with_depth: bool = False,
    with_noshadow_twin: bool = False,
    bag_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SynthReport:
    """Render `amount` frames (train) or seconds (drives) of trajectory `kind` into `out`."""
    if out.exists() and any(out.iterdir()):
        raise SceneConfigError(f"output folder {out} is not empty: choose a new one or remove it")
    rng = np.random.default_rng(
        config.seed * 1000 + (seed if seed is not None else sum(map(ord, kind)))
    )
    city = build_city(config)
    frames = trajectory(kind, city, amount, rng)
    schedule = sun_schedule(config, frames, kind, rng)
    camera = camera_model(config.camera)
    renderer = CityRenderer(city, camera, config.lighting.shadow_map_size)
    mount = camera_mount(config.camera)
    writer = SyntheticDatasetWriter(out, _dataset_info(config, kind, camera, mount))
    bag = DemoBagWriter(bag_path, camera, mount) if bag_path is not None else None
    wants_sensors = bag is not None and kind != "train"
    sensors = _robot_sensors(config, frames, schedule, rng) if wants_sensors else None
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as io:
        pending = []
        for index, posed in enumerate(frames):
            record = _render_frame(renderer, config, posed, schedule, index, with_depth)
            twin = (
                renderer.render(posed.T_map_cam, shadows=False).rgb if with_noshadow_twin else None
            )
            pending += _queue_image_writes(io, writer, index, record, twin)
            writer.add(record.frame, float(schedule.elevation_deg[index]))
            if bag is not None:
                _add_to_bag(bag, record, posed, sensors, index)
            if progress is not None:
                progress(index + 1, len(frames))
        for job in pending:
            job.result()
    elapsed = time.perf_counter() - started
    writer.close()
    if bag is not None:
        bag.close()
    renderer.release()
    return SynthReport(len(frames), elapsed, out)


@dataclass(frozen=True)
class _RobotSensors:
    odometry: list[OdometrySample]
    imu: list[ImuSample]
    gps: dict[int, GpsFix]  # frame index -> the fix taken there


def _robot_sensors(
    config: SceneConfig, frames: list[PosedFrame], schedule: SunSchedule, rng: np.random.Generator
) -> _RobotSensors:
    """Wheel odometry, IMU and GPS along a drive (a kidnap moves no wheel)."""
    poses = [f.T_map_base for f in frames]
    moved = [not f.kidnap for f in frames]
    stamps = list(schedule.stamps)
    sensor_rng = np.random.default_rng(rng.integers(2**32))
    odometry = wheel_odometry(poses, stamps, moved, config.sensors, sensor_rng)
    imu = imu_samples(poses, stamps, moved, config.sensors, sensor_rng)
    gps_rng = np.random.default_rng(sensor_rng.integers(2**32))
    return _RobotSensors(
        odometry, imu, gps_fixes(poses, stamps, config.location, config.sensors, gps_rng)
    )


def _add_to_bag(
    bag: DemoBagWriter,
    record: _RenderedFrame,
    posed: PosedFrame,
    sensors: _RobotSensors | None,
    index: int,
) -> None:
    bag.add(record.frame, posed.T_map_base, record.rgb_bgr)
    if sensors is not None:
        bag.add_odometry(record.frame.stamp, sensors.odometry[index])
        bag.add_imu(record.frame.stamp, sensors.imu[index])
        if index in sensors.gps:
            bag.add_gps(sensors.gps[index])


def _queue_image_writes(
    io: ThreadPoolExecutor,
    writer: SyntheticDatasetWriter,
    index: int,
    record: _RenderedFrame,
    noshadow_rgb: NDArray[np.uint8] | None,
) -> list[Future[bool]]:
    """The frame's PNGs (image, depth, shadowless twin) written in the background."""
    writes: list[tuple[Path, NDArray[Any]]] = [(writer.image_path(index), record.rgb_bgr)]
    if record.depth_mm is not None:
        writes.append((writer.image_path(index, "depth"), record.depth_mm))
    if noshadow_rgb is not None:
        writes.append((writer.image_path(index, "images_noshadow"), noshadow_rgb[..., ::-1]))
    return [io.submit(cv2.imwrite, str(path), image) for path, image in writes]


@dataclass
class _RenderedFrame:
    frame: Frame
    rgb_bgr: NDArray[np.uint8]
    depth_mm: NDArray[np.uint16] | None


def _render_frame(
    renderer: CityRenderer,
    config: SceneConfig,
    posed: PosedFrame,
    schedule: SunSchedule,
    index: int,
    with_depth: bool,
) -> _RenderedFrame:
    sun_map = schedule.sun_map[index]
    overcast = bool(schedule.overcast[index])
    lighting = config.lighting
    renderer.set_lighting(Lighting(sun_map, overcast, lighting.sun_intensity, lighting.ambient))
    output = renderer.render(posed.T_map_cam, with_depth=with_depth)
    rgb = output.rgb
    depth_mm = None
    if output.depth is not None:
        finite = np.isfinite(output.depth)
        depth_mm = np.where(finite, np.clip(output.depth * DEPTH_SCALE_MM, 1, 65535), 0).astype(
            np.uint16
        )
    sun_cam = posed.T_map_cam.rotation.inv().apply(sun_map)
    image = rgb.copy()
    frame = Frame(
        stamp=float(schedule.stamps[index]),
        camera=renderer.camera,
        T_wc=posed.T_map_cam,
        load_image=lambda: image,
        source=f"render {index}",
        sun_cam=sun_cam,
        sun_world=sun_map,
        condition="overcast" if overcast else "sunny",
        kidnap=posed.kidnap,
        segment=posed.segment,
    )
    return _RenderedFrame(frame, np.ascontiguousarray(rgb[..., ::-1]), depth_mm)


def _dataset_info(
    config: SceneConfig, kind: str, camera: PinholeCamera, mount: Transform
) -> dict[str, Any]:
    return {
        "scene": config.name,
        "site": synthetic_site(config.name, config.seed),
        "trajectory": kind,
        "frame_ids": {"map": "map", "base": "base_link", "camera": "camera_optical_frame"},
        "camera": {"width": camera.width, "height": camera.height, "K": camera.K.tolist()},
        "T_base_cam": {"xyz": mount.translation.tolist(), "quat_xyzw": mount.quat_xyzw.tolist()},
        "location": asdict(config.location),
        "scene_config": json.loads(json.dumps(asdict(config))),  # tuples -> lists for YAML
    }
