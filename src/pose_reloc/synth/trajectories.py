"""Camera trajectories through a City: a training sweep over the walkable area, robot-like drives
along the streets at 10 Hz, drives interrupted by kidnaps (teleports), and long drives.

A robot's pose is `T_map_base` (base_link on the ground, x forward, z up); its camera's is
`T_map_cam = T_map_base @ T_base_cam`, the optical frame (z forward, x right, y down).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import make_interp_spline
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from pose_reloc.synth.city import City
from pose_reloc.synth.config import CameraConfig, SceneConfigError

# Optical axes in a body frame (x forward, y left, z up): optical z = body x, x = -y, y = -z.
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
TRAJECTORY_KINDS = ("train", "drive", "kidnap", "long", "survey", "mapping")
SURVEY_SPACING_M = 0.6  # a mapping survey keeps one frame every this many metres


@dataclass(frozen=True)
class PosedFrame:
    """One camera frame of a trajectory: time since its start, poses, kidnap flag, segment."""

    time_s: float
    T_map_base: Transform
    T_map_cam: Transform
    kidnap: bool = False  # the robot was teleported just before this frame
    segment: int = 0


def camera_mount(camera: CameraConfig) -> Transform:
    """T_base_cam: base_link -> camera optical frame, from the mount position and body angles."""
    body = Rotation.from_euler("xyz", camera.mount_rpy_deg, degrees=True)
    return Transform(
        body * Rotation.from_matrix(R_BODY_OPTICAL), np.asarray(camera.mount_xyz, float)
    )


def training_sweep(city: City, count: int, rng: np.random.Generator) -> list[PosedFrame]:
    """Cameras spread over the walkable area: any street position, heights, yaws, small tilts."""
    cfg = city.config.trajectory
    mount = camera_mount(city.config.camera)
    frames: list[PosedFrame] = []
    while len(frames) < count:
        n = 4 * (count - len(frames))
        xy = np.column_stack(
            [
                rng.uniform(-city.half_extent, city.half_extent, n),
                rng.uniform(-city.half_extent_y, city.half_extent_y, n),
            ]
        )
        height = rng.uniform(*cfg.train_height_m, n)
        ok = city.on_street(xy, margin=0.3) & (
            city.clearance(np.column_stack([xy, height])) >= cfg.clearance_m
        )
        for (x, y), h in zip(xy[ok], height[ok], strict=True):
            if len(frames) == count:
                break
            yaw = rng.uniform(-180, 180)
            pitch = rng.uniform(-cfg.train_pitch_deg, cfg.train_pitch_deg)
            roll = rng.uniform(-cfg.train_roll_deg, cfg.train_roll_deg)
            base = Transform(
                Rotation.from_euler("ZYX", [yaw, pitch, roll], degrees=True),
                np.array([x, y, h - mount.translation[2]]),
            )
            frames.append(PosedFrame(len(frames) / cfg.rate_hz, base, base @ mount))
    return frames


def _street_route(
    city: City, rng: np.random.Generator, length_m: float, start: NDArray | None = None
) -> NDArray[np.float64]:
    """Waypoints (x, y) of a random walk along street centre lines, shifted into the right lane."""
    nodes = np.array([[x, y] for x in city.street_x for y in city.street_y])
    current = nodes[int(rng.integers(len(nodes)))] if start is None else start
    heading = None
    points = [current]
    travelled = 0.0
    pitch_x = np.diff(city.street_x).mean() if len(city.street_x) > 1 else 1.0
    while travelled < length_m + pitch_x:
        steps = [np.array(s) for s in ((1, 0), (-1, 0), (0, 1), (0, -1))]
        options = []
        for step in steps:
            target = current + step * np.array(
                [np.diff(city.street_x).mean(), np.diff(city.street_y).mean()]
            )
            inside = (np.abs(target) <= [city.half_extent, city.half_extent_y]).all()
            if inside and (heading is None or not np.allclose(step, -heading)):
                options.append((step, target))
        step, target = options[int(rng.integers(len(options)))]
        travelled += float(np.linalg.norm(target - current))
        heading, current = step, target
        points.append(current)
    route = np.array(points, dtype=np.float64)
    return _shift_right(route, city.config.trajectory.lane_offset_m)


def _shift_right(route: NDArray[np.float64], offset: float) -> NDArray[np.float64]:
    """Each waypoint moved `offset` to the right of the direction of travel (mitred at corners;
    a U-turn becomes two waypoints, one in each lane)."""
    directions = np.diff(route, axis=0)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    right = np.column_stack([directions[:, 1], -directions[:, 0]])
    points = [route[0] + right[0] * offset]
    for k in range(1, len(route) - 1):
        r_in, r_out = right[k - 1], right[k]
        if float(r_in @ r_out) < -0.99:  # a U-turn: cross over at the end of the street
            points += [route[k] + r_in * offset, route[k] + r_out * offset]
            continue
        normal = (r_in + r_out) / np.linalg.norm(r_in + r_out)
        points.append(route[k] + normal * offset / max(float(normal @ r_in), 0.5))
    points.append(route[-1] + right[-1] * offset)
    return np.array(points)


def _sample_route(
    route: NDArray[np.float64],
    speed: float,
    rate: float,
    duration: float,
    corner_m: float = 4.0,
    to_the_end: bool = False,
) -> tuple[NDArray, NDArray]:
    """Positions and headings along the route at constant speed, corners rounded by a spline;
    `to_the_end`: a duration past the (rounded) route's end stops there instead of raising."""
    dense = []
    for a, b in itertools.pairwise(route):
        length = np.linalg.norm(b - a)
        for t in np.linspace(0, 1, max(2, int(length / corner_m) + 1))[:-1]:
            dense.append(a + t * (b - a))
    dense.append(route[-1])
    pts = np.array(dense)
    arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    spline = make_interp_spline(arc, pts, k=3)
    fine_s = np.linspace(0, arc[-1], int(arc[-1] * 20) + 2)
    fine = spline(fine_s)
    fine_arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(fine, axis=0), axis=1))])
    if to_the_end:
        duration = min(duration, fine_arc[-1] / speed)
    n = round(duration * rate)
    wanted = np.arange(n) * speed / rate
    if wanted[-1] > fine_arc[-1]:
        raise SceneConfigError(
            "the drive route is shorter than the drive: lower trajectory.drive_seconds"
        )
    xy = np.column_stack([np.interp(wanted, fine_arc, fine[:, i]) for i in range(2)])
    ahead = np.column_stack([np.interp(wanted + 0.5, fine_arc, fine[:, i]) for i in range(2)])
    heading = np.degrees(np.arctan2(ahead[:, 1] - xy[:, 1], ahead[:, 0] - xy[:, 0]))
    return xy, np.unwrap(heading, period=360)


def drive(
    city: City,
    duration_s: float,
    rng: np.random.Generator,
    start_time_s: float = 0.0,
    segment: int = 0,
    kidnap_first: bool = False,
) -> list[PosedFrame]:
    """A smooth robot drive along the streets at the configured speed and camera rate."""
    cfg = city.config.trajectory
    if cfg.waypoints and segment == 0:
        route = np.asarray(cfg.waypoints, float)
        _check_waypoints(city, route)
    else:
        route = _street_route(city, rng, duration_s * cfg.speed_mps)
    xy, heading = _sample_route(route, cfg.speed_mps, cfg.rate_hz, duration_s)
    mount = camera_mount(city.config.camera)
    frames = []
    for i, ((x, y), yaw) in enumerate(zip(xy, heading, strict=True)):
        base = Transform(Rotation.from_euler("z", yaw, degrees=True), np.array([x, y, 0.0]))
        frames.append(
            PosedFrame(
                start_time_s + i / cfg.rate_hz, base, base @ mount, kidnap_first and i == 0, segment
            )
        )
    return frames


def _check_waypoints(city: City, route: NDArray[np.float64]) -> None:
    height = city.config.camera.mount_xyz[2]
    clearance = city.clearance(np.column_stack([route, np.full(len(route), height)]))
    for i, (point, gap) in enumerate(zip(route, clearance, strict=True)):
        if gap <= 0.0:
            raise SceneConfigError(
                f"trajectory.waypoints[{i}] ({point[0]:.1f}, {point[1]:.1f}) puts the camera inside an object"
            )


def kidnap_drive(city: City, duration_s: float, rng: np.random.Generator) -> list[PosedFrame]:
    """A drive in which the robot is teleported to a random other street every kidnap_every_s."""
    cfg = city.config.trajectory
    frames: list[PosedFrame] = []
    segment = 0
    while not frames or frames[-1].time_s + 1.0 / cfg.rate_hz < duration_s - 1e-9:
        start = len(frames) / cfg.rate_hz
        length = min(cfg.kidnap_every_s, duration_s - start)
        frames += drive(city, length, rng, start, segment, kidnap_first=segment > 0)
        segment += 1
    return frames


def survey_route(city: City, rng: np.random.Generator) -> NDArray[np.float64]:
    """Street-centre waypoints driving every street between two crossings once in each direction
    and ending where they began: an Euler circuit (Hierholzer) of the crossing grid with every
    street doubled into its two directions; then its first street once more, as a mapping drive
    should end: the circuit's last street is driven one way only, and without a pass over
    ground already mapped, the same way, nothing ties the drive's end (measured: its last
    130 m 12 cm off, twice the rest)."""
    nodes = [(i, j) for i in range(len(city.street_x)) for j in range(len(city.street_y))]
    crossings = set(nodes)
    exits: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, j in nodes:
        neighbours = [(i + di, j + dj) for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))]
        options = [n for n in neighbours if n in crossings]
        exits[(i, j)] = [options[k] for k in rng.permutation(len(options))]
    start = nodes[int(rng.integers(len(nodes)))]
    stack, circuit = [start], []
    while stack:
        node = stack[-1]
        if exits[node]:
            stack.append(exits[node].pop())
        else:
            circuit.append(stack.pop())
    circuit.reverse()
    if len(circuit) > 1:
        circuit.append(circuit[1])
    route = np.array([[city.street_x[i], city.street_y[j]] for i, j in circuit], float)
    return _shift_right(route, city.config.trajectory.lane_offset_m)


def survey(
    city: City, duration_s: float, rng: np.random.Generator, at_camera_rate: bool = False
) -> list[PosedFrame]:
    """A mapping survey: the survey route at the configured speed, one frame every
    SURVEY_SPACING_M (or, `at_camera_rate`, at trajectory.rate_hz, as a robot's mapping bag
    records it), for at most `duration_s` (the whole circuit when it is shorter)."""
    cfg = city.config.trajectory
    route = survey_route(city, rng)
    rate = cfg.rate_hz if at_camera_rate else cfg.speed_mps / SURVEY_SPACING_M
    xy, heading = _sample_route(route, cfg.speed_mps, rate, duration_s, to_the_end=True)
    mount = camera_mount(city.config.camera)
    frames = []
    for i, ((x, y), yaw) in enumerate(zip(xy, heading, strict=True)):
        base = Transform(Rotation.from_euler("z", yaw, degrees=True), np.array([x, y, 0.0]))
        frames.append(PosedFrame(i / rate, base, base @ mount))
    return frames


def trajectory(
    kind: str, city: City, count_or_seconds: float, rng: np.random.Generator
) -> list[PosedFrame]:
    """Frames of one kind: `train` takes a frame count, the drives a duration in seconds."""
    if kind == "train":
        return training_sweep(city, int(count_or_seconds), rng)
    if kind in ("drive", "long"):
        return drive(city, count_or_seconds, rng)
    if kind == "kidnap":
        return kidnap_drive(city, count_or_seconds, rng)
    if kind == "survey":
        return survey(city, count_or_seconds, rng)
    if kind == "mapping":
        return survey(city, count_or_seconds, rng, at_camera_rate=True)
    raise SceneConfigError(f"trajectory kind {kind!r} is not one of {TRAJECTORY_KINDS}")
