"""Render README's sample frames: one street corner of the demo scene under two suns.

.venv/bin/python tools/readme_frames.py   # writes docs/images/demo_sun_*.png
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from pose_reloc.sun import enu_to_map, sun_positions
from pose_reloc.synth.city import build_city
from pose_reloc.synth.config import load_scene_config
from pose_reloc.synth.generate import camera_model
from pose_reloc.synth.render import CityRenderer, Lighting
from pose_reloc.synth.trajectories import R_BODY_OPTICAL

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    config = load_scene_config(ROOT / "config" / "scenes" / "demo.yaml")
    city = build_city(config)
    renderer = CityRenderer(city, camera_model(config.camera), config.lighting.shadow_map_size)
    body = Rotation.from_euler("ZY", [90.0, 12.0], degrees=True)  # looking north, 12 deg down
    T_wc = Transform(
        body * Rotation.from_matrix(R_BODY_OPTICAL),
        np.array([city.street_x[1], city.street_y[0] + 8.0, 2.0]),
    )
    loc = config.location
    for label, utc in (("morning", "2026-08-10T14:30:00"), ("evening", "2026-08-10T21:00:00")):
        sun = sun_positions([np.datetime64(utc)], loc.latitude, loc.longitude, loc.altitude)
        lighting = Lighting(
            enu_to_map(sun.enu[0], loc.yaw_to_enu_deg),
            False,
            config.lighting.sun_intensity,
            config.lighting.ambient,
        )
        renderer.set_lighting(lighting)
        rgb = renderer.render(T_wc).rgb
        path = ROOT / "docs" / "images" / f"demo_sun_{label}.png"
        cv2.imwrite(str(path), rgb[..., ::-1])
        print(
            f"{path.relative_to(ROOT)}: sun azimuth {sun.azimuth_deg[0]:.0f} deg, "
            f"elevation {sun.elevation_deg[0]:.0f} deg"
        )


if __name__ == "__main__":
    main()
