"""Scene descriptions (`config/scenes/*.yaml`): dataclasses, defaults, and validation that names the
field at fault (unknown keys, negative sizes, impossible ranges)."""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pose_reloc.errors import PoseRelocError


class SceneConfigError(PoseRelocError):
    """A scene description that cannot be rendered; the message names the field."""


@dataclass(frozen=True)
class LocationConfig:
    latitude: float = 43.6629  # where the ephemeris puts the sun (default: Toronto)
    longitude: float = -79.3957
    altitude: float = 100.0
    yaw_to_enu_deg: float = 0.0  # map x-axis turned this far counter-clockwise from east


@dataclass(frozen=True)
class CityConfig:
    blocks_x: int = 3
    blocks_y: int = 3
    block_size: float = 32.0  # metres, each block square, sidewalk included
    street_width: float = 12.0
    sidewalk_width: float = 2.5
    building_height: tuple[float, float] = (6.0, 24.0)
    lots_per_side: int = 2  # each block is cut into lots_per_side x lots_per_side lots
    trees_per_block: int = 4
    poles_per_block: int = 4
    parked_vehicles: int = 14
    vehicles_seed: int | None = None  # park the vehicles elsewhere (another day), all else the same


@dataclass(frozen=True)
class CameraConfig:
    width: int = 320
    height: int = 240
    fx: float = 260.0
    fy: float = 260.0
    cx: float | None = None  # default: image centre, (width - 1) / 2
    cy: float | None = None
    mount_xyz: tuple[float, float, float] = (0.15, 0.0, 1.3)  # base_link -> camera, metres
    mount_rpy_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # of the camera body (x forward)


@dataclass(frozen=True)
class SunConfig:
    mode: str = "ephemeris"  # or "fixed"
    start_date: str = "2026-03-01"  # training sets draw dates and times between these
    end_date: str = "2026-10-31"
    utc_hours: tuple[float, float] = (12.0, 23.5)
    min_elevation_deg: float = 10.0  # a daylight set refuses suns lower than this
    drive_start_utc: str = "2026-06-21T15:00:00"  # drives start here and advance in real time
    fixed_azimuth_deg: float = 135.0
    fixed_elevation_deg: float = 40.0


@dataclass(frozen=True)
class LightingConfig:
    sun_intensity: float = 1.05
    ambient: float = 0.42
    overcast_fraction: float = 0.12  # share of training frames rendered overcast
    overcast_drives: bool = False  # drives under an overcast sky (no sun, no shadows)
    shadow_map_size: int = 2048


@dataclass(frozen=True)
class TrajectoryConfig:
    rate_hz: float = 10.0
    speed_mps: float = 1.2
    drive_seconds: float = 60.0
    kidnap_every_s: float = 30.0  # kidnap drives teleport the robot this often
    train_height_m: tuple[float, float] = (0.9, 2.0)
    train_pitch_deg: float = 6.0
    train_roll_deg: float = 3.0
    clearance_m: float = 0.6  # cameras keep this far from any object
    waypoints: tuple[tuple[float, float], ...] = ()  # an explicit drive path (x, y), if wanted
    lane_offset_m: float = 1.8  # drives and surveys keep this far right of the centre line


@dataclass(frozen=True)
class SensorsConfig:
    """The wheel odometry, IMU and GPS written beside the images (see `pose_reloc.synth.sensors`)."""

    wheel_scale_error: float = 0.02  # distances read 2 % long
    wheel_yaw_drift_deg_per_m: float = 0.2  # heading creeps this much per metre driven
    wheel_noise: float = 0.01  # white noise on each step's distance, a fraction of it
    wheel_yaw_noise_deg: float = 0.05  # white noise on each step's turn
    gyro_bias_deg_s: float = 0.05
    gyro_noise_deg_s: float = 0.1
    accel_noise_mps2: float = 0.05
    gps_noise_m: float = 2.0  # horizontal and vertical white noise of a fix (a consumer receiver)
    gps_rate_hz: float = 1.0


@dataclass(frozen=True)
class SceneConfig:
    name: str = "scene"
    seed: int = 0
    location: LocationConfig = field(default_factory=LocationConfig)
    city: CityConfig = field(default_factory=CityConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    sun: SunConfig = field(default_factory=SunConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)
    sensors: SensorsConfig = field(default_factory=SensorsConfig)


POSITIVE_FIELDS = {
    "city.blocks_x",
    "city.blocks_y",
    "city.block_size",
    "city.street_width",
    "city.lots_per_side",
    "camera.width",
    "camera.height",
    "camera.fx",
    "camera.fy",
    "trajectory.rate_hz",
    "trajectory.speed_mps",
    "trajectory.drive_seconds",
    "trajectory.kidnap_every_s",
    "lighting.shadow_map_size",
    "sensors.gps_rate_hz",
}
NON_NEGATIVE_FIELDS = {
    "city.sidewalk_width",
    "city.trees_per_block",
    "city.poles_per_block",
    "city.parked_vehicles",
    "lighting.sun_intensity",
    "lighting.ambient",
    "lighting.overcast_fraction",
    "trajectory.clearance_m",
    "trajectory.train_pitch_deg",
    "trajectory.train_roll_deg",
    "sensors.wheel_noise",
    "sensors.wheel_yaw_noise_deg",
    "sensors.gyro_noise_deg_s",
    "sensors.accel_noise_mps2",
    "sensors.gps_noise_m",
}


def load_scene_config(path: str | Path, overrides: Sequence[str] = ()) -> SceneConfig:
    """The scene in `path`, with `overrides` ("dotted.key=value", the value in YAML, e.g.
    "sun.drive_start_utc=2026-04-14T13:30:00" or "camera.mount_xyz=[0.15, 0, 1.5]") set on it
    before it is checked."""
    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text())
    except OSError as error:
        raise SceneConfigError(f"cannot read scene file {source}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise SceneConfigError(f"scene file {source} is not valid YAML: {error}") from error
    raw = raw or {}
    for override in overrides:
        _set(raw, override, str(source))
    return scene_config_from_dict(raw, str(source))


def _set(raw: dict[str, Any], override: str, source: str) -> None:
    key, equals, text = override.partition("=")
    if not equals or not key.strip():
        raise SceneConfigError(f"{source}: override {override!r} is not KEY=VALUE (e.g. seed=3)")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SceneConfigError(
            f"{source}: override {override!r}: not a YAML value: {error}"
        ) from None
    if isinstance(value, datetime.date):
        value = text.strip()  # an ISO date or time stays the text the scene files hold
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SceneConfigError(f"{source}: override {key}: {part} is not a section")
        node = child
    node[leaf] = value


def scene_config_from_dict(raw: dict[str, Any], source: str = "scene") -> SceneConfig:
    config = _build(SceneConfig, raw, "", source)
    _check_values(config, source)
    return config


def _build(cls: type, raw: Any, prefix: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise SceneConfigError(f"{source}: {prefix.rstrip('.') or 'the scene'} must be a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SceneConfigError(
            f"{source}: unknown key {prefix}{unknown[0]} (known keys here: {', '.join(sorted(known))})"
        )
    values = {}
    for name, value in raw.items():
        hint = hints[name]
        path = f"{prefix}{name}"
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, f"{path}.", source)
        else:
            values[name] = _coerce(value, hint, path, source)
    return cls(**values)


def _coerce(value: Any, hint: Any, path: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    try:
        if origin in (typing.Union, types.UnionType):
            if value is None:
                return None
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
            return _coerce(value, hint, path, source)
        if origin is tuple:
            args = typing.get_args(hint)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(
                    _coerce(v, args[0], f"{path}[{i}]", source) for i, v in enumerate(value)
                )
            if len(value) != len(args):
                raise SceneConfigError(
                    f"{source}: {path} must have {len(args)} values, got {len(value)}"
                )
            return tuple(
                _coerce(v, a, f"{path}[{i}]", source)
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        if (hint is bool) != isinstance(value, bool):  # no 0/1 for a flag, no flag for a number
            raise TypeError
        if hint is bool:
            return value
        if hint is int and float(value) != int(value):
            raise TypeError
        return hint(value)
    except (TypeError, ValueError):
        raise SceneConfigError(f"{source}: {path} = {value!r} is not a valid {hint}") from None


def _lookup(config: SceneConfig, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _check_values(config: SceneConfig, source: str) -> None:
    for name in sorted(POSITIVE_FIELDS):
        if _lookup(config, name) <= 0:
            raise SceneConfigError(
                f"{source}: {name} must be positive, got {_lookup(config, name)}"
            )
    for name in sorted(NON_NEGATIVE_FIELDS):
        if _lookup(config, name) < 0:
            raise SceneConfigError(
                f"{source}: {name} cannot be negative, got {_lookup(config, name)}"
            )
    for name in ("city.building_height", "trajectory.train_height_m", "sun.utc_hours"):
        low, high = _lookup(config, name)
        if not 0 <= low <= high:
            raise SceneConfigError(
                f"{source}: {name} must be a range [low, high] with 0 <= low <= high"
            )
    _check_consistency(config, source)


def _check_consistency(config: SceneConfig, source: str) -> None:
    """What no single field's range says: the parts of the scene must fit together."""
    city = config.city
    if 2 * city.sidewalk_width >= city.block_size:
        raise SceneConfigError(
            f"{source}: city.sidewalk_width leaves no room for buildings in a block"
        )
    if config.sun.mode not in ("ephemeris", "fixed"):
        raise SceneConfigError(
            f"{source}: sun.mode must be 'ephemeris' or 'fixed', got {config.sun.mode!r}"
        )
    if config.sun.mode == "fixed" and config.sun.fixed_elevation_deg < config.sun.min_elevation_deg:
        raise SceneConfigError(
            f"{source}: sun.fixed_elevation_deg {config.sun.fixed_elevation_deg} is below "
            f"sun.min_elevation_deg {config.sun.min_elevation_deg}: not a daylight scene"
        )
    if not -0.5 < config.sensors.wheel_scale_error < 0.5:
        raise SceneConfigError(f"{source}: sensors.wheel_scale_error must be in (-0.5, 0.5)")
    lane_limit = city.street_width / 2 - 2.8  # parked vehicles reach 2.2 m in from the kerb
    if abs(config.trajectory.lane_offset_m) > lane_limit:
        raise SceneConfigError(
            f"{source}: trajectory.lane_offset_m {config.trajectory.lane_offset_m} puts the "
            f"robot among the parked vehicles: keep it within +-{lane_limit:.1f} m of the centre line"
        )
    if not 0.0 <= config.lighting.overcast_fraction <= 1.0:
        raise SceneConfigError(f"{source}: lighting.overcast_fraction must be in [0, 1]")
