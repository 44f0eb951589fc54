"""The renderer's geometry is exact (K and the pixel-centre convention) and its shadows are real."""

from __future__ import annotations

import numpy as np
import pytest
from synth_fixtures import looking_down_street, renderer_or_skip, small_config

from pose_reloc.sun import enu_from_azimuth_elevation
from pose_reloc.synth.city import build_city
from pose_reloc.synth.generate import camera_model
from pose_reloc.synth.render import Lighting


@pytest.fixture(scope="module")
def scene():
    config = small_config()
    city = build_city(config)
    camera = camera_model(config.camera)
    renderer = renderer_or_skip(city, camera)
    yield city, camera, renderer
    renderer.release()


def test_every_rendered_point_projects_back_to_its_pixel(scene):
    city, camera, renderer = scene
    T_wc = looking_down_street(city)
    renderer.set_lighting(Lighting(enu_from_azimuth_elevation(150.0, 40.0)))
    out = renderer.render(T_wc, with_depth=True)
    hit = np.isfinite(out.depth)
    assert 0.5 < hit.mean() < 0.99, "the view should hold both scene and sky"
    rows, cols = np.nonzero(hit)
    points_cam = T_wc.inverse().apply(out.points_world[rows, cols].astype(np.float64))
    pixels, inside = camera.project(points_cam)
    error = np.linalg.norm(pixels - np.column_stack([cols, rows]), axis=1)
    print(
        f"reprojection of {len(error)} rendered points: max {error.max():.4f} px, mean {error.mean():.4f} px"
    )
    assert inside.all()
    assert error.max() < 0.5 and error.mean() < 0.05
    # Depth back-projection with K lands on the rendered surface point.
    rays = camera.unproject(np.column_stack([cols, rows]))
    back = rays / rays[:, 2:3] * out.depth[rows, cols][:, None]
    # float32 depth: allow 1 cm plus 0.02 % of the range.
    gap = np.linalg.norm(back - points_cam, axis=1)
    assert np.all(gap <= 0.01 + 2e-4 * points_cam[:, 2]), f"worst gap {gap.max():.4f} m"


def test_known_building_corners_land_on_depth_edges(scene):
    city, camera, renderer = scene
    T_wc = looking_down_street(city)
    renderer.set_lighting(Lighting(enu_from_azimuth_elevation(150.0, 40.0)))
    out = renderer.render(T_wc, with_depth=True)
    checked = 0
    for box in (b for b in city.boxes if b.kind == "building"):
        for x, y in ((box.x0, box.y0), (box.x1, box.y0), (box.x0, box.y1), (box.x1, box.y1)):
            corner = np.array([[x, y, box.z1 * 0.5]])  # half-way up a vertical building edge
            pixel, inside = camera.project(T_wc.inverse().apply(corner))
            if not inside[0]:
                continue
            u, v = pixel[0]
            seen = out.points_world[round(v), round(u)]
            distance = np.linalg.norm(T_wc.inverse().apply(corner)[0])
            if (
                not np.all(np.isfinite(seen))
                or np.linalg.norm(seen - corner[0]) > 0.02 * distance + 0.05
            ):
                continue  # hidden behind something else
            checked += 1
            assert abs(seen[2] - corner[0, 2]) < 0.01 * distance + 0.05
    assert checked >= 2, "the test view should see at least two building edges"


def test_cast_shadows_darken_exactly_the_shadowed_ground(scene):
    city, _camera, renderer = scene
    T_wc = looking_down_street(city, pitch_deg=-20.0)
    sun = enu_from_azimuth_elevation(200.0, 25.0)
    renderer.set_lighting(Lighting(sun))
    shadowed = renderer.render(T_wc, shadows=True, with_depth=True)
    plain = renderer.render(T_wc, shadows=False).rgb
    ground = np.isfinite(shadowed.depth) & (np.abs(shadowed.points_world[..., 2]) < 1e-3)
    rows, cols = np.nonzero(ground)
    points = shadowed.points_world[rows, cols].astype(np.float64)
    # Ray-cast each ground point towards the sun through the city's boxes, and again from points
    # 0.3 m to either side, to keep only pixels well inside or well outside a shadow.
    blocked = [
        np.isfinite(city.first_hit(points + offset, np.tile(sun, (len(points), 1))))
        for offset in (np.zeros(3), [0.3, 0, 0], [-0.3, 0, 0], [0, 0.3, 0], [0, -0.3, 0])
    ]
    surely_dark = np.all(blocked, axis=0)
    surely_lit = ~np.any(blocked, axis=0)
    assert surely_dark.sum() > 200 and surely_lit.sum() > 200, (
        "the view needs ground in sun and in shadow"
    )
    brightness_with = shadowed.rgb[rows, cols].astype(float).mean(axis=1)
    brightness_without = plain[rows, cols].astype(float).mean(axis=1)
    ratio_dark = np.median(brightness_with[surely_dark] / brightness_without[surely_dark])
    lit_difference = np.abs(brightness_with[surely_lit] - brightness_without[surely_lit])
    print(
        f"shadowed ground keeps {ratio_dark:.2f} of its brightness; "
        f"lit ground changes {lit_difference.mean():.2f} DN"
    )
    assert ratio_dark < 0.7
    assert np.percentile(lit_difference, 95) < 2.0


def test_overcast_has_no_cast_shadows_and_is_flatter(scene):
    city, _camera, renderer = scene
    T_wc = looking_down_street(city, pitch_deg=-20.0)
    renderer.set_lighting(Lighting(enu_from_azimuth_elevation(200.0, 25.0), overcast=True))
    with_shadows = renderer.render(T_wc, shadows=True).rgb
    without = renderer.render(T_wc, shadows=False).rgb
    np.testing.assert_array_equal(with_shadows, without)
