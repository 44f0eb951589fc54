"""A small scene shared by the synthetic-world tests (rendered once per test module)."""

from __future__ import annotations

import numpy as np
import pytest

from pose_reloc.synth.config import scene_config_from_dict

SMALL_SCENE = {
    "name": "small",
    "seed": 5,
    "city": {"blocks_x": 2, "blocks_y": 2, "parked_vehicles": 4},
    "lighting": {"shadow_map_size": 2048},
}


def small_config(**overrides):
    raw = {
        key: dict(value) if isinstance(value, dict) else value for key, value in SMALL_SCENE.items()
    }
    for key, value in overrides.items():
        raw.setdefault(key, {}).update(value)
    return scene_config_from_dict(raw)


def renderer_or_skip(city, camera):
    from pose_reloc.synth.render import CityRenderer, RenderError

    try:
        return CityRenderer(city, camera)
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")


def looking_down_street(city, yaw_deg=90.0, height=1.4, pitch_deg=-8.0):
    from scipy.spatial.transform import Rotation

    from pose_reloc.geometry import Transform
    from pose_reloc.synth.trajectories import R_BODY_OPTICAL

    body = Rotation.from_euler("ZY", [yaw_deg, -pitch_deg], degrees=True)
    x = float(city.street_x[1]) + 1.5
    return Transform(
        body * Rotation.from_matrix(R_BODY_OPTICAL),
        np.array([x, float(city.street_y[0]) - 2.0, height]),
    )
