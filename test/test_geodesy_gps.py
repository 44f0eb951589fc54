"""Geographic positions as local ENU metres (pose_reloc.geodesy), the synthetic GPS, and the
site's origin fitted from fixes (tools/site/gps), on exact data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.datasets.record import Frame
from pose_reloc.datasets.rosbag import NavSatReading
from pose_reloc.geodesy import GeoOrigin
from pose_reloc.geometry import Transform
from pose_reloc.synth.config import LocationConfig, SensorsConfig
from pose_reloc.synth.sensors import gps_fixes
from pose_reloc.tools.site.gps import fixes_in_enu, origin_from_gps
from vo_fusion.mapping.scale import PositionFixes, ScaleEstimate, scale_from_fixes, surer_scale

TORONTO = GeoOrigin(43.6629, -79.3957, 100.0)


def test_enu_and_geodetic_positions_round_trip_and_have_the_earths_scale():
    enu = np.array([[1200.0, -800.0, 3.0], [0.0, 0.0, 0.0], [-50.0, 2000.0, -1.0]])
    back = TORONTO.to_enu(*TORONTO.to_geodetic(enu).T)
    assert np.allclose(back, enu, atol=1e-6)
    # A degree of latitude near 43.7° N is 111.1 km; a degree of longitude 80.7 km.
    one_degree = TORONTO.to_enu([44.6629, 43.6629], [-79.3957, -78.3957], [100.0, 100.0])
    assert one_degree[0, 1] == pytest.approx(111_100.0, rel=2e-3)
    assert one_degree[1, 0] == pytest.approx(80_700.0, rel=2e-3)


def _drive(count: int = 120) -> list[Transform]:
    """base_link along an L: 60 m east in the map, then 60 m north, 1 m per frame."""
    poses = []
    for k in range(count):
        x, y = (float(k), 0.0) if k < count // 2 else (count / 2.0, float(k - count // 2))
        poses.append(Transform(Rotation.identity(), np.array([x, y, 0.0])))
    return poses


def test_exact_gps_fixes_come_at_their_rate_where_the_robot_is():
    poses, stamps = _drive(), [0.5 * k for k in range(120)]
    location = LocationConfig(43.6629, -79.3957, 100.0, yaw_to_enu_deg=30.0)
    exact = SensorsConfig(gps_noise_m=0.0, gps_rate_hz=1.0)
    fixes = gps_fixes(poses, stamps, location, exact, np.random.default_rng(0))
    assert sorted(fixes) == list(range(0, 120, 2))
    turn = Rotation.from_euler("z", 30.0, degrees=True)
    for index, fix in fixes.items():
        enu = TORONTO.to_enu(fix.latitude_deg, fix.longitude_deg, fix.altitude_m)
        assert np.allclose(enu, turn.apply(poses[index].translation), atol=1e-6)


def _frames_and_fixes(yaw_deg: float, offset_enu, noise_m: float, rng):
    """Registered frames in a site frame and the fixes of the same places, the site turned
    `yaw_deg` from ENU and its origin at `offset_enu` from TORONTO."""
    turn = Rotation.from_euler("z", yaw_deg, degrees=True)
    frames, fixes = [], []
    for k, T in enumerate(_drive()):
        stamp = 0.5 * k
        frames.append(Frame(stamp, None, T, lambda: None, "test"))  # type: ignore[arg-type]
        enu = turn.apply(T.translation) + offset_enu + noise_m * rng.standard_normal(3)
        fixes.append(NavSatReading(stamp, *TORONTO.to_geodetic(enu)))
    return frames, fixes


def test_the_sites_origin_and_yaw_come_back_from_noisy_fixes():
    rng = np.random.default_rng(3)
    offset = np.array([35.0, -12.0, 1.5])
    frames, fixes = _frames_and_fixes(-120.0, offset, 2.0, rng)
    fixes[10] = NavSatReading(
        fixes[10].stamp, fixes[10].latitude_deg + 0.001, fixes[10].longitude_deg, 100.0
    )  # 111 m off
    origin, figures = origin_from_gps(fixes, frames)
    assert origin is not None
    assert figures["gps_fixes_used"] == len(fixes) - 1  # the wild fix left out
    expected = TORONTO.to_geodetic(offset)
    assert TORONTO.to_enu(origin["origin_lat"], origin["origin_lon"], 100.0)[:2] == pytest.approx(
        TORONTO.to_enu(expected[0], expected[1], 100.0)[:2], abs=1.0
    )
    assert origin["yaw_to_enu_deg"] == pytest.approx(-120.0, abs=1.0)


def test_too_few_fixes_or_too_short_a_drive_give_no_origin_and_say_why():
    frames, fixes = _frames_and_fixes(0.0, np.zeros(3), 0.0, np.random.default_rng(0))
    origin, figures = origin_from_gps(fixes[:5], frames)
    assert origin is None and "5 fixes" in figures["gps_origin"]
    parked = [Frame(f.stamp, None, Transform.identity(), lambda: None, "test") for f in frames]  # type: ignore[arg-type]
    origin, figures = origin_from_gps(fixes, parked)
    assert origin is None and "spans less than" in figures["gps_origin"]


@pytest.mark.parametrize("map_scale", [0.97, 1.0, 1.04])
def test_the_map_scale_comes_back_from_noisy_fixes_with_an_honest_std(map_scale):
    """A map drawn `map_scale` times too small (the truth is x 1 / map_scale): the fit onto 2 m
    fixes gets the factor back within its stated std (3 sigma), and one wild fix changes
    nothing. Keyframes are half as frequent as the fixes' frames: their centres are
    interpolated at the fixes' stamps."""
    rng = np.random.default_rng(int(map_scale * 100))
    frames, fixes = _frames_and_fixes(40.0, np.array([5.0, 7.0, 0.0]), 2.0, rng)
    wild = fixes[30]
    fixes[30] = NavSatReading(wild.stamp, wild.latitude_deg + 0.001, wild.longitude_deg, 100.0)
    keyframes = frames[::2]
    centres = np.array([map_scale * f.T_wc.translation for f in keyframes])
    stamps = np.array([f.stamp for f in keyframes])
    enu = fixes_in_enu(fixes)
    assert enu is not None
    estimate = scale_from_fixes(centres, stamps, enu)
    assert estimate is not None and estimate.source == "GPS" and estimate.std is not None
    # The last fix comes after the last keyframe; the wild one is refitted away.
    assert len(fixes) - 5 <= estimate.support <= len(fixes) - 2
    # 2 m per fix over an L of 120 m: about 0.7 % for the whole fit.
    assert 0.002 < estimate.std < 0.02
    assert abs(estimate.scale * map_scale - 1.0) < 3.0 * estimate.std


@pytest.mark.parametrize("persistence", [0.0, 0.9])
def test_the_gps_scale_std_holds_for_white_and_for_wandering_fix_errors(persistence):
    """2 m per fix, white or a wander that runs on (each error 0.9 of the last plus news: a
    receiver's multipath and atmosphere). Over many drives, the scale's error stays within three
    of its stated stds (a std that took the fixes as independent covered 47 % of the wandering
    ones)."""
    frames, _ = _frames_and_fixes(0.0, np.zeros(3), 0.0, np.random.default_rng(0))
    centres = np.array([f.T_wc.translation for f in frames])
    stamps = np.array([f.stamp for f in frames])
    news = 2.0 * np.sqrt(1.0 - persistence**2)
    within, stds = [], []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        noise = np.zeros((len(frames), 3))
        noise[0] = 2.0 * rng.standard_normal(3)
        for k in range(1, len(frames)):
            noise[k] = persistence * noise[k - 1] + news * rng.standard_normal(3)
        estimate = scale_from_fixes(centres, stamps, PositionFixes(stamps, centres + noise))
        assert estimate is not None and estimate.std is not None
        within.append(abs(estimate.scale - 1.0) < 3.0 * estimate.std)
        stds.append(estimate.std)
    assert np.mean(within) >= 0.9
    # The wander's std is larger: fewer independent fixes.
    assert np.median(stds) > (0.015 if persistence else 0.004)


def test_fixes_outside_the_drive_or_too_few_give_no_gps_scale():
    frames, fixes = _frames_and_fixes(0.0, np.zeros(3), 0.0, np.random.default_rng(0))
    centres = np.array([f.T_wc.translation for f in frames])
    stamps = np.array([f.stamp for f in frames])
    late = fixes_in_enu(fixes)
    assert late is not None
    late = type(late)(late.stamps + 1000.0, late.enu)  # another day's fixes
    assert scale_from_fixes(centres, stamps, late) is None
    few = fixes_in_enu(fixes[:8])
    assert few is not None and scale_from_fixes(centres, stamps, few) is None


def test_the_gps_scale_is_taken_only_where_it_is_surer_than_the_camera_height():
    height = ScaleEstimate(0.99, "camera height above the ground", 500, 0.02)

    def gps(std):
        return ScaleEstimate(0.98, "GPS", 200, 0.06, std)

    assert surer_scale(gps(0.004), height) == gps(0.004)  # 1.5 x 0.4 % < 1 %
    assert surer_scale(gps(0.008), height) == height  # a short drive: 1.5 x 0.8 % > 1 %
    assert surer_scale(gps(0.008), None) == gps(0.008)
    assert surer_scale(None, height) == height
    assert surer_scale(None, None) is None
