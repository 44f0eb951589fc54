"""Sun ephemeris (pvlib) against known values, and ENU <-> map frames."""

from __future__ import annotations

import numpy as np
import pytest

from pose_reloc.sun import (
    EphemerisError,
    enu_from_azimuth_elevation,
    enu_to_map,
    sun_at,
    sun_positions,
)

TORONTO = (43.6629, -79.3957)


def day_minutes(date: str) -> np.ndarray:
    return np.datetime64(f"{date}T00:00:00") + np.arange(0, 24 * 60, 1).astype("timedelta64[m]")


def test_equinox_noon_elevation_is_ninety_minus_latitude():
    positions = sun_positions(day_minutes("2026-03-20"), *TORONTO)
    assert positions.elevation_deg.max() == pytest.approx(90.0 - TORONTO[0], abs=0.5)
    noon = positions.elevation_deg.argmax()
    assert positions.azimuth_deg[noon] == pytest.approx(180.0, abs=1.0)  # due south at solar noon


def test_solstice_noon_elevation_adds_the_tilt_of_the_earth():
    positions = sun_positions(day_minutes("2026-06-21"), *TORONTO)
    assert positions.elevation_deg.max() == pytest.approx(90.0 - TORONTO[0] + 23.44, abs=0.5)


def test_equinox_sunrise_is_due_east_and_night_is_below_the_horizon():
    positions = sun_positions(day_minutes("2026-03-20"), *TORONTO)
    rise = np.nonzero(np.diff(positions.above_horizon.astype(int)) == 1)[0][0] + 1
    assert positions.azimuth_deg[rise] == pytest.approx(90.0, abs=2.0)
    midnight_local = sun_positions([np.datetime64("2026-03-20T05:00:00")], *TORONTO)
    assert not midnight_local.above_horizon[0] and midnight_local.enu[0, 2] < 0


def test_vectors_are_unit_and_unix_seconds_equal_datetimes():
    a = sun_positions([1781000000.0], *TORONTO)
    b = sun_positions([np.datetime64(1781000000, "s")], *TORONTO)
    np.testing.assert_allclose(a.enu, b.enu)
    np.testing.assert_allclose(np.linalg.norm(a.enu, axis=1), 1.0)
    np.testing.assert_allclose(enu_from_azimuth_elevation(90.0, 0.0), [1.0, 0.0, 0.0], atol=1e-12)


def test_map_frame_turned_from_enu():
    east = np.array([1.0, 0.0, 0.0])
    # A map whose x-axis points north (turned 90 deg from east): east is its -y.
    np.testing.assert_allclose(enu_to_map(east, 90.0), [0.0, -1.0, 0.0], atol=1e-12)


def test_the_sun_at_one_stamp_in_a_turned_map_frame():
    stamp = 1781000000.0
    in_enu = sun_positions([stamp], *TORONTO, 76.0)
    vector, elevation = sun_at(stamp, *TORONTO, 76.0, 90.0)
    # the map's x axis points north: the ENU vector's north is the map's x, its east the map's -y
    np.testing.assert_allclose(vector, [in_enu.enu[0, 1], -in_enu.enu[0, 0], in_enu.enu[0, 2]])
    assert elevation == pytest.approx(float(in_enu.elevation_deg[0]))
    assert np.degrees(np.arcsin(vector[2])) == pytest.approx(elevation, abs=1e-9)


def test_places_not_on_earth_are_refused():
    with pytest.raises(EphemerisError, match="not on Earth"):
        sun_positions([0.0], 123.0, 0.0)
