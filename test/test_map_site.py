"""`pose-reloc map-site` on a synthetic robot's mapping bag (images, camera_info, /tf_static,
wheel odometry that drifts; the ground truth in the bag used only to score), and on bags with
something missing or wrong: each a clear error or a counted exclusion, never a half-written
site."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from pose_reloc.datasets import read_dataset
from pose_reloc.datasets.record import DatasetError
from pose_reloc.site_identity import site_of_datasets
from pose_reloc.tools.cli import main
from pose_reloc.tools.site.inputs import MappingTopics, SiteInputError, read_mapping_bag
from vo_fusion.errors import VoFusionError
from vo_fusion.feature_map import FeatureMap
from vo_fusion.mapping.site import map_site

SECONDS = 50.0  # of the small scene's mapping drive: 500 frames, ~60 m, a corner


@pytest.fixture(scope="module")
def mapping_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synth_fixtures import small_config

    from pose_reloc.synth.generate import synthesize
    from pose_reloc.synth.render import RenderError

    root = tmp_path_factory.mktemp("mapping")
    try:
        synthesize(small_config(), "mapping", SECONDS, root / "data", bag_path=root / "bag")
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    return root / "bag"


def expected_origin(mapping_bag: Path) -> tuple[float, float, float]:
    """(lat, lon, yaw_to_enu_deg) of the site's frame (odom: the robot's first pose), from the
    scene's location and the truth's first pose."""
    from synth_fixtures import small_config

    from pose_reloc.geodesy import GeoOrigin

    inputs = read_mapping_bag(mapping_bag)
    T_map_odom = inputs.truth[0] @ inputs.frames[0].T_wc.inverse()
    x_axis = T_map_odom.rotation.apply([1.0, 0.0, 0.0])
    place = small_config().location
    yaw = place.yaw_to_enu_deg + np.degrees(np.arctan2(x_axis[1], x_axis[0]))
    enu = Rotation.from_euler("z", place.yaw_to_enu_deg, degrees=True).apply(T_map_odom.translation)
    latitude, longitude, _ = GeoOrigin(place.latitude, place.longitude, place.altitude).to_geodetic(
        enu
    )
    return float(latitude), float(longitude), float(yaw)


@pytest.fixture(scope="module")
def site(mapping_bag: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    argv = ["map-site", str(mapping_bag), "--out", str(out), "--register-stride", "3"]
    assert main([*argv, "--dataset-stride", "4"]) == 0  # the origin from the bag's GPS
    return out


def test_the_site_holds_a_loadable_map_a_posed_dataset_and_a_launch_config(site: Path):
    for name in ("map.npz", "keyframes.tum", "frames.tum", "report.md", "trajectory.png"):
        assert (site / name).is_file(), name
    assert not site.with_name("site.partial").exists()
    feature_map = FeatureMap.load(site / "map.npz")
    assert len(feature_map) > 2000
    assert feature_map.metadata["made_by"] == "pose-reloc map-site"
    parameters = yaml.safe_load((site / "site.yaml").read_text())["/**/vo_fusion_node"]
    assert Path(parameters["ros__parameters"]["map"]) == (site / "map.npz").resolve()
    launch_line = f"config:={(site / 'site.yaml').resolve()}\n"
    assert launch_line in (site / "site.yaml").read_text()  # the folder's final name
    # the folder names the site, and everything the nodes load from it says so
    assert parameters["ros__parameters"]["site"] == feature_map.site == "site"
    assert site_of_datasets([site / "dataset"]) == "site"
    dataset = list(read_dataset(site / "dataset"))
    figures = json.loads((site / "figures.json").read_text())
    assert len(dataset) == -(-figures["frames_registered"] // 4)
    assert figures["registered_share"] >= 0.95


def test_the_site_gives_its_own_prior_by_retrieval_from_the_registered_frames(site: Path):
    from pose_reloc.geometry import translation_error_m
    from pose_reloc.posenet.retrieval import RetrievalLocalizer

    prior = yaml.safe_load((site / "site.yaml").read_text())["/**/posenet_node"]
    parameters = prior["ros__parameters"]
    assert parameters["prior_source"] == "retrieval" and parameters["site"] == "site"
    assert Path(parameters["retrieval_index"]) == (site / "retrieval.npz").resolve()
    localizer = RetrievalLocalizer(site / "retrieval.npz")
    assert localizer.site == "site"
    figures = json.loads((site / "figures.json").read_text())
    assert localizer.frames == figures["frames_registered"]
    for frame in list(read_dataset(site / "dataset"))[::5]:
        assert translation_error_m(localizer.localize(frame.image()).T_map_cam, frame.T_wc) < 0.05


def test_the_sites_dataset_carries_the_sun_seen_from_each_camera(site: Path, mapping_bag: Path):
    rendered = {f.stamp: f for f in read_dataset(mapping_bag.with_name("data"))}
    dataset = list(read_dataset(site / "dataset"))
    with_sun = [f for f in dataset if f.sun_cam is not None]
    assert len(with_sun) == len(dataset)  # the scene's drive is in daylight
    errors = [
        np.degrees(np.arccos(np.clip(f.sun_cam @ rendered[f.stamp].sun_cam, -1.0, 1.0)))
        for f in with_sun
        if f.stamp in rendered
    ]
    assert len(errors) == len(with_sun)
    assert np.median(errors) < 1.0  # the ephemeris is the renderer's; the poses are the site's


def test_the_sites_place_on_earth_comes_from_the_bags_gps(site: Path, mapping_bag: Path):
    figures = json.loads((site / "figures.json").read_text())
    assert figures["origin_from"] == "GPS"
    assert figures["gps_fixes_used"] >= 40  # 1 Hz over 50 s
    assert figures["gps_horizontal_rms_m"] < 5.0  # the fixes' noise: 2 m per axis
    parameters = yaml.safe_load((site / "site.yaml").read_text())["/**/vo_fusion_node"]
    origin = parameters["ros__parameters"]
    assert "use_sun" not in origin
    latitude, longitude, yaw = expected_origin(mapping_bag)
    # 1e-5 degrees is ~1.1 m north, ~0.8 m east here
    assert origin["origin_lat"] == pytest.approx(latitude, abs=1e-5)
    assert origin["origin_lon"] == pytest.approx(longitude, abs=1.5e-5)
    # The expected yaw is the first pose's; the fit sees the whole drive, whose mapped headings
    # are ~1 deg off the truth here (measured: 1.2 deg apart). The sun test above checks the
    # yaw where it matters, in the sun seen from each camera.
    assert (origin["yaw_to_enu_deg"] - yaw + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=2.0)


def test_gps_messages_without_a_fix_are_counted_and_left_out(mapping_bag: Path, tmp_path: Path):
    from pose_reloc.datasets.rosbag import NO_FIX, read_navsat

    def no_fix(topic: str, msg: Any, time_ns: int) -> tuple[Any, int]:
        if topic == "/gps/fix":
            msg.status.status = -1  # STATUS_NO_FIX
        return msg, time_ns

    dropped: dict[str, int] = {}
    fixes = read_navsat(mapping_bag, "/gps/fix", dropped)
    assert len(fixes) >= 40 and not dropped
    damaged = rewrite_bag(mapping_bag, tmp_path / "bag", change=no_fix)
    assert read_navsat(damaged, "/gps/fix", dropped) == []
    assert dropped[NO_FIX] == len(fixes)
    inputs = read_mapping_bag(damaged)
    assert inputs.gps == [] and inputs.dropped[NO_FIX] == len(fixes)


def test_the_mapped_keyframes_beat_the_odometry_and_carry_the_scale(site: Path):
    figures = json.loads((site / "figures.json").read_text())
    # measured: 0.02-0.42 m against the odometry's 0.66 m, headings 1.0 deg against 3.0 deg
    # (median), scale -0.1 to 2.4 % against the odometry's 3.0 % off: the camera height's ground
    # peak is broad in the small scene (heights 1.3 +- 0.15 m), and two renders of the drive
    # 0.6 µm apart (one bag maps the same each run) gave -0.1 % and 2.4 %
    assert figures["keyframes_ate_rmse_m"] < 0.8 * figures["odometry_ate_rmse_m"]
    assert figures["keyframes_rotation_median_deg"] < 0.5 * figures["odometry_rotation_median_deg"]
    assert abs(figures["keyframes_scale_error_percent"]) < 2.75
    assert figures["scale_source"] == "camera height above the ground"


def test_registered_frames_agree_with_the_keyframes_they_were_mapped_with(
    site: Path, mapping_bag: Path
):
    from pose_reloc.geometry import Transform
    from pose_reloc.tools.site.score import score_poses

    inputs = read_mapping_bag(mapping_bag)
    truth = dict(zip([f.stamp for f in inputs.frames], inputs.truth, strict=True))
    rows = np.loadtxt(site / "frames.tum")
    registered = [Transform.from_xyz_quat(r[1:4], r[4:8]) for r in rows]
    scored = score_poses(registered, [truth.get(r[0]) for r in rows], "frames")
    figures = json.loads((site / "figures.json").read_text())
    assert scored["frames_ate_rmse_m"] < 1.2 * figures["keyframes_ate_rmse_m"] + 0.05


def test_the_odometrys_stated_noise_weighs_its_steps(site: Path, mapping_bag: Path):
    from synth_fixtures import small_config

    inputs = read_mapping_bag(mapping_bag)
    assert inputs.odometry_noise is not None
    stamps = np.array([frame.stamp for frame in inputs.frames])
    steps = inputs.odometry_noise.step_variances(stamps)
    poses = [frame.T_wc for frame in inputs.frames]
    lengths = np.array([np.linalg.norm((a.inverse() @ b).translation) for a, b in pairwise(poses)])
    sensors = small_config().sensors
    moving = lengths > 0.05
    # the bag's odometry states the white noise it was made with: 1 % of each step, 0.05° a turn
    assert np.median(np.sqrt(steps[moving, 0]) / lengths[moving]) == pytest.approx(
        sensors.wheel_noise, rel=0.05
    )
    assert np.median(np.degrees(np.sqrt(steps[:, 1]))) == pytest.approx(
        sensors.wheel_yaw_noise_deg, rel=0.01
    )
    figures = json.loads((site / "figures.json").read_text())
    assert figures["odometry_noise"] == "the odometry's twist covariance"


def test_odometry_that_states_no_noise_is_weighed_by_the_configured_fractions(
    mapping_bag: Path, tmp_path: Path
):
    def unstated(topic: str, msg: Any, time_ns: int) -> tuple[Any, int]:
        if topic == "/odom" and msg.header.stamp.nanosec < 500_000_000:
            msg.twist.covariance = np.zeros(36)  # what many drivers publish
        return msg, time_ns

    inputs = read_mapping_bag(rewrite_bag(mapping_bag, tmp_path / "bag", change=unstated))
    assert inputs.odometry_noise is None
    assert re.search(r"\d+ of \d+ messages on /odom state no", inputs.odometry_noise_absent)
    steps = np.zeros((len(inputs.frames) - 2, 2))
    with pytest.raises(VoFusionError, match=r"one finite .* pair per step"):
        map_site(inputs.frames, step_noise=steps, log=lambda _: None)


def _up_seen_from(poses: list[Any], up: np.ndarray) -> np.ndarray:
    return np.array([T.rotation.inv().apply(up) for T in poses])


def _angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=1), -1.0, 1.0)))


def test_the_imu_sets_the_maps_up_where_the_ground_is_not_level(
    site: Path, mapping_bag: Path, tmp_path: Path
):
    """The bag's accelerometer rewritten as if the city stood on a 3° slope: the map's up
    follows the IMU (flat-ground odometry alone cannot know it); as recorded, the map is level."""
    from pose_reloc.geometry import Transform
    from vo_fusion.mapping.gravity import GRAVITY_MPS2

    figures = json.loads((site / "figures.json").read_text())
    assert figures["tilt_from"] == "the IMU"
    # all but those within half a window of the drive's ends
    assert figures["keyframes_tilted_by_imu"] >= 0.95 * figures["keyframes"]
    inputs = read_mapping_bag(mapping_bag)
    stamps = np.array([frame.stamp for frame in inputs.frames])
    forward = np.array([T.rotation.apply([0.0, 0.0, 1.0]) for T in inputs.truth])
    yaw = np.unwrap(np.arctan2(forward[:, 1], forward[:, 0]))  # the base's, level in the city
    sloped_up = Rotation.from_euler("x", 3.0, degrees=True).apply([0.0, 0.0, 1.0])

    def on_a_slope(topic: str, msg: Any, time_ns: int) -> tuple[Any, int]:
        if topic == "/imu/data":
            heading = Rotation.from_euler("z", np.interp(stamp_of(msg), stamps, yaw))
            extra = GRAVITY_MPS2 * (heading.inv().apply(sloped_up) - [0.0, 0.0, 1.0])
            a = msg.linear_acceleration
            a.x, a.y, a.z = a.x + extra[0], a.y + extra[1], a.z + extra[2]
        return msg, time_ns

    sloped = read_mapping_bag(rewrite_bag(mapping_bag, tmp_path / "bag", change=on_a_slope))
    assert sloped.gravity is not None
    mapped = map_site(sloped.frames, gravity=sloped.gravity, log=lambda _: None)
    truth = [sloped.truth[k] for k in mapped.keyframes]
    seen = _up_seen_from(mapped.poses, np.array([0.0, 0.0, 1.0]))
    assert np.median(_angles_deg(seen, _up_seen_from(truth, sloped_up))) < 0.5
    assert np.median(_angles_deg(seen, _up_seen_from(truth, np.array([0.0, 0.0, 1.0])))) > 2.5
    rows = np.loadtxt(site / "keyframes.tum")
    truth_at = dict(zip(stamps.round(6), inputs.truth, strict=True))
    level = [Transform.from_xyz_quat(r[1:4], r[4:8]) for r in rows]
    level_truth = [truth_at[round(r[0], 6)] for r in rows]
    up = np.array([0.0, 0.0, 1.0])
    level_error = _angles_deg(_up_seen_from(level, up), _up_seen_from(level_truth, up))
    assert np.median(level_error) < 0.5


def test_an_imu_in_a_frame_the_bag_does_not_place_is_not_used(mapping_bag: Path, tmp_path: Path):
    def elsewhere(topic: str, msg: Any, time_ns: int) -> tuple[Any, int]:
        if topic == "/imu/data":
            msg.header.frame_id = "imu_link"  # no /tf_static to base_link
        return msg, time_ns

    inputs = read_mapping_bag(rewrite_bag(mapping_bag, tmp_path / "bag", change=elsewhere))
    assert inputs.gravity is None
    assert "the IMU is not used" in inputs.gravity_absent and "imu_link" in inputs.gravity_absent


def test_an_imu_can_be_left_out(mapping_bag: Path):
    inputs = read_mapping_bag(mapping_bag, MappingTopics(imu=""))  # map-site --imu-topic ''
    assert inputs.gravity is None and "no sensor_msgs/Imu" in inputs.gravity_absent


def test_imu_messages_without_a_finite_acceleration_are_counted_and_left_out(
    mapping_bag: Path, tmp_path: Path
):
    from pose_reloc.datasets.rosbag import IMU_NOT_FINITE

    def some_nan(topic: str, msg: Any, time_ns: int) -> tuple[Any, int]:
        if topic == "/imu/data" and msg.header.stamp.nanosec // 100_000_000 == 3:  # 1 in 10
            msg.linear_acceleration.x = float("nan")
        return msg, time_ns

    inputs = read_mapping_bag(rewrite_bag(mapping_bag, tmp_path / "bag", change=some_nan))
    assert 40 <= inputs.dropped[IMU_NOT_FINITE] <= 60
    assert inputs.gravity is not None and inputs.gravity.measured.mean() > 0.9


def stamp_of(msg: Any) -> float:
    return float(msg.header.stamp.sec) + 1e-9 * float(msg.header.stamp.nanosec)


# --- bad input ----------------------------------------------------------------------------------
def rewrite_bag(
    source: Path,
    target: Path,
    drop: tuple[str, ...] = (),
    change: Callable[[str, Any, int], tuple[Any, int] | None] | None = None,
) -> Path:
    """A copy of `source` without the `drop` topics, each message passed through `change(topic,
    msg, log_time_ns)` (None drops it)."""
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    with AnyReader([source], default_typestore=store) as reader:
        writer = Writer(target, version=8, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        connections = {
            c.topic: writer.add_connection(c.topic, c.msgtype, typestore=store)
            for c in reader.connections
            if c.topic not in drop
        }
        kept = [c for c in reader.connections if c.topic not in drop]
        for connection, time_ns, raw in reader.messages(connections=kept):
            msg = reader.deserialize(raw, connection.msgtype)
            if change is not None:
                changed = change(connection.topic, msg, time_ns)
                if changed is None:
                    continue
                msg, time_ns = changed
            writer.write(
                connections[connection.topic], time_ns, store.serialize_cdr(msg, connection.msgtype)
            )
        writer.close()
    return target


def test_a_bag_without_odometry_is_refused_naming_the_options(mapping_bag: Path, tmp_path: Path):
    bag = rewrite_bag(mapping_bag, tmp_path / "bag", drop=("/odom",))
    with pytest.raises(SiteInputError, match=r"no topic /odom.*scale source"):
        read_mapping_bag(bag)
    with pytest.raises(SiteInputError, match=r"has no topic /wheel.*odometry on /odom: give it"):
        read_mapping_bag(mapping_bag, MappingTopics(odometry="/wheel"))


def test_a_bag_without_images_or_calibration_is_refused(mapping_bag: Path, tmp_path: Path):
    without_images = rewrite_bag(
        mapping_bag, tmp_path / "a", drop=("/camera/image_raw/compressed",)
    )
    with pytest.raises(DatasetError, match=r"has no topic /camera/image_raw/compressed"):
        read_mapping_bag(without_images)
    without_info = rewrite_bag(mapping_bag, tmp_path / "b", drop=("/camera/camera_info",))
    with pytest.raises(DatasetError, match=r"no camera_info.*calibration"):
        read_mapping_bag(without_info)


def test_odometry_gaps_and_time_going_backwards_are_counted_not_fatal(
    mapping_bag: Path, tmp_path: Path
):
    def damage(topic: str, msg: Any, time_ns: int):
        if topic != "/odom":
            return msg, time_ns
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        first = damage.first = getattr(damage, "first", stamp)
        if 10.0 <= stamp - first < 14.0:  # a 4 s gap
            return None
        if 20.0 <= stamp - first < 20.5:  # a restart: stamps 30 s in the past
            msg.header.stamp.sec -= 30
        return msg, time_ns

    inputs = read_mapping_bag(rewrite_bag(mapping_bag, tmp_path / "bag", change=damage))
    assert inputs.dropped["pose messages back in time"] == 5
    assert 35 <= inputs.dropped["images without a pose"] <= 50
    assert len(inputs.frames) == int(SECONDS * 10) - inputs.dropped["images without a pose"]


def test_a_stationary_drive_is_refused(mapping_bag: Path):
    from dataclasses import replace

    inputs = read_mapping_bag(mapping_bag)
    still = [replace(frame, T_wc=inputs.frames[0].T_wc) for frame in inputs.frames[:50]]
    with pytest.raises(VoFusionError, match=r"moved 0\.00 m"):
        map_site(still, log=lambda _: None)


def test_blank_images_leave_no_half_written_site(
    mapping_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    import cv2

    black = cv2.imencode(".jpg", np.zeros((240, 320, 3), np.uint8))[1].tobytes()

    def blank(topic: str, msg: Any, time_ns: int):
        if topic == "/camera/image_raw/compressed":
            msg.data = np.frombuffer(black, np.uint8)
        return msg, time_ns

    bag = rewrite_bag(mapping_bag, tmp_path / "bag", change=blank)
    out = tmp_path / "site"
    assert main(["map-site", str(bag), "--out", str(out)]) != 0
    assert "no point could be triangulated" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "site.partial").exists()
